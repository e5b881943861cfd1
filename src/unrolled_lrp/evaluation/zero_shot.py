"""How much a classifier's heatmaps already segment, before any segmentation training (zero-shot).

Unrolled LRP turns heatmaps into a segmentation; training can only sharpen what the heatmaps carry. These statistics
measure that without a threshold or a scale, so heatmaps of any rule compare:

* **pixel AUC** of a class: the probability that its heatmap is larger on a pixel of the class than on a pixel of
  another class (0.5: no information), per image, averaged over the images that hold both kinds of pixel;
* the same on heatmaps averaged over ``pool`` x ``pool`` blocks (is the information there, only noisy?);
* **contrast AUC** of classes (a, b): on the pixels labelled a or b, the AUC of (heatmap of a - heatmap of b), each
  divided by its per-image sum of |relevance|, for telling a from b (0.5: not told apart). The division makes the
  images comparable, so the pixels of all images are pooled: most photos hold one object class only;
* **zero-shot mIoU** of the per-pixel argmax over the classes' heatmaps, no pixel label used
  (:class:`~unrolled_lrp.evaluation.metrics.SegmentationMetrics`' dataset-level convention).

AUCs are torchmetrics' exact ROC areas, in which tied scores count half (the Mann-Whitney statistic).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.classification import binary_auroc

from unrolled_lrp.data.classes import IGNORE_INDEX

from .metrics import SegmentationMetrics


def auroc(scores: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve of ``scores`` separating ``positive`` (bool) from the rest; nan when one side is
    empty (torchmetrics would answer 0 with a warning)."""
    positives = int(positive.sum())
    if positives == 0 or positives == positive.numel():
        return math.nan
    return float(binary_auroc(scores.double().flatten(), positive.long().flatten()))


def block_mean(maps: Tensor, size: int) -> Tensor:
    """Each ``size`` x ``size`` block of ``(..., H, W)`` maps replaced by its mean (same shape; ``H`` and ``W``
    multiples of ``size``)."""
    height, width = maps.shape[-2:]
    if height % size or width % size:
        raise ValueError(f"block size {size} does not divide the heatmaps' {height} x {width}")
    flat = maps.reshape(-1, 1, height, width)
    return F.interpolate(F.avg_pool2d(flat, size), scale_factor=size, mode="nearest").reshape(maps.shape)


def relevance_shares(heatmaps: Tensor) -> Tensor:
    """``(K, H, W)`` heatmaps, each divided by its sum of |relevance| (all-zero maps stay zero)."""
    total = heatmaps.abs().sum((-2, -1), keepdim=True)
    return heatmaps / total.clamp_min(torch.finfo(heatmaps.dtype).tiny)


class HeatmapSignal:
    """Accumulates the zero-shot statistics of one rule's all-class heatmaps over a dataset.

    ``update(heatmaps, mask)`` per image: ``(K, H, W)`` heatmaps of the K classes and the ``(H, W)`` mask
    (``ignore_index`` skipped); ``compute()`` gives the statistics of the module docstring. ``pairs`` are the class
    pairs of the contrast AUC; default: every pair of classes but class 0 (the background). Only their pixels are
    kept for it.
    """

    def __init__(
        self,
        num_classes: int,
        pool: int = 8,
        pairs: Sequence[tuple[int, int]] | None = None,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        self.num_classes, self.pool, self.ignore_index = num_classes, pool, ignore_index
        self.pairs = list(itertools.combinations(range(1, num_classes), 2)) if pairs is None else list(pairs)
        self.paired = torch.tensor(sorted({c for pair in self.pairs for c in pair}), dtype=torch.long)
        self.pixel: list[list[float]] = []
        self.pooled: list[list[float]] = []
        self.shares: list[Tensor] = []  # (classes in pairs, their pixels) per image
        self.labels: list[Tensor] = []
        self.segmentation = SegmentationMetrics(num_classes, ignore_index=ignore_index)

    def update(self, heatmaps: Tensor, mask: Tensor) -> None:
        if heatmaps.shape != (self.num_classes, *mask.shape):
            raise ValueError(
                f"heatmaps {tuple(heatmaps.shape)} do not fit {self.num_classes} classes x mask {tuple(mask.shape)}"
            )
        valid = mask != self.ignore_index
        labels = mask[valid]
        pooled = block_mean(heatmaps, self.pool)
        self.pixel.append([auroc(heatmaps[c][valid], labels == c) for c in range(self.num_classes)])
        self.pooled.append([auroc(pooled[c][valid], labels == c) for c in range(self.num_classes)])
        on_pairs = torch.isin(mask, self.paired)
        self.shares.append(relevance_shares(heatmaps)[self.paired][:, on_pairs].float())
        self.labels.append(mask[on_pairs])
        self.segmentation.update(heatmaps.argmax(0)[None], mask[None])

    def compute(self) -> dict:
        """``pixel_auc`` and ``pooled_auc`` per class (mean over the images that hold the class and another; nan if
        none), ``contrast_auc`` per pair (nan if either class has no pixel), ``miou`` of the argmax."""
        shares, labels = torch.cat(self.shares, 1), torch.cat(self.labels)
        row = {int(c): i for i, c in enumerate(self.paired)}
        contrast = {}
        for a, b in self.pairs:
            on_pair = (labels == a) | (labels == b)
            contrast[a, b] = auroc(shares[row[a], on_pair] - shares[row[b], on_pair], labels[on_pair] == a)
        return {
            "pixel_auc": torch.tensor(self.pixel).nanmean(0).tolist(),
            "pooled_auc": torch.tensor(self.pooled).nanmean(0).tolist(),
            "contrast_auc": contrast,
            "miou": self.segmentation.compute()["miou"],
        }
