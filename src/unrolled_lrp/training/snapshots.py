"""Snapshots of a few fixed val images during training, for the paper's Figures 2 and 3.

Figures 2 and 3 show how the segmentation and the heatmaps of unrolled LRP evolve from the first
iteration on. Re-creating that after training would need a checkpoint per step; instead the trainer
saves, every ``snapshot_every`` steps, what the figures show for the first ``k`` val images:
``step_{step:07d}.pt`` in the run's snapshot folder (``RunFiles.snapshots``), a dict of plain tensors
(``torch.load(..., weights_only=True)``):

* ``step``: int, updates done before the snapshot (0: the initial model).
* ``ids``: list of the images' ids.
* ``images``: list of ``(3, H, W)`` uint8 RGB images as stored (whatever the data normalisation), full resolution.
* ``masks``: list of ``(H, W)`` uint8 ground-truth masks (255 = ignore kept).
* ``labels``: list of ``(C,)`` bool image-level labels (background always set): the positive classes.
* ``segmentations``: list of ``(H, W)`` uint8 argmax predictions.
* ``scores`` (only models whose ``seg_logits`` are heatmaps, i.e. unrolled LRP and WS-AE): list of
  ``(C, H, W)`` float16 per-pixel softmax over the classes of the heatmaps (the bulk of a snapshot: about
  8 MB per VOC image with 21 classes, so choose ``snapshot_every`` with the number of steps in mind).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from unrolled_lrp.data.datasets import SegmentationDataset, collate
from unrolled_lrp.data.voc import read_image
from unrolled_lrp.models import SegmentationModel

from .checkpoint import save_atomic


def snapshot_path(folder: Path, step: int) -> Path:
    """Where in ``folder`` the snapshot after ``step`` updates lives (zero-padded, so names sort by step)."""
    return folder / f"step_{step:07d}.pt"


def _predict(model: SegmentationModel, val: SegmentationDataset, step: int, num_images: int) -> dict | None:
    """The snapshot's contents (see the module docstring); None when the model does not segment."""
    device = next(model.parameters()).device
    heatmaps = model.segments_by_heatmaps
    snapshot: dict = {"step": step, "ids": [], "images": [], "masks": [], "labels": [], "segmentations": []}
    if heatmaps:
        snapshot["scores"] = []
    for index in range(min(num_images, len(val))):
        batch = collate([val[index]], model.stride)
        height, width = batch.sizes[0].tolist()
        seg_logits = model(batch.image.to(device)).seg_logits
        if seg_logits is None:
            return None
        logits = seg_logits[0, :, :height, :width].float().cpu()
        snapshot["ids"].append(batch.ids[0])
        snapshot["images"].append(read_image(val.items[index].image).as_subclass(Tensor))  # the photo as stored
        snapshot["masks"].append(batch.mask[0, :height, :width].to(torch.uint8))
        snapshot["labels"].append(batch.labels[0].bool())
        snapshot["segmentations"].append(logits.argmax(0).to(torch.uint8))
        if heatmaps:
            snapshot["scores"].append(logits.softmax(0).half())
    return snapshot


@torch.no_grad()
def take_snapshot(
    model: SegmentationModel, val: SegmentationDataset, step: int, folder: Path, num_images: int = 4
) -> Path | None:
    """Predict the first ``num_images`` items of ``val`` one at a time at full resolution (padded to the model's
    stride, cropped back, as in evaluation) and save them as ``snapshot_path(folder, step)``.

    Runs in eval mode under no_grad and restores the training mode; it draws no random numbers, so taking
    snapshots leaves training (and exact resumption) unchanged. A model without segmentation output
    (classifier pre-training, which shares the trainer and may share its config) gets no snapshot: None.
    """
    was_training = model.training
    model.eval()
    try:
        snapshot = _predict(model, val, step, num_images)
    finally:
        model.train(was_training)
    return None if snapshot is None else save_atomic(snapshot, snapshot_path(folder, step))


def maybe_snapshot(
    model: SegmentationModel, val: SegmentationDataset, step: int, folder: Path, every: int, num_images: int
) -> None:
    """The trainer's hook: a snapshot when snapshots are on (``every > 0``) and ``step`` is a multiple of ``every``."""
    if every > 0 and step % every == 0:
        take_snapshot(model, val, step, folder, num_images)


def list_snapshots(folder: Path) -> dict[int, Path]:
    """The snapshot files in a run's ``folder`` by step (empty when it has none); load them with
    :func:`load_snapshot`."""
    return {int(path.stem.removeprefix("step_")): path for path in sorted(folder.glob("step_*.pt"))}


def load_snapshot(path: Path) -> dict:
    """One snapshot, on the CPU, without unpickling code."""
    return torch.load(path, map_location="cpu", weights_only=True)
