"""The paper's training objective (section 2.3): segmentation cross-entropy plus classification BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from unrolled_lrp.data.classes import IGNORE_INDEX
from unrolled_lrp.models import SegmentationOutput


def segmentation_loss(seg_logits: Tensor, masks: Tensor) -> Tensor:
    """Pixel-wise softmax cross-entropy over the class scores; void pixels (255) are ignored."""
    return F.cross_entropy(seg_logits, masks, ignore_index=IGNORE_INDEX)


def classification_loss(class_logits: Tensor, labels: Tensor, has_background: bool = True) -> Tensor:
    """Per-class sigmoid BCE on image-level labels.

    A background class (index 0, ``has_background``) is in every image, so it is no image label: weight 0.
    Class lists without one (fully labelled street scenes) train every class.
    """
    weight = torch.ones(class_logits.shape[1], dtype=class_logits.dtype, device=class_logits.device)
    if has_background:
        weight[0] = 0
    return F.binary_cross_entropy_with_logits(class_logits, labels.to(class_logits.dtype), weight=weight)


def combined_loss(
    output: SegmentationOutput,
    masks: Tensor,
    labels: Tensor,
    seg_weight: float = 1.0,
    cls_weight: float = 1.0,
    has_background: bool = True,
) -> tuple[Tensor, dict[str, float]]:
    """Weighted sum of the losses the model's output supports, and their values for logging.

    ``masks`` are the pixel labels of the images in ``output.seg_logits`` (those selected by the seg mask);
    ``labels`` the multi-hot image labels of all images; ``has_background``: whether class 0 is a background
    class (see :func:`classification_loss`).
    """
    total = torch.zeros((), device=labels.device)
    parts: dict[str, float] = {}
    if output.seg_logits is not None:
        seg = segmentation_loss(output.seg_logits, masks)
        total = total + seg_weight * seg
        parts["seg_loss"] = seg.item()
    if output.class_logits is not None and cls_weight:
        cls = classification_loss(output.class_logits, labels, has_background)
        total = total + cls_weight * cls
        parts["cls_loss"] = cls.item()
    return total, parts
