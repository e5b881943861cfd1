"""Unrolled LRP and its WS-AE ablation as segmentation models (heatmaps are the per-pixel class scores)."""

from __future__ import annotations

from torch import Tensor, nn

from unrolled_lrp.lrp import unroll

from .base import SegmentationModel, SegmentationOutput, check_seg_mask
from .registry import register_model


class UnrolledSegmenter(SegmentationModel):
    """Segmentation by the classifier's own all-class LRP heatmaps (paper, section 2.3).

    Accepts any input size (the decoder transposes the encoder exactly); heatmaps are computed
    only for the images selected by ``seg_mask``, class scores for all images.
    """

    uses_image_labels = True

    def __init__(
        self,
        classifier: nn.Module,
        num_classes: int,
        rule: str = "zero",
        epsilon: float = 1e-6,
        activations: str = "tied",
        class_chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.unrolled = unroll(classifier, rule, epsilon, activations, class_chunk_size)
        if self.unrolled.num_classes != num_classes:
            raise ValueError(f"the classifier has {self.unrolled.num_classes} outputs but {num_classes} classes were asked for")

    def forward(self, x: Tensor, seg_mask: Tensor | None = None) -> SegmentationOutput:
        check_seg_mask(seg_mask, x.shape[0])
        out = self.unrolled(x, heatmap_mask=seg_mask)
        return SegmentationOutput(out.heatmaps if out.heatmaps.shape[0] else None, out.logits)


@register_model("unrolled_lrp")
def unrolled_lrp(classifier: nn.Module, num_classes: int, **kwargs) -> UnrolledSegmenter:
    """Unrolled LRP (LRP-0 by default; ``rule="epsilon"`` for LRP-epsilon)."""
    return UnrolledSegmenter(classifier, num_classes, **kwargs)


@register_model("ws_ae")
def ws_ae(classifier: nn.Module, num_classes: int, **kwargs) -> UnrolledSegmenter:
    """Weight-shared autoencoder ablation: tied weights and up-sampling, standard ReLUs in the decoder."""
    return UnrolledSegmenter(classifier, num_classes, activations="relu", **kwargs)
