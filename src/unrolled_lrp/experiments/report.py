"""The paper's Tables 1-3, an mIoU-vs-labels plot and Figures 2-3 from a grid of finished runs.

Runs are found through :class:`~unrolled_lrp.experiments.layout.RunKey` (the grid's layout) and read through
:class:`~unrolled_lrp.runs.RunDir`; the classifier F1 before segmentation training comes from each encoder's
pre-training run (:func:`~unrolled_lrp.experiments.layout.pretraining_dir`).

Cells are mean ± sample standard deviation over seeds, in percent; the best mean of each column is bold
(per encoder, as in the paper; Table 2 compares encoders). Cells averaging fewer seeds than the table's
fullest cell are marked ``(n=k)``: an unfinished seed would otherwise silently shift a mean.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from unrolled_lrp.data.classes import VOC, ClassSet  # noqa: E402
from unrolled_lrp.runs import RunDir, Status  # noqa: E402
from unrolled_lrp.training.snapshots import list_snapshots, load_snapshot  # noqa: E402
from unrolled_lrp.visualisation.evolution import (  # noqa: E402
    pick_steps,
    save_heatmap_evolution,
    save_segmentation_evolution,
)

from .layout import RunKey, pretraining_dir  # noqa: E402

MODEL_NAMES = {
    "unet": "UNet",
    "mt_unet": "multi-task UNet",
    "unrolled_lrp": "unrolled LRP",
    "ws_ae": "WS-AE",
    "fcn": "FCN",
}
"""Display names, in the paper's row order."""
TABLE1_MODELS = ("unet", "mt_unet", "unrolled_lrp")
ABLATION_MODELS = ("unrolled_lrp", "ws_ae", "fcn", "unet")
"""Table 3 rows: unrolled LRP, its ablations, and UNet as the reference the paper lists last."""
PRETRAIN_COLUMN = "0"
"""Table 2's column of the classifier before segmentation training (no pixel labels seen)."""
FIGURE_STEPS = 6
"""Snapshot columns in Figures 2 and 3."""


@dataclass(frozen=True)
class Run:
    """A finished run: where it sits in the grid, its directory and its val metrics (``val_metrics.json``)."""

    key: RunKey
    run: RunDir
    val: dict


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


def collect_runs(run_root: Path) -> list[Run]:
    """Every finished run under ``run_root`` (trained and evaluated), in key order."""
    runs = []
    for key in RunKey.find(run_root):
        run = RunDir(key.path(run_root))
        if run.status == Status.FINISHED:
            runs.append(Run(key, run, json.loads(run.val_metrics.read_text())))
    return runs


def pretrain_f1(run_root: Path) -> dict[str, float]:
    """Classifier val F1 after pre-training, per encoder with a finished pre-training (Table 2, column "0")."""
    scores = {}
    for encoder in sorted(path.name for path in run_root.iterdir() if path.is_dir()):
        run = pretraining_dir(run_root, encoder)
        f1 = json.loads(run.metrics.read_text()).get("val", {}).get("f1") if run.status == Status.FINISHED else None
        if f1 is not None:
            scores[encoder] = f1
    return scores


def summarise(values: Sequence[float]) -> Cell:
    """Mean ± sample standard deviation over seeds, in percent (no std for a single seed)."""
    percent = [100 * value for value in values]
    std = statistics.stdev(percent) if len(percent) > 1 else None
    return Cell(statistics.fmean(percent), std, len(percent))


def _cells(runs: Iterable[Run], encoder: str, model: str, metric: str) -> dict[str, Cell]:
    """The regimes' cells of one (encoder, model) row; runs without ``metric`` do not count."""
    values: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        if (run.key.encoder, run.key.model) == (encoder, model) and run.val.get(metric) is not None:
            values[run.key.num_pixel].append(run.val[metric])
    return {str(num_pixel): summarise(values[num_pixel]) for num_pixel in sorted(values)}


def _encoders(runs: Iterable[Run]) -> list[str]:
    return sorted({run.key.encoder for run in runs})


def miou_table(name: str, title: str, runs: Sequence[Run], models: Sequence[str]) -> Table:
    """Val mIoU, a row per encoder and model (models without runs left out), a column per regime."""
    rows = [
        Row(encoder, MODEL_NAMES[model], cells)
        for encoder in _encoders(runs)
        for model in models
        if (cells := _cells(runs, encoder, model, "miou"))
    ]
    return Table(name, title, rows)


def f1_table(runs: Sequence[Run], pretrained: dict[str, float]) -> Table:
    """Table 2: unrolled LRP's classifier F1, column "0" after pre-training, then per regime."""
    rows = []
    for encoder in sorted(set(_encoders(runs)) | set(pretrained)):
        cells = _cells(runs, encoder, "unrolled_lrp", "f1")
        if encoder in pretrained:
            cells = {PRETRAIN_COLUMN: Cell(100 * pretrained[encoder], None, None), **cells}
        if cells:
            rows.append(Row(encoder, MODEL_NAMES["unrolled_lrp"], cells))
    title = "Table 2: classifier F1 (%) of unrolled LRP on val, after pre-training (0) and segmentation training"
    return Table("table2", title, rows, best_across_encoders=True)


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


def plot_miou_vs_labels(runs: Sequence[Run], path: Path) -> Path:
    """Val mIoU against the number of pixel-labelled images (log x), a line per model, a panel per encoder,
    error bars = std over seeds."""
    encoders = _encoders(runs)
    fig, axes = plt.subplots(1, len(encoders), figsize=(5 * len(encoders), 4), squeeze=False)
    for ax, encoder in zip(axes[0], encoders):
        for model in MODEL_NAMES:
            cells = _cells(runs, encoder, model, "miou")
            if cells:
                ax.errorbar(
                    [int(n) for n in cells],
                    [c.mean for c in cells.values()],
                    yerr=[c.std or 0.0 for c in cells.values()],
                    marker="o",
                    capsize=3,
                    label=MODEL_NAMES[model],
                )
        ticks = sorted({run.key.num_pixel for run in runs if run.key.encoder == encoder})
        ax.set_xscale("log")
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set(title=encoder, xlabel="pixel-labelled images", ylabel="val mIoU (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _class_set(run: Run, num_classes: int) -> ClassSet:
    """The run's classes from its config; numbered names when the class file is gone (runs copied elsewhere)."""
    classes = run.run.saved_config()["data"].get("classes")
    if classes is None:
        return VOC
    if Path(classes).is_file():
        return ClassSet.from_yaml(classes)
    return ClassSet.from_names(["background", *(f"class {k}" for k in range(1, num_classes))])


def _best_step(run: Run) -> int | None:
    """The step of the selected checkpoint (peak hold-out mIoU), where Figures 2 and 3 stop."""
    metrics = run.run.metrics
    return json.loads(metrics.read_text()).get("holdout", {}).get("step") if metrics.is_file() else None


def save_evolution_figures(run: Run, out_dir: Path) -> list[Path]:
    """Figures 2 and 3 of one run from its snapshots (none without snapshots; no Figure 3 without heatmaps)."""
    available = list_snapshots(run.run.snapshots)
    if not available:
        return []
    snapshots = [load_snapshot(available[s]) for s in pick_steps(list(available), FIGURE_STEPS, _best_step(run))]
    classes = _class_set(run, len(snapshots[0]["labels"][0]))
    stem = f"{run.key.encoder}_n{run.key.num_pixel}_seed{run.key.seed}.png"
    paths = [save_segmentation_evolution(snapshots, classes, out_dir / f"figure2_{stem}")]
    if "scores" in snapshots[0]:
        paths.append(save_heatmap_evolution(snapshots, classes, out_dir / f"figure3_{stem}"))
    return paths


def build_tables(run_root: Path, runs: Sequence[Run]) -> list[Table]:
    """Tables 1, 2 and 3 of the paper from ``runs`` (and the pre-training F1 under ``run_root``)."""
    return [
        miou_table("table1", "Table 1: segmentation mIoU (%) on val", runs, TABLE1_MODELS),
        f1_table(runs, pretrain_f1(run_root)),
        miou_table("table3", "Table 3: ablation, segmentation mIoU (%) on val", runs, ABLATION_MODELS),
    ]


def write_report(run_root: Path, out_dir: Path | None = None) -> str:
    """Write ``tables.md``, ``table{1,2,3}.csv``, ``miou_vs_labels.png`` and the unrolled LRP runs' Figures 2-3
    to ``out_dir`` (default ``run_root/report``); return the Markdown."""
    runs = collect_runs(run_root)
    if not runs:
        raise FileNotFoundError(
            f"no finished runs (ENCODER/nN/seedS/MODEL/val_metrics.json) under {run_root}; run ulrp reproduce first"
        )
    out_dir = run_root / "report" if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = [table for table in build_tables(run_root, runs) if table.rows]
    for table in tables:
        write_csv(table, out_dir / f"{table.name}.csv")
    markdown = "\n".join(to_markdown(table) for table in tables)
    (out_dir / "tables.md").write_text(markdown)
    plot_miou_vs_labels(runs, out_dir / "miou_vs_labels.png")
    for run in runs:
        if run.key.model == "unrolled_lrp":
            save_evolution_figures(run, out_dir)
    return markdown
