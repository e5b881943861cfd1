"""Dataset-level segmentation and classification metrics (torchmetrics underneath).

Conventions (PASCAL VOC):

* Segmentation: one confusion matrix over the whole dataset (not averaged per image);
  pixels labelled ``ignore_index`` (255, VOC's object borders) are skipped. Per-class
  IoU = TP / (TP + FP + FN). A class absent from both ground truth and prediction has no
  IoU (None in results, NaN in tensors) and is left out of the mIoU — a class nobody saw nor
  predicted says nothing about the model; a class present in either counts, IoU 0 included.
* Classification: multilabel macro F1 over the image-label classes (column 0 is dropped when it is a
  background class: it is in every image and gets zero loss weight in training),
  predicting a class where its logit is > 0 (sigmoid > 0.5). Binarised here rather than by
  torchmetrics, which would read logits that happen to lie in [0, 1] as probabilities.
  Classes without positives in both target and prediction are left out of the mean, as for
  mIoU (torchmetrics' and sklearn's macro F1 would count them as 0).

Both are :class:`torch.nn.Module` so ``.to(device)`` moves their state; results of
``compute()`` are plain Python (JSON-serialisable). They count on the calling process only: under
torchrun rank 0 evaluates alone, and torchmetrics' default cross-process sync would wait for the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn
from torchmetrics.classification import BinaryStatScores, MulticlassConfusionMatrix, MultilabelStatScores

from unrolled_lrp.data.classes import IGNORE_INDEX


def _nan_to_none(values: Tensor) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _nan_mean(values: Tensor) -> float | None:
    valid = values[~values.isnan()]
    return valid.mean().item() if len(valid) else None


def _names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise ValueError(f"got {len(class_names)} class names for {num_classes} classes")
    return list(class_names)


class SegmentationMetrics(nn.Module):
    """Accumulates a dataset-level confusion matrix; reports mIoU, per-class IoU, pixel accuracy.

    ``update(preds, target)``: ``preds`` are logits ``(B, C, H, W)`` or class indices
    ``(B, H, W)``; ``target`` class indices ``(B, H, W)`` with ``ignore_index`` for unlabelled pixels.
    """

    def __init__(
        self, num_classes: int, class_names: Sequence[str] | None = None, ignore_index: int = IGNORE_INDEX
    ) -> None:
        super().__init__()
        self.class_names = _names(class_names, num_classes)
        self.confusion = MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index, sync_on_compute=False)

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.confusion.update(preds, target)

    def reset(self) -> None:
        self.confusion.reset()

    def confusion_matrix(self) -> Tensor:
        """``(C, C)`` pixel counts, rows = ground truth, columns = prediction (zeros before any update)."""
        if not self.confusion.update_called:
            return self.confusion.confmat.clone()
        return self.confusion.compute()

    def compute(self) -> dict:
        """``miou``, ``pixel_accuracy``, ``per_class_iou`` (name → IoU or None), ``confusion_matrix``."""
        matrix = self.confusion_matrix()
        true_positives = matrix.diag().double()
        union = matrix.sum(0) + matrix.sum(1) - matrix.diag()
        iou = true_positives / union  # 0/0 = NaN for classes absent from GT and prediction
        total = matrix.sum().item()
        return {
            "miou": _nan_mean(iou),
            "pixel_accuracy": true_positives.sum().item() / total if total else None,
            "per_class_iou": dict(zip(self.class_names, _nan_to_none(iou))),
            "confusion_matrix": matrix.tolist(),
        }


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


class ClassificationF1(nn.Module):
    """Multilabel macro F1 over the image-label classes (index 0 excluded if it is a background), logit > 0.

    ``update(logits, target)``: ``logits`` ``(B, C)`` class scores, ``target`` ``(B, C)``
    multi-hot image labels, both including the background column.
    """

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None, has_background: bool = True) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"need at least two classes, got num_classes={num_classes}")
        self.first = int(has_background)
        self.class_names = _names(class_names, num_classes)[self.first :]
        labels = num_classes - self.first  # torchmetrics' multilabel scores need two labels; one is the binary case
        self.stats = (
            MultilabelStatScores(num_labels=labels, average=None, sync_on_compute=False)
            if labels > 1
            else BinaryStatScores(sync_on_compute=False)
        )

    def update(self, logits: Tensor, target: Tensor) -> None:
        self.stats.update((logits[:, self.first :] > 0).long(), target[:, self.first :].long())

    def reset(self) -> None:
        self.stats.reset()

    def compute(self) -> dict:
        """``f1`` (macro over foreground classes seen) and ``per_class_f1`` (name → F1 or None)."""
        true_pos, false_pos, _, false_neg, _ = self.stats.compute().double().reshape(-1, 5).unbind(-1)
        f1 = 2 * true_pos / (2 * true_pos + false_pos + false_neg)  # NaN: no positives at all
        return {"f1": _nan_mean(f1), "per_class_f1": dict(zip(self.class_names, _nan_to_none(f1)))}


def metrics_table(results: dict) -> str:
    """Evaluation results (``SegmentationMetrics`` and/or ``ClassificationF1`` output, merged) as a Markdown
    table: IoU and F1 (%) per class, then mIoU over all classes and F1 over the foreground classes; "-" where a
    value is undefined (class absent) or not computed (model without that output)."""
    ious, f1s = results.get("per_class_iou", {}), results.get("per_class_f1", {})
    names = list(ious) or list(f1s)
    lines = ["| class | IoU | F1 |", "|---|---:|---:|"]
    lines += [f"| {name} | {_percent(ious.get(name))} | {_percent(f1s.get(name))} |" for name in names]
    lines.append(f"| **mean** | **{_percent(results.get('miou'))}** | **{_percent(results.get('f1'))}** |")
    if results.get("pixel_accuracy") is not None:
        lines.append(f"\npixel accuracy {_percent(results['pixel_accuracy'])}")
    return "\n".join(lines) + "\n"
