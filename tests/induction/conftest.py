"""Fixtures of the induction tests: a small synthetic task (output = input flipped upside down)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arc_core.grid import Grid
from arc_core.task import Dataset, Pair, Task


def _grid(rng: np.random.Generator, h: int, w: int) -> Grid:
    return Grid.from_array(rng.integers(0, 10, size=(h, w)))


@pytest.fixture
def flip_task() -> Task:
    """3 demonstrations and 2 test inputs of `np.flipud`; shapes vary so shape bugs show."""
    rng = np.random.default_rng(7)
    inputs = [_grid(rng, 3, 4), _grid(rng, 5, 2), _grid(rng, 4, 4)]
    train = tuple(Pair(g, Grid.from_array(np.flipud(g.to_array()))) for g in inputs)
    return Task("flip0001", train, (_grid(rng, 3, 3), _grid(rng, 2, 5)))


@pytest.fixture
def flip_dataset(flip_task) -> Dataset:
    sols = tuple(Grid.from_array(np.flipud(g.to_array())) for g in flip_task.test_inputs)
    return Dataset("synthetic", {flip_task.id: flip_task}, {flip_task.id: sols})


@pytest.fixture
def task_file(tmp_path, flip_task, flip_dataset) -> Path:
    """The flip task (with its test outputs) as a task JSON file, usable as `--dataset`."""
    sols = flip_dataset.solutions[flip_task.id]
    obj = {"train": [{"input": p.input.to_list(), "output": p.output.to_list()} for p in flip_task.train],
           "test": [{"input": g.to_list(), "output": s.to_list()} for g, s in zip(flip_task.test_inputs, sols)]}
    path = tmp_path / f"{flip_task.id}.json"
    path.write_text(json.dumps(obj))
    return path
