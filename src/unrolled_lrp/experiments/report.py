"""The paper's Tables 1-3, an mIoU-vs-labels plot and Figures 2-3 from a grid of finished runs.

Runs are found through :class:`~unrolled_lrp.experiments.layout.RunKey` (the grid's layout) and read through
:class:`~unrolled_lrp.runs.RunDir`; the classifier F1 before segmentation training comes from each encoder's
pre-training run (:func:`~unrolled_lrp.experiments.layout.pretraining_dir`). A row is a *method*: the name of a
run directory, which is a registered model or a variant of the grid (``RUN_ROOT/grid.yaml``), shown by its display
name. The tables themselves are :mod:`.tables`; the plot and the figures :mod:`unrolled_lrp.visualisation`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from unrolled_lrp.data.classes import VOC, ClassSet
from unrolled_lrp.models import display_name, list_models
from unrolled_lrp.runs import RunDir, Status
from unrolled_lrp.training.snapshots import list_snapshots, load_snapshot
from unrolled_lrp.visualisation import Point, plot_miou_vs_labels
from unrolled_lrp.visualisation.evolution import pick_steps, save_heatmap_evolution, save_segmentation_evolution

from .grid import Method, grid_methods
from .layout import RunKey, pretraining_dir
from .tables import Cell, Row, Table, summarise, to_markdown, write_csv

TABLE1_MODELS = ("unet", "mt_unet", "unrolled_lrp")
"""Table 1 rows, in the paper's order: every method that trains one of these models."""
ABLATION_MODELS = ("unrolled_lrp", "ws_ae", "lrp_readout", "fcn", "unet")
"""Table 3 rows: unrolled LRP, its ablations and the readout-only control, and UNet as the reference the paper lists
last."""
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


def methods(run_root: Path, runs: Iterable[Run]) -> list[Method]:
    """The methods of the runs, in the grid's order (``RUN_ROOT/grid.yaml``), then any others by name; a run
    directory named after no model and no variant of the grid is shown under its own name."""
    known = grid_methods(run_root)
    names = {method.name for method in known}
    others = sorted({run.key.model for run in runs} - names)
    return known + [Method(name, name, display_name(name) if name in list_models() else name) for name in others]


def _cells(runs: Iterable[Run], encoder: str, method: str, metric: str) -> dict[str, Cell]:
    """The regimes' cells of one (encoder, method) row; runs without ``metric`` do not count."""
    values: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        if (run.key.encoder, run.key.model) == (encoder, method) and run.val.get(metric) is not None:
            values[run.key.num_pixel].append(run.val[metric])
    return {str(num_pixel): summarise(values[num_pixel]) for num_pixel in sorted(values)}


def _encoders(runs: Iterable[Run]) -> list[str]:
    return sorted({run.key.encoder for run in runs})


def _of_models(methods: Sequence[Method], models: Sequence[str]) -> list[Method]:
    """The methods that train one of ``models``, in the order of ``models``."""
    return sorted((m for m in methods if m.model in models), key=lambda m: models.index(m.model))


def miou_table(name: str, title: str, runs: Sequence[Run], methods: Sequence[Method]) -> Table:
    """Val mIoU, a row per encoder and method (methods without runs left out), a column per regime."""
    rows = [
        Row(encoder, method.display, cells)
        for encoder in _encoders(runs)
        for method in methods
        if (cells := _cells(runs, encoder, method.name, "miou"))
    ]
    return Table(name, title, rows)


def f1_table(runs: Sequence[Run], methods: Sequence[Method], pretrained: dict[str, float]) -> Table:
    """Table 2: the classifier F1 of every method with class scores: column "0" after pre-training, then per
    regime after segmentation training (the paper's claim: segmentation training keeps it)."""
    rows = []
    for encoder in sorted(set(_encoders(runs)) | set(pretrained)):
        for method in methods:
            cells = _cells(runs, encoder, method.name, "f1")
            if cells and encoder in pretrained:
                cells = {PRETRAIN_COLUMN: Cell(100 * pretrained[encoder], None, None), **cells}
            if cells:
                rows.append(Row(encoder, method.display, cells))
    title = "Table 2: classifier F1 (%) on val, after pre-training (0) and after segmentation training"
    return Table("table2", title, rows, best_across_encoders=True)


def miou_curves(runs: Sequence[Run], methods: Sequence[Method]) -> dict[str, dict[str, list[Point]]]:
    """Per encoder, per method's display name, its mean val mIoU over seeds at each regime (the plot's data)."""
    curves: dict[str, dict[str, list[Point]]] = {}
    for encoder in _encoders(runs):
        lines = {method.display: _cells(runs, encoder, method.name, "miou") for method in methods}
        curves[encoder] = {
            label: [Point(int(n), cell.mean, cell.std or 0.0) for n, cell in cells.items()]
            for label, cells in lines.items()
            if cells
        }
    return curves


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
    stem = f"{run.key.model}_{run.key.encoder}_n{run.key.num_pixel}_seed{run.key.seed}.png"
    paths = [save_segmentation_evolution(snapshots, classes, out_dir / f"figure2_{stem}")]
    if "scores" in snapshots[0]:
        paths.append(save_heatmap_evolution(snapshots, classes, out_dir / f"figure3_{stem}"))
    return paths


def build_tables(run_root: Path, runs: Sequence[Run], methods: Sequence[Method]) -> list[Table]:
    """Tables 1, 2 and 3 of the paper from ``runs`` (and the pre-training F1 under ``run_root``)."""
    return [
        miou_table("table1", "Table 1: segmentation mIoU (%) on val", runs, _of_models(methods, TABLE1_MODELS)),
        f1_table(runs, methods, pretrain_f1(run_root)),
        miou_table(
            "table3", "Table 3: ablation, segmentation mIoU (%) on val", runs, _of_models(methods, ABLATION_MODELS)
        ),
    ]


def write_report(run_root: Path, out_dir: Path | None = None) -> str:
    """Write ``tables.md``, ``table{1,2,3}.csv``, ``miou_vs_labels.png`` and Figures 2-3 of the runs of unrolled
    LRP (and its variants) to ``out_dir`` (default ``run_root/report``); return the Markdown."""
    runs = collect_runs(run_root)
    if not runs:
        raise FileNotFoundError(
            f"no finished runs (ENCODER/nN/seedS/MODEL/val_metrics.json) under {run_root}; run ulrp reproduce first"
        )
    out_dir = run_root / "report" if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    found = methods(run_root, runs)
    tables = [table for table in build_tables(run_root, runs, found) if table.rows]
    for table in tables:
        write_csv(table, out_dir / f"{table.name}.csv")
    markdown = "\n".join(to_markdown(table) for table in tables)
    (out_dir / "tables.md").write_text(markdown)
    plot_miou_vs_labels(miou_curves(runs, found), out_dir / "miou_vs_labels.png")
    unrolled = {method.name for method in found if method.model == "unrolled_lrp"}
    for run in runs:
        if run.key.model in unrolled:
            save_evolution_figures(run, out_dir)
    return markdown
