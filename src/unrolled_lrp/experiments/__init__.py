"""Experiment grids (every encoder x label regime x seed x model run of a study, resumable and shared by any
number of processes) and the paper-style report built from their runs."""

from .grid import GridConfig, GridRun, load_grid, plan, run_grid

__all__ = ["GridConfig", "GridRun", "load_grid", "plan", "run_grid"]
