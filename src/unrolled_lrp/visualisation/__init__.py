"""Figures of heatmaps and segmentations, their evolution over training, and plots of a study's numbers. Every
figure is drawn by :mod:`.canvas`, the one place that chooses matplotlib's renderer."""

from unrolled_lrp.visualisation.figures import colourise, save_explanation, save_top_classes
from unrolled_lrp.visualisation.plots import Point, plot_miou_vs_labels

__all__ = ["Point", "colourise", "plot_miou_vs_labels", "save_explanation", "save_top_classes"]
