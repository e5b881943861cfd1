"""``ulrp reproduce``: a whole experiment grid (pre-training, training, evaluation), resumable, shared by any number
of processes."""

from __future__ import annotations

from pathlib import Path

from unrolled_lrp.data.options import Device
from unrolled_lrp.experiments.grid import GridConfig, check_grid, run_grid


def reproduce(
    grid: GridConfig,
    run_root: Path,
    dry_run: bool = False,
    device: Device | None = None,
) -> None:
    """Run every (encoder, regime, seed, model) of a grid config, e.g. ``configs/cpu_study.yaml``, then write the
    report (as ``ulrp report``).

    Finished runs (``val_metrics.json`` present) are skipped and interrupted ones resume, so the same command
    continues a study. Started several times on one run root (one process per GPU, on one machine or on several
    over a shared filesystem, e.g. a Slurm job array), the processes share the runs: each run is trained by one
    process, and a run whose process dies is taken over by another. ``scripts/launch_grid.sh`` starts one per GPU.

    Args:
        grid: the grid: a YAML file (``--grid configs/paper_voc.yaml``), single settings overridable after it
            (``--grid.optim.steps 100``).
        run_root: study folder (layout: ARCHITECTURE.md, "A run directory").
        dry_run: print every run with its status (finished, partial, todo; running, with its process) and run nothing.
        device: "cpu" or "cuda"; default: the grid's ``optim.device``.
    """
    run_grid(check_grid(grid), run_root=run_root, device=device, dry_run=dry_run)
