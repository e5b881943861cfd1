"""Figures of heatmaps and segmentations."""

from unrolled_lrp.visualisation.figures import colourise, save_explanation

__all__ = ["colourise", "save_explanation"]
