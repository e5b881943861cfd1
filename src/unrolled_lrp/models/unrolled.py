"""Unrolled LRP and its WS-AE ablation as segmentation models (heatmaps are the per-pixel class scores).

The per-pixel class scores are the heatmaps times a constant, ``heatmap_scale``. Any positive constant
leaves the argmax, hence the segmentation, unchanged; it only sets the temperature of the softmax
cross-entropy. LRP relevance is conserved, so a class's heatmap sums to about its logit and a single
pixel carries about ``logit / (H * W)``: on the literal formulation (scale 1) the softmax starts almost
uniform and the segmentation loss sits at ``ln C`` for hundreds of steps. The default ``"pixels"``
multiplies by ``H * W`` so that the scores are relevance densities with the same scale as the logits,
at every input size. ``heatmap_scale=1.0`` gives the paper's formulation as written.

Only the conservative rules (LRP-0, epsilon) keep a heatmap's sum near its logit. The z+, gamma, alpha-beta and
bounded input rules pass on a small, rule-dependent fraction of it: on the MSRC MobileNetV2 an EpsilonPlusFlat
heatmap sums to about 2e-5 of its logit, so even the ``"pixels"`` scores are about 1e-4 and the loss never leaves
``ln C``. ``"relevance"`` divides each image's heatmaps by their mean absolute value over classes and pixels
(a per-image positive constant, held fixed in the backward pass): the scores then have unit scale whatever the
rule conserves. ``"auto"``, the default, is ``"pixels"`` for the conservative composites and ``"relevance"``
for the others.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from unrolled_lrp.lrp import LRPConfig, unroll

from .base import SegmentationModel, SegmentationOutput, check_seg_mask
from .classifiers import classifier_stride
from .registry import register_model

SCALE_MODES = ("auto", "pixels", "relevance")
CONSERVATIVE_COMPOSITES = ("zero", "epsilon")


class UnrolledSegmenter(SegmentationModel):
    """Segmentation by the classifier's own all-class LRP heatmaps (paper, section 2.3).

    Accepts any input size (the decoder transposes the encoder exactly); ``stride`` is the classifier's, to which
    evaluation pads so that no pooling window is cut at the border. Heatmaps are computed
    only for the images selected by ``seg_mask``, class scores for all images.
    """

    uses_image_labels = True
    segments_by_heatmaps = True

    def __init__(
        self,
        classifier: nn.Module,
        num_classes: int,
        lrp: LRPConfig = LRPConfig(),
        heatmap_scale: float | str = "auto",
    ) -> None:
        super().__init__()
        if not (heatmap_scale in SCALE_MODES or (isinstance(heatmap_scale, (int, float)) and heatmap_scale > 0)):
            raise ValueError(f"heatmap_scale must be one of {SCALE_MODES} or a positive number, got {heatmap_scale!r}")
        if heatmap_scale == "auto":
            heatmap_scale = "pixels" if lrp.composite in CONSERVATIVE_COMPOSITES and not lrp.rules else "relevance"
        self.heatmap_scale = heatmap_scale
        self._stride = classifier_stride(classifier)
        self.unrolled = unroll(classifier, lrp)
        if self.unrolled.num_classes != num_classes:
            raise ValueError(
                f"the classifier has {self.unrolled.num_classes} outputs but {num_classes} classes were asked for"
            )

    @property
    def stride(self) -> int:
        return self._stride

    def forward(self, x: Tensor, seg_mask: Tensor | int | None = None) -> SegmentationOutput:
        check_seg_mask(seg_mask, x.shape[0])
        out = self.unrolled(x, heatmap_mask=seg_mask)
        if not out.heatmaps.shape[0]:
            return SegmentationOutput(None, out.logits)
        return SegmentationOutput(self._scores(out.heatmaps), out.logits)

    def _scores(self, heatmaps: Tensor) -> Tensor:
        """The heatmaps times ``heatmap_scale`` (module docstring); a positive constant per image."""
        if self.heatmap_scale == "pixels":
            return heatmaps * (heatmaps.shape[-2] * heatmaps.shape[-1])
        if self.heatmap_scale == "relevance":
            size = heatmaps.detach().abs().mean(dim=(1, 2, 3), keepdim=True)
            return heatmaps / size.clamp_min(torch.finfo(heatmaps.dtype).tiny)
        return heatmaps * float(self.heatmap_scale)  # a positive number (checked in __init__)


class HeatmapReadout(UnrolledSegmenter):
    """The readout-only control: the classifier frozen (weights and BatchNorm statistics), only a per-class scale
    and offset of its heatmaps learned. It shows what the heatmaps of the pre-trained classifier give before any
    encoder weight moves, and keeps the classifier's F1 by construction."""

    def __init__(
        self,
        classifier: nn.Module,
        num_classes: int,
        lrp: LRPConfig = LRPConfig(),
        heatmap_scale: float | str = "auto",
    ) -> None:
        super().__init__(classifier, num_classes, lrp, heatmap_scale)
        self.unrolled.requires_grad_(False)
        self.readout_scale = nn.Parameter(torch.ones(num_classes))
        self.readout_offset = nn.Parameter(torch.zeros(num_classes))

    def train(self, mode: bool = True) -> HeatmapReadout:
        """Train the readout; the classifier stays in eval mode, so its BatchNorm statistics never move."""
        super().train(mode)
        self.unrolled.eval()
        return self

    def forward(self, x: Tensor, seg_mask: Tensor | int | None = None) -> SegmentationOutput:
        with torch.no_grad():  # nothing below the readout learns
            heatmaps, logits = super().forward(x, seg_mask)
        if heatmaps is None:
            return SegmentationOutput(None, logits)
        return SegmentationOutput(
            heatmaps * self.readout_scale.view(-1, 1, 1) + self.readout_offset.view(-1, 1, 1), logits
        )


@register_model("unrolled_lrp", display="unrolled LRP")
def unrolled_lrp(
    classifier: nn.Module, num_classes: int, *, lrp: LRPConfig = LRPConfig(), heatmap_scale: float | str = "auto"
) -> UnrolledSegmenter:
    """Unrolled LRP with the decoder ``lrp`` describes (composite, rules, decoder weights, ...)."""
    return UnrolledSegmenter(classifier, num_classes, lrp, heatmap_scale)


@register_model("ws_ae", display="WS-AE")
def ws_ae(
    classifier: nn.Module, num_classes: int, *, lrp: LRPConfig = LRPConfig(), heatmap_scale: float | str = "auto"
) -> UnrolledSegmenter:
    """Weight-shared autoencoder ablation: tied weights and up-sampling, standard ReLUs in the decoder."""
    return UnrolledSegmenter(classifier, num_classes, replace(lrp, activations="relu"), heatmap_scale)


@register_model("lrp_readout", display="LRP readout (classifier frozen)")
def lrp_readout(
    classifier: nn.Module, num_classes: int, *, lrp: LRPConfig = LRPConfig(), heatmap_scale: float | str = "auto"
) -> HeatmapReadout:
    """The readout-only control (:class:`HeatmapReadout`)."""
    return HeatmapReadout(classifier, num_classes, lrp, heatmap_scale)
