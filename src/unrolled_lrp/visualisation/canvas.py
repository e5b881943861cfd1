"""Where every figure of the library is made and written: matplotlib's object-oriented ``Figure`` on the Agg
renderer, chosen here and nowhere else.

No module uses pyplot, so nothing selects a global backend at import time, no import order matters, and an
interactive session that imports the library keeps its own backend. Figures are not registered with pyplot, so
they need no closing: they are freed with their last reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def subplots(rows: int, columns: int, *, figsize: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure drawn by Agg and its ``(rows, columns)`` array of axes."""
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def save(figure: Figure, path: str | Path) -> Path:
    """Lay ``figure`` out tightly and write it as a 100-dpi PNG at ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
