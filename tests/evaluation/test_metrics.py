"""Metrics against hand-computed confusion matrices and F1 scores."""

import json

import pytest
import torch
import torch.nn.functional as F

from unrolled_lrp.evaluation import ClassificationF1, SegmentationMetrics, metrics_table

NAMES = ["background", "cat", "dog", "bird"]
# Two 2×3 images; 255 = unlabelled. "bird" (3) is absent from the ground truth and predicted
# only on an unlabelled pixel, so it must be excluded from the mIoU.
TARGET = torch.tensor([[[0, 0, 1], [1, 255, 2]], [[2, 2, 255], [0, 0, 1]]])
PRED = torch.tensor([[[0, 1, 1], [1, 2, 0]], [[2, 0, 3], [0, 2, 1]]])
# (gt, pred) pairs: (0,0)x2 (0,1) (0,2) | (1,1)x3 | (2,0)x2 (2,2)
CONFUSION = [[2, 1, 1, 0], [0, 3, 0, 0], [2, 0, 1, 0], [0, 0, 0, 0]]
IOU = [2 / 6, 3 / 4, 1 / 4, None]  # TP / (row + column - TP)


def test_confusion_matrix_iou_and_pixel_accuracy_by_hand():
    metrics = SegmentationMetrics(4, NAMES)
    metrics.update(PRED, TARGET)
    results = metrics.compute()
    assert results["confusion_matrix"] == CONFUSION
    assert list(results["per_class_iou"]) == NAMES
    for got, expected in zip(results["per_class_iou"].values(), IOU):
        assert got == pytest.approx(expected) if expected is not None else got is None
    assert results["miou"] == pytest.approx((2 / 6 + 3 / 4 + 1 / 4) / 3)
    assert results["pixel_accuracy"] == pytest.approx(6 / 10)
    json.dumps(results)  # serialisable as is


def test_logits_and_accumulation_give_the_dataset_level_matrix():
    metrics = SegmentationMetrics(4)
    logits = F.one_hot(PRED, 4).permute(0, 3, 1, 2).float() * 5
    metrics.update(logits[:1], TARGET[:1])  # per-update averaging would give other numbers
    metrics.update(logits[1:], TARGET[1:])
    assert metrics.compute()["confusion_matrix"] == CONFUSION
    metrics.reset()
    assert metrics.compute()["miou"] is None


def test_class_only_predicted_counts_as_zero_iou():
    metrics = SegmentationMetrics(3)
    metrics.update(torch.tensor([[[0, 1]]]), torch.tensor([[[0, 0]]]))
    results = metrics.compute()
    assert results["per_class_iou"] == {"0": 0.5, "1": 0.0, "2": None}
    assert results["miou"] == pytest.approx(0.25)


def test_table_lists_classes_and_marks_absent_ones():
    metrics = SegmentationMetrics(4, NAMES)
    metrics.update(PRED, TARGET)
    f1 = ClassificationF1(4, NAMES)
    f1.update(torch.tensor([[-1.0, 1.0, 1.0, -1.0]]), torch.tensor([[1, 1, 0, 0]]))  # cat right, dog wrong
    rows = [line.split("|")[1:-1] for line in metrics_table({**metrics.compute(), **f1.compute()}).splitlines()]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows[2:] if row}
    assert cells["background"] == ["33.33", "-"]  # background has no F1 (zero loss weight, in every image)
    assert cells["cat"] == ["75.00", "100.00"] and cells["dog"] == ["25.00", "0.00"]
    assert cells["bird"] == ["-", "-"]  # absent from the ground truth and never predicted
    assert cells["**mean**"] == ["**44.44**", "**50.00**"]
    assert "pixel accuracy 60.00" in metrics_table(metrics.compute())
    with pytest.raises(ValueError, match="got 2 class names for 4 classes"):
        SegmentationMetrics(4, ["a", "b"])


def test_foreground_macro_f1_by_hand():
    # columns: background, a, b, c. Logit exactly 0 is negative; logits in (0, 1) are positive.
    logits = torch.tensor(
        [
            [-5.0, 0.5, -1.0, -1.0],
            [-5.0, 0.0, 2.0, -3.0],
            [-5.0, -0.2, 0.3, -1.0],
            [5.0, 0.7, -1.0, -2.0],
        ]
    )
    target = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    f1 = ClassificationF1(4, ["background", "a", "b", "c"])
    f1.update(logits[:2], target[:2])
    f1.update(logits[2:], target[2:])
    results = f1.compute()
    # a: TP 1, FP 1, FN 1 -> 0.5; b: perfect -> 1; c: never present nor predicted -> excluded.
    # (background would add F1 0; counting c as 0 would give 0.5.)
    assert results["per_class_f1"] == {"a": 0.5, "b": 1.0, "c": None}
    assert results["f1"] == pytest.approx(0.75)
    json.dumps(results)


def test_f1_without_any_positive_is_undefined():
    f1 = ClassificationF1(3)
    f1.update(torch.full((2, 3), -1.0), torch.zeros(2, 3))
    assert f1.compute()["f1"] is None


def test_f1_of_a_single_foreground_class_by_hand():
    """Background plus one class (binary segmentation datasets): tp 2, fp 1, fn 1 -> F1 = 4 / 6."""
    f1 = ClassificationF1(2, ["background", "road"])
    logits = torch.tensor([[1.0, 2.0], [1.0, 3.0], [1.0, -1.0], [1.0, 1.0], [1.0, -2.0]])
    target = torch.tensor([[1, 1], [1, 1], [1, 1], [1, 0], [1, 0]])
    f1.update(logits, target)
    result = f1.compute()
    assert result["f1"] == pytest.approx(4 / 6) and result["per_class_f1"]["road"] == pytest.approx(4 / 6)


def test_f1_without_background_class_scores_column_zero_too():
    f1 = ClassificationF1(2, ["sky", "car"], has_background=False)
    f1.update(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), torch.tensor([[1, 0], [1, 1]]))
    assert f1.compute()["per_class_f1"] == {"sky": pytest.approx(2 / 3), "car": 1.0}
