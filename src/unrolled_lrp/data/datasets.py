"""Torch datasets over :class:`~unrolled_lrp.data.voc.VocItem` lists and their collate function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from .classes import IGNORE_INDEX, ClassSet
from .transforms import pad_bottom_right, padded_size
from .voc import VocItem, read_image, read_mask

Transform = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[torch.Tensor, torch.Tensor]]


class Sample(NamedTuple):
    """One image: ``image`` float 3×H×W (normalised), ``mask`` int64 H×W (255 = ignore, all 255 without
    pixel labels), ``labels`` float multi-hot (background = 1), ``has_mask``, ``id``."""

    image: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    has_mask: bool
    id: str


class Batch(NamedTuple):
    """Collated samples; ``sizes`` (B×2, height/width before padding) crops predictions back."""

    image: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    has_mask: torch.Tensor
    ids: list[str]
    sizes: torch.Tensor

    def pixel_labelled(self) -> int:
        """How many images carry pixel labels; training batches list them first (:class:`MixedBatchSampler`),
        so the models decode the first that many images, a count ``torch.compile`` can specialise on."""
        count = int(self.has_mask.sum())
        if not bool(self.has_mask[:count].all()):
            raise ValueError(f"the batch of {self.ids} must list its pixel-labelled images first")
        return count


def multi_hot(labels: frozenset[int], num_classes: int) -> torch.Tensor:
    """Float multi-hot vector of ``labels`` (which include the background class, if the class set has one)."""
    vector = torch.zeros(num_classes)
    vector[sorted(labels)] = 1.0
    return vector


class SegmentationDataset(Dataset[Sample]):
    """Images (and masks where available) of ``items``, transformed jointly by ``transform``.

    Classification labels come from the item (whole image), not from the augmented crop.
    """

    def __init__(self, items: Sequence[VocItem], classes: ClassSet, transform: Transform) -> None:
        self.items, self.classes, self.transform = list(items), classes, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        item = self.items[index]
        image = read_image(item.image)
        if item.mask is None:
            mask = tv_tensors.Mask(torch.full(image.shape[-2:], IGNORE_INDEX, dtype=torch.int64))
        else:
            mask = read_mask(item.mask)
        image, mask = self.transform(image, mask)
        return Sample(
            image.as_subclass(torch.Tensor),
            mask.as_subclass(torch.Tensor),
            multi_hot(item.labels, self.classes.num_classes),
            item.mask is not None,
            item.id,
        )


def collate(samples: Sequence[Sample], stride: int = 1) -> Batch:
    """Stack samples, padding bottom/right (image 0, mask 255) to a common size divisible by ``stride``.

    Training crops share one size, so nothing is padded; evaluation pads full-resolution images to the model's
    ``stride`` (:attr:`~unrolled_lrp.models.SegmentationModel.stride`) and crops predictions back with
    ``Batch.sizes``.
    """
    sizes = torch.tensor([sample.image.shape[-2:] for sample in samples])
    height, width = padded_size(int(sizes[:, 0].max()), int(sizes[:, 1].max()), stride)
    return Batch(
        image=torch.stack([pad_bottom_right(s.image, height, width, 0.0) for s in samples]),
        mask=torch.stack([pad_bottom_right(s.mask, height, width, IGNORE_INDEX) for s in samples]),
        labels=torch.stack([s.labels for s in samples]),
        has_mask=torch.tensor([s.has_mask for s in samples]),
        ids=[s.id for s in samples],
        sizes=sizes,
    )
