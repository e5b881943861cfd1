"""Experiment grids: every (encoder, label regime, seed, model) run of a study, resumable and shardable."""

from .grid import GridConfig, GridRun, SynthConfig, load_grid, plan, run_grid, shard_of

__all__ = ["GridConfig", "GridRun", "SynthConfig", "load_grid", "plan", "run_grid", "shard_of"]
