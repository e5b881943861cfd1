"""``ulrp report``: the paper's tables, plots and figures from a grid of finished runs."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp.experiments.report import write_report


def report(run_root: Path, out_dir: Path | None = None) -> str:
    """Summarise a grid of runs as the paper does and print the Markdown tables.

    Reads every finished run of the grid (layout: ARCHITECTURE.md, "A run directory"), a row per model or variant;
    writes ``tables.md``, ``table1.csv`` (segmentation mIoU), ``table2.csv`` (classifier F1 after pre-training and
    after segmentation training), ``table3.csv`` (ablations), ``miou_vs_labels.png`` and, for unrolled LRP runs
    trained with ``--optim.snapshot_every``, ``figure2_*.png`` (segmentations over training) and ``figure3_*.png``
    (heatmaps over training).

    Args:
        run_root: root folder of the grid.
        out_dir: where to write the report (default ``RUN_ROOT/report``).
    """
    markdown = write_report(run_root, out_dir)
    print(markdown)
    return markdown
