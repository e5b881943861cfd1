"""How segmentations and heatmaps evolve over training (the paper's Figures 2 and 3), from training snapshots.

Both figures have one row per image (Figure 3: per image and positive class): the input on the left,
the ground truth on the right, and in between the model at successive snapshot steps. Snapshots are
the dicts written by :mod:`unrolled_lrp.training.snapshots`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm

from unrolled_lrp.data.classes import ClassSet

from .canvas import save, subplots
from .figures import colourise

#: Draws the in-between cell of a row: (axes, snapshot, image index) → None.
CellPainter = Callable[[Axes, dict, int], None]


def pick_steps(steps: Sequence[int], columns: int, last: int | None = None) -> list[int]:
    """Up to ``columns`` snapshot steps evenly spread from the first to ``last`` (the paper: from the first
    iteration to peak validation mIoU; default: the latest step), both ends included."""
    eligible = sorted(step for step in steps if last is None or step <= last) or sorted(steps)[:1]
    positions = np.linspace(0, len(eligible) - 1, min(columns, len(eligible))).round().astype(int)
    return [eligible[i] for i in dict.fromkeys(positions.tolist())]


def _grid(
    rows: Sequence[tuple[str, int, CellPainter]], snapshots: Sequence[dict], classes: ClassSet, path: Path
) -> Path:
    """Lay out ``rows`` (row label, image index, painter of the in-between cells) as input | steps | truth."""
    columns = len(snapshots) + 2
    fig, axes = subplots(len(rows), columns, figsize=(1.8 * columns, 1.8 * len(rows)))
    for row, (label, image, paint) in zip(axes, rows):
        first = snapshots[0]
        row[0].imshow(first["images"][image].permute(1, 2, 0).numpy())
        row[0].set_ylabel(label, fontsize=7)
        for ax, snapshot in zip(row[1:-1], snapshots):
            paint(ax, snapshot, image)
        row[-1].imshow(colourise(first["masks"][image], classes.palette))
    for ax, title in zip(axes[0], ["input", *(f"step {s['step']}" for s in snapshots), "ground truth"]):
        ax.set_title(title, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, path)


def save_segmentation_evolution(snapshots: Sequence[dict], classes: ClassSet, path: str | Path) -> Path:
    """Figure 2: per image, the argmax segmentation at each snapshot, in the dataset's palette."""

    def paint(ax: Axes, snapshot: dict, image: int) -> None:
        ax.imshow(colourise(snapshot["segmentations"][image], classes.palette))

    rows = [(snapshots[0]["ids"][i], i, paint) for i in range(len(snapshots[0]["ids"]))]
    return _grid(rows, snapshots, classes, Path(path))


def _positive_classes(labels) -> list[int]:
    """The image's foreground labels; background alone for images without any."""
    return [int(k) for k in labels[1:].nonzero().flatten() + 1] or [0]


def save_heatmap_evolution(snapshots: Sequence[dict], classes: ClassSet, path: str | Path) -> Path:
    """Figure 3: per image and positive class, that class's heatmap after the per-pixel softmax at each snapshot.

    Blue-white-red with white at the uniform score ``1 / C``: red where the class wins over chance, blue where
    it loses, which is what makes the softmaxed heatmaps readable (the paper's remark under Fig. 3).
    """
    norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0 / classes.num_classes, vmax=1.0)

    def painter(k: int) -> CellPainter:
        def paint(ax: Axes, snapshot: dict, image: int) -> None:
            ax.imshow(snapshot["scores"][image][k].float().numpy(), cmap="bwr", norm=norm)

        return paint

    rows = [
        (f"{snapshots[0]['ids'][i]}: {classes.names[k]}", i, painter(k))
        for i, labels in enumerate(snapshots[0]["labels"])
        for k in _positive_classes(labels)
    ]
    return _grid(rows, snapshots, classes, Path(path))
