"""Figures a person can look at: input, per-class heatmaps (blue-white-red), segmentation, class scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from .canvas import save, subplots


def colourise(labels: Tensor, palette: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """``(H, W)`` class indices to an RGB image with the dataset's palette (255 = void, white)."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(palette)] = np.asarray(palette, dtype=np.uint8)
    table[255] = 255
    return table[labels.cpu().numpy().astype(np.uint8)]


def show_heatmap(ax: Axes, heatmap: Tensor, title: str) -> None:
    """A heatmap on a symmetric blue-white-red scale (red: evidence for the class), as the paper's Fig. 3,
    saturating at the 99.5th percentile of |relevance| so that a few extreme pixels do not wash out the rest."""
    bound = heatmap.abs().flatten().float().quantile(0.995).item() or heatmap.abs().max().item() or 1.0
    ax.imshow(heatmap.cpu().numpy(), cmap="bwr", vmin=-bound, vmax=bound)
    ax.set_title(title, fontsize=9)


def _save(fig: Figure, path: str | Path, image_axes: Sequence[Axes]) -> Path:
    for ax in image_axes:
        ax.axis("off")
    return save(fig, path)


def save_top_classes(
    image: Tensor, heatmaps: Tensor, logits: Tensor, class_names: Sequence[str], path: str | Path, top_k: int = 4
) -> Path:
    """One PNG for a classifier with many classes (ImageNet): the input, the heatmaps of the ``top_k`` classes
    with their softmax probabilities, and the argmax over *all* classes' heatmaps with the top classes coloured
    (grey: any other class). ``heatmaps`` is ``(C, H, W)`` for all ``C`` classes."""
    top = torch.argsort(logits, descending=True)[:top_k].tolist()
    probabilities = logits.softmax(0)
    fig, grid = subplots(1, top_k + 2, figsize=(3 * (top_k + 2), 3.4))
    axes = grid[0]
    axes[0].imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    axes[0].set_title("input", fontsize=9)
    for ax, k in zip(axes[1:], top):
        show_heatmap(ax, heatmaps[k], f"{class_names[k]} (p={probabilities[k]:.2f})")
    winner = heatmaps.argmax(0)
    labels = torch.zeros_like(winner)
    for rank, k in enumerate(top, start=1):
        labels[winner == k] = rank
    tab10 = [matplotlib.colormaps["tab10"](i) for i in range(top_k)]
    colours = [(160, 160, 160)] + [(int(255 * r), int(255 * g), int(255 * b)) for r, g, b, _ in tab10]
    axes[-1].imshow(colourise(labels, colours))
    axes[-1].set_title(f"argmax of all {len(class_names)} heatmaps", fontsize=9)
    handles = [Rectangle((0, 0), 1, 1, color=np.asarray(c) / 255) for c in colours]
    axes[-1].legend(handles, ["other"] + [class_names[k] for k in top], fontsize=6, loc="lower right")
    return _save(fig, path, axes)


def save_explanation(
    image: Tensor,
    heatmaps: Tensor,
    logits: Tensor,
    class_names: Sequence[str],
    palette: Sequence[tuple[int, int, int]],
    path: str | Path,
    top_k: int = 4,
) -> Path:
    """One PNG: the input, the heatmaps of the ``top_k`` highest-scoring classes, the argmax segmentation
    and all class scores. ``image`` is ``(3, H, W)`` in [0, 1]; ``heatmaps`` ``(C, H, W)``; ``logits`` ``(C,)``.

    Heatmaps use a symmetric blue-white-red scale per class (red: evidence for the class), as the paper's Fig. 3.
    """
    top = torch.argsort(logits, descending=True)[:top_k].tolist()
    fig, grid = subplots(1, top_k + 3, figsize=(3 * (top_k + 3), 3.2))
    axes = grid[0]
    axes[0].imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    axes[0].set_title("input")
    for ax, k in zip(axes[1 : top_k + 1], top):
        show_heatmap(ax, heatmaps[k], f"{class_names[k]} ({logits[k]:.2f})")
    axes[top_k + 1].imshow(colourise(heatmaps.argmax(0), palette))
    axes[top_k + 1].set_title("segmentation (argmax)")
    axes[top_k + 2].barh(
        range(len(class_names)), logits.cpu().numpy(), color=np.asarray(palette[: len(class_names)]) / 255
    )
    axes[top_k + 2].set_yticks(range(len(class_names)), class_names, fontsize=6)
    axes[top_k + 2].invert_yaxis()
    axes[top_k + 2].set_title("class scores")
    return _save(fig, path, axes[:-1])
