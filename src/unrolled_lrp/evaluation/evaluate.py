"""Full-resolution evaluation: pad to the model's stride, crop predictions back, accumulate metrics."""

from __future__ import annotations

from functools import partial

import torch
from torch.utils.data import DataLoader, Dataset

from unrolled_lrp.data.datasets import collate
from unrolled_lrp.models import SegmentationModel

from .metrics import ClassificationF1, SegmentationMetrics


@torch.no_grad()
def evaluate(
    model: SegmentationModel, dataset: Dataset, class_names: list[str], device: str | torch.device = "cpu"
) -> dict:
    """mIoU, per-class IoU and pixel accuracy over the whole dataset (one confusion matrix, 255 ignored)
    when the model segments, macro F1 of the class scores (background excluded) when it has a classification
    branch."""
    was_training = model.training
    model.eval()
    seg = SegmentationMetrics(len(class_names), class_names)
    f1 = ClassificationF1(len(class_names), class_names, has_background=class_names[0] == "background")
    segments = classifies = False
    for batch in DataLoader(dataset, batch_size=1, collate_fn=partial(collate, stride=model.stride)):
        out = model(batch.image.to(device))
        height, width = batch.sizes[0].tolist()
        if out.seg_logits is not None:
            segments = True
            seg.update(out.seg_logits[..., :height, :width].argmax(1).cpu(), batch.mask[..., :height, :width])
        if out.class_logits is not None:
            classifies = True
            f1.update(out.class_logits.cpu(), batch.labels)
    model.train(was_training)
    results = seg.compute() if segments else {}
    if classifies:
        results.update(f1.compute())
    return results
