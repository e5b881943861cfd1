"""Plots of a study's numbers (the report's mIoU against the number of pixel labels)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .canvas import save, subplots


@dataclass(frozen=True)
class Point:
    """One mean over seeds, with its standard deviation (0 for a single seed)."""

    x: int
    mean: float
    std: float


def plot_miou_vs_labels(panels: Mapping[str, Mapping[str, Sequence[Point]]], path: Path) -> Path:
    """Val mIoU against the number of pixel-labelled images (log x): a panel per encoder, a line per method,
    error bars = std over seeds. ``panels``: encoder → method's display name → its points."""
    fig, axes = subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (encoder, lines) in zip(axes[0], panels.items()):
        for label, points in lines.items():
            ax.errorbar(
                [p.x for p in points],
                [p.mean for p in points],
                yerr=[p.std for p in points],
                marker="o",
                capsize=3,
                label=label,
            )
        ticks = sorted({p.x for points in lines.values() for p in points})
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set(title=encoder, xlabel="pixel-labelled images", ylabel="val mIoU (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save(fig, path)
