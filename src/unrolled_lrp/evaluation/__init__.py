"""Evaluation metrics: dataset-level mIoU and foreground classification F1."""

from .metrics import IGNORE_INDEX, ClassificationF1, SegmentationMetrics, metrics_table

__all__ = ["IGNORE_INDEX", "ClassificationF1", "SegmentationMetrics", "metrics_table"]
