"""Experiment grids (every encoder x label regime x seed x model run of a study, resumable and shardable)
and the paper-style report built from their runs."""

from .grid import GridConfig, GridRun, load_grid, plan, run_grid, shard_of

__all__ = ["GridConfig", "GridRun", "load_grid", "plan", "run_grid", "shard_of"]
