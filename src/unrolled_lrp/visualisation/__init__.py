"""Figures of heatmaps and segmentations."""

from unrolled_lrp.visualisation.figures import colourise, save_explanation, save_top_classes

__all__ = ["colourise", "save_explanation", "save_top_classes"]
