"""Unrolled LRP and its WS-AE ablation as segmentation models (heatmaps are the per-pixel class scores).

The per-pixel class scores are the heatmaps times a constant, ``heatmap_scale``. Any positive constant
leaves the argmax, hence the segmentation, unchanged; it only sets the temperature of the softmax
cross-entropy. LRP relevance is conserved, so a class's heatmap sums to about its logit and a single
pixel carries about ``logit / (H * W)``: on the literal formulation (scale 1) the softmax starts almost
uniform and the segmentation loss sits at ``ln C`` for hundreds of steps. The default ``"pixels"``
multiplies by ``H * W`` so that the scores are relevance densities with the same scale as the logits,
at every input size. ``heatmap_scale=1.0`` gives the paper's formulation as written.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from unrolled_lrp.lrp import LRPConfig, unroll

from .base import SegmentationModel, SegmentationOutput, check_seg_mask
from .classifiers import classifier_stride
from .registry import register_model


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
        heatmap_scale: float | str = "pixels",
    ) -> None:
        super().__init__()
        if not (heatmap_scale == "pixels" or (isinstance(heatmap_scale, (int, float)) and heatmap_scale > 0)):
            raise ValueError(f'heatmap_scale must be "pixels" or a positive number, got {heatmap_scale!r}')
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
        scale = x.shape[-2] * x.shape[-1] if self.heatmap_scale == "pixels" else self.heatmap_scale
        return SegmentationOutput(out.heatmaps * scale, out.logits)


class HeatmapReadout(UnrolledSegmenter):
    """The readout-only control: the classifier frozen (weights and BatchNorm statistics), only a per-class scale
    and offset of its heatmaps learned. It shows what the heatmaps of the pre-trained classifier give before any
    encoder weight moves, and keeps the classifier's F1 by construction."""

    def __init__(
        self,
        classifier: nn.Module,
        num_classes: int,
        lrp: LRPConfig = LRPConfig(),
        heatmap_scale: float | str = "pixels",
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
    classifier: nn.Module, num_classes: int, *, lrp: LRPConfig = LRPConfig(), heatmap_scale: float | str = "pixels"
) -> UnrolledSegmenter:
    """Unrolled LRP with the decoder ``lrp`` describes (composite, rules, decoder weights, ...)."""
    return UnrolledSegmenter(classifier, num_classes, lrp, heatmap_scale)


@register_model("ws_ae", display="WS-AE")
def ws_ae(
    classifier: nn.Module, num_classes: int, *, lrp: LRPConfig = LRPConfig(), heatmap_scale: float | str = "pixels"
) -> UnrolledSegmenter:
    """Weight-shared autoencoder ablation: tied weights and up-sampling, standard ReLUs in the decoder."""
    return UnrolledSegmenter(classifier, num_classes, replace(lrp, activations="relu"), heatmap_scale)


@register_model("lrp_readout", display="LRP readout (classifier frozen)")
def lrp_readout(
    classifier: nn.Module, num_classes: int, *, lrp: LRPConfig = LRPConfig(), heatmap_scale: float | str = "pixels"
) -> HeatmapReadout:
    """The readout-only control (:class:`HeatmapReadout`)."""
    return HeatmapReadout(classifier, num_classes, lrp, heatmap_scale)
