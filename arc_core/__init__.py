"""Shared ARC domain code: grids, tasks, datasets, transforms, scoring, submissions, rendering.

This package imports none of `sandbox`, `induction`, `transduction`, `ensemble` or `arc_lm`.
"""
from arc_core.grid import Grid, GridError
from arc_core.task import Dataset, Pair, Task

__all__ = ["Grid", "GridError", "Dataset", "Pair", "Task"]
