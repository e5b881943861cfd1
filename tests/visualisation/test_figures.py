"""Figures: every function writes a real picture, colours follow the palette, and the library never touches
pyplot, so importing it leaves a session's matplotlib backend alone."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from unrolled_lrp.data.classes import ClassSet
from unrolled_lrp.visualisation import Point, colourise, plot_miou_vs_labels, save_explanation, save_top_classes
from unrolled_lrp.visualisation.evolution import save_heatmap_evolution, save_segmentation_evolution

PALETTE = [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
NAMES = ["background", "cat", "dog"]


def _picture(path) -> np.ndarray:
    image = np.asarray(Image.open(path).convert("RGB"))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20, path  # drawn content, not a blank canvas
    return image


def test_colourise_uses_the_palette_and_paints_void_white():
    labels = torch.tensor([[0, 1], [2, 255]])
    assert colourise(labels, PALETTE).tolist() == [[[0, 0, 0], [128, 0, 0]], [[0, 128, 0], [255, 255, 255]]]


def test_the_explanation_figures_are_real_pictures(tmp_path):
    g = torch.Generator().manual_seed(0)
    image, heatmaps, logits = torch.rand(3, 40, 48, generator=g), torch.randn(3, 40, 48, generator=g), torch.randn(3)
    small = _picture(save_explanation(image, heatmaps, logits, NAMES, PALETTE, tmp_path / "a" / "x.png", top_k=2))
    many = torch.randn(50, 40, 48, generator=g)
    names = [f"class {k}" for k in range(50)]
    wide = _picture(save_top_classes(image, many, torch.randn(50, generator=g), names, tmp_path / "y.png", top_k=3))
    assert small.shape[1] > 800 and wide.shape[1] > 800


def test_the_miou_plot_has_a_panel_per_encoder(tmp_path):
    line = [Point(5, 40.0, 2.0), Point(10, 50.0, 0.0), Point(20, 60.0, 1.0)]
    one = _picture(plot_miou_vs_labels({"resnet18": {"UNet": line}}, tmp_path / "one.png"))
    two = _picture(plot_miou_vs_labels({"a": {"UNet": line}, "b": {"FCN": line}}, tmp_path / "two.png"))
    assert two.shape[1] == 2 * one.shape[1]


def test_evolution_figures_have_a_row_per_image_or_class(tmp_path):
    g = torch.Generator().manual_seed(0)
    snapshots = [
        {
            "step": step,
            "images": torch.rand(2, 3, 24, 24, generator=g),
            "masks": torch.randint(0, 3, (2, 24, 24), generator=g),
            "labels": torch.tensor([[1, 1, 1], [1, 1, 1]]),
            "ids": ["2012_000001", "2012_000002"],
            "segmentations": torch.randint(0, 3, (2, 24, 24), generator=g),
            "scores": torch.rand(2, 3, 24, 24, generator=g),
        }
        for step in (0, 10)
    ]
    classes = ClassSet.from_names(NAMES)
    segmentations = _picture(save_segmentation_evolution(snapshots, classes, tmp_path / "f2.png"))
    heatmaps = _picture(save_heatmap_evolution(snapshots, classes, tmp_path / "f3.png"))
    assert heatmaps.shape[0] > 1.5 * segmentations.shape[0]  # a row per positive class: 2 images, 2 classes each


def _after_import(module: str) -> list[str]:
    """Whether importing ``module`` in a fresh process imports pyplot, and whether it keeps the backend setting
    (read with ``dict.__getitem__``, which does not resolve it: resolving would import pyplot itself)."""
    backend = "dict.__getitem__(matplotlib.rcParams, 'backend')"
    code = f"import sys, matplotlib; before = {backend}; import {module}; " + (
        f"print('matplotlib.pyplot' in sys.modules, {backend} == before)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_the_figures_never_import_pyplot_nor_choose_a_backend():
    assert _after_import("unrolled_lrp.visualisation") == ["False", "True"]


def test_the_report_keeps_the_sessions_backend():
    """(torchmetrics, which the evaluation uses, imports pyplot itself; it chooses no backend either.)"""
    assert _after_import("unrolled_lrp.experiments.report")[1] == "True"
