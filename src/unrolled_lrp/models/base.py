"""The interface every segmentation model of this project implements.

Training and evaluation code talks to UNet, multi-task UNet, FCN, unrolled LRP and WS-AE
only through :class:`SegmentationModel` and :class:`SegmentationOutput`, so that one
training loop serves all of them:

* ``uses_image_labels`` tells the loop which batches and losses a model gets: models with a
  classification branch are trained on mixed batches (pixel-labelled and image-labelled
  images) with a per-class sigmoid BCE on ``class_logits`` plus softmax cross-entropy on
  ``seg_logits``; the others only on pixel-labelled batches with the segmentation loss.
* ``seg_mask`` selects the images of a mixed batch that have pixel labels, so decoders are
  only run where a segmentation loss will be applied: a boolean vector, or an int ``k`` for the first ``k``
  images (the trainer's batches put them first; a fixed count compiles without graph breaks).

Input size: ``stride`` is a model's coarsest down-sampling factor, taken from the classifier it is built on
(32 for the torchvision families, less for a trunk with fewer pools). UNet and FCN need height and width to be
multiples of it, because their decoders up-sample by exact factors of 2 and must meet the encoder's feature maps
at the same size; other sizes raise a ``ValueError`` (see :func:`check_input_size`). Unrolled LRP accepts any
size (its decoder transposes the encoder exactly). Evaluation pads every model's images to a multiple of
``stride``, so that no pooling window is cut at the border, and crops the logits back; training crops must be
multiples of it (checked when a run starts).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .encoders import Encoder


class SegmentationOutput(NamedTuple):
    """What every segmentation model returns.

    seg_logits: ``(n_selected, C, H, W)`` per-pixel class scores for the images selected by
        ``seg_mask`` (all images when ``seg_mask`` is None), or None when no image is selected.
    class_logits: ``(B, C)`` image-level class scores for all images, or None for models
        without a classification branch.
    """

    seg_logits: Tensor | None
    class_logits: Tensor | None


class SegmentationModel(nn.Module):
    """Base class: a classifier-derived model mapping images to per-pixel class scores.

    Subclasses set ``uses_image_labels`` and implement ``forward(x, seg_mask=None)``.
    """

    #: True: trained on mixed batches with classification BCE (mt_unet, unrolled_lrp, ws_ae);
    #: False: pixel-labelled batches with the segmentation loss only (unet, fcn).
    uses_image_labels: bool = False
    #: True: ``seg_logits`` are (scaled) explanation heatmaps, worth showing as per-class maps (unrolled_lrp,
    #: ws_ae); False: a decoder's logits.
    segments_by_heatmaps: bool = False

    @property
    def stride(self) -> int:
        """The coarsest down-sampling factor of the network (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must state its stride")

    def forward(self, x: Tensor, seg_mask: Tensor | int | None = None) -> SegmentationOutput:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x, seg_mask)")


class SegmentationOnlyModel(SegmentationModel):
    """A model trained with the segmentation loss alone (UNet, FCN): no class scores, and ``seg_mask`` drops
    the other images before the encoder runs, so they cost nothing. Subclasses build ``encoder`` and implement
    ``segment_images``; input sizes must be multiples of the encoder's stride."""

    uses_image_labels = False
    encoder: Encoder

    @property
    def stride(self) -> int:
        return self.encoder.stride

    def segment_images(self, x: Tensor) -> Tensor:
        """Per-pixel logits ``(n, C, H, W)`` of a non-empty image batch."""
        raise NotImplementedError(f"{type(self).__name__} must implement segment_images(x)")

    def forward(self, x: Tensor, seg_mask: Tensor | int | None = None) -> SegmentationOutput:
        check_input_size(x, self.stride)
        check_seg_mask(seg_mask, len(x))
        x = select_images(x, seg_mask)
        return SegmentationOutput(seg_logits=self.segment_images(x) if len(x) else None, class_logits=None)


def check_input_size(x: Tensor, multiple: int) -> None:
    """Raise a ValueError unless ``x`` is an image batch ``(B, 3, H, W)`` with H, W divisible by ``multiple``."""
    if x.dim() != 4:
        raise ValueError(f"expected an image batch of shape (B, 3, H, W), got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(
            f"input height and width must be multiples of {multiple}, got {height}x{width}; "
            f"pad the images (e.g. to {-(-height // multiple) * multiple}x{-(-width // multiple) * multiple}) "
            "and crop the logits back"
        )


def check_seg_mask(seg_mask: Tensor | int | None, batch_size: int) -> None:
    """Raise a ValueError unless ``seg_mask`` is None, a boolean vector with one entry per image or a count."""
    if seg_mask is None:
        return
    if isinstance(seg_mask, int):
        if not 0 <= seg_mask <= batch_size:
            raise ValueError(f"seg_mask={seg_mask} must count the first images of the batch: 0 to {batch_size}")
        return
    if seg_mask.dtype != torch.bool or seg_mask.shape != (batch_size,):
        raise ValueError(
            f"seg_mask must be a boolean tensor of shape ({batch_size},) marking the pixel-labelled images, "
            f"got dtype {seg_mask.dtype} and shape {tuple(seg_mask.shape)}"
        )


def select_images(tensor: Tensor, seg_mask: Tensor | int | None) -> Tensor:
    """The images of a batch (first dimension) that ``seg_mask`` selects: a boolean vector or the first ``k``."""
    if seg_mask is None:
        return tensor
    return tensor[:seg_mask] if isinstance(seg_mask, int) else tensor[seg_mask]
