"""Evaluation metrics: dataset-level mIoU and foreground classification F1."""

from .metrics import ClassificationF1, SegmentationMetrics, metrics_table

__all__ = ["ClassificationF1", "SegmentationMetrics", "metrics_table"]
