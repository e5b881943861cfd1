"""``ulrp reproduce``: a whole experiment grid (pre-training, training, evaluation), resumable and shardable."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp.data.options import Device
from unrolled_lrp.experiments.grid import GridConfig, check_grid, run_grid


def reproduce(
    grid: GridConfig,
    run_root: Path,
    dry_run: bool = False,
    shard: str = "0/1",
    device: Device | None = None,
) -> None:
    """Run every (encoder, regime, seed, model) of a grid config, e.g. ``configs/cpu_study.yaml``.

    Finished runs (``val_metrics.json`` present) are skipped and interrupted ones resume, so the same command
    continues a study. ``scripts/launch_grid.sh`` starts one shard per GPU.

    Args:
        grid: the grid: a YAML file (``--grid configs/paper_voc.yaml``), single settings overridable after it
            (``--grid.optim.steps 100``).
        run_root: study folder (layout: ARCHITECTURE.md, "A run directory").
        dry_run: print every run with its status (finished, partial, todo) and run nothing.
        shard: "I/N": run only the runs whose plan index is I mod N (one process per GPU).
        device: "cpu" or "cuda"; default: the grid's ``train.device``.
    """
    run_grid(check_grid(grid), run_root=run_root, shard=shard, device=device, dry_run=dry_run)
