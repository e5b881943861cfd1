"""Experiment grids and the paper-style report built from their runs."""
