"""The tables of a report: cells of means over seeds, rows of (encoder, method), bold best cells, and their
Markdown and CSV forms. Independent of where the numbers come from (:mod:`.report` fills them from runs).

Cells are mean ± sample standard deviation over seeds, in percent; the best mean of each column is bold
(per encoder, as in the paper; Table 2 compares encoders). Cells averaging fewer seeds than the table's
fullest cell are marked ``(n=k)``: an unfinished seed would otherwise silently shift a mean.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cell:
    """One table entry in percent; ``seeds`` is None for single values that are not seed averages."""

    mean: float
    std: float | None
    seeds: int | None


@dataclass(frozen=True)
class Row:
    """One (encoder, method) line; ``cells`` by column (number of pixel-labelled images), absent where no run."""

    encoder: str
    method: str
    cells: dict[str, Cell]


@dataclass(frozen=True)
class Table:
    """A paper table; ``name`` names its CSV file. ``best_across_encoders``: bold compares encoders (Table 2)."""

    name: str
    title: str
    rows: list[Row]
    best_across_encoders: bool = False

    @property
    def columns(self) -> list[str]:
        """The regimes any row has, by number of pixel-labelled images."""
        return sorted({column for row in self.rows for column in row.cells}, key=int)


def summarise(values: Sequence[float]) -> Cell:
    """Mean ± sample standard deviation over seeds, in percent (no std for a single seed)."""
    percent = [100 * value for value in values]
    std = statistics.stdev(percent) if len(percent) > 1 else None
    return Cell(statistics.fmean(percent), std, len(percent))


def best_cells(table: Table) -> set[tuple[int, str]]:
    """(row index, column) of the highest mean per column, per encoder unless the table compares encoders;
    compared at the printed precision, so ties are all bold. A lone entry is not bold: it beats nothing."""

    def key(row: Row, column: str) -> tuple[str, str]:
        return ("" if table.best_across_encoders else row.encoder, column)

    means: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in table.rows:
        for column, cell in row.cells.items():
            means[key(row, column)].append(round(cell.mean, 2))
    return {
        (i, column)
        for i, row in enumerate(table.rows)
        for column, cell in row.cells.items()
        if len(means[key(row, column)]) > 1 and round(cell.mean, 2) == max(means[key(row, column)])
    }


def full_seeds(table: Table) -> int:
    """The most seeds any cell of ``table`` averages; cells with fewer are marked."""
    return max((cell.seeds for row in table.rows for cell in row.cells.values() if cell.seeds), default=0)


def format_cell(cell: Cell | None, bold: bool, full: int) -> str:
    """``mean ± std`` with two decimals, bold when best, ``(n=k)`` when fewer seeds than ``full``; "-" if empty."""
    if cell is None:
        return "-"
    text = f"{cell.mean:.2f}" + ("" if cell.std is None else f" ± {cell.std:.2f}")
    text = f"**{text}**" if bold else text
    return text + (f" (n={cell.seeds})" if cell.seeds is not None and cell.seeds < full else "")


def to_markdown(table: Table) -> str:
    """The table as Markdown, columns = number of pixel-labelled images."""
    best, full = best_cells(table), full_seeds(table)
    lines = [
        f"### {table.title}",
        "",
        "| encoder | method | " + " | ".join(table.columns) + " |",
        "|---|---|" + "---:|" * len(table.columns),
    ]
    for i, row in enumerate(table.rows):
        cells = [format_cell(row.cells.get(c), (i, c) in best, full) for c in table.columns]
        lines.append(f"| {row.encoder} | {row.method} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean ± std over seeds; full cells average {full} seeds, (n=k) marks cells with only k.", ""]
    return "\n".join(lines)


def write_csv(table: Table, path: Path) -> Path:
    """One line per cell: encoder, method, column, mean, std, seeds (percent, 4 decimals), best (0/1)."""
    best = best_cells(table)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["encoder", "method", "num_pixel", "mean", "std", "seeds", "best"])
        for i, row in enumerate(table.rows):
            for column, cell in row.cells.items():
                std = "" if cell.std is None else round(cell.std, 4)
                writer.writerow(
                    [
                        row.encoder,
                        row.method,
                        column,
                        round(cell.mean, 4),
                        std,
                        "" if cell.seeds is None else cell.seeds,
                        int((i, column) in best),
                    ]
                )
    return path
