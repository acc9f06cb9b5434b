"""The one grid type used at every API boundary, and its one validator.

A `Grid` is immutable and hashable (a tuple of row tuples, as in re-arc), so it can be a dict key
in vote tables and compared with `==`. Valid means: rectangular, 1-30 rows x 1-30 columns, every
cell an int in 0..9. `Grid.parse` accepts nested lists/tuples or an integer numpy array and raises
`GridError` (a `ValueError`) whose message says *where* the grid came from and what is wrong.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_SIDE = 30
N_COLOURS = 10


class GridError(ValueError):
    """An invalid grid; the message names its origin (task, pair, input/output) and the defect."""


def _problem(obj: object) -> str | None:
    """Return what is wrong with `obj` as a grid, or None if it is valid."""
    if isinstance(obj, np.ndarray):
        if obj.ndim != 2:
            return f"array has {obj.ndim} dimensions, expected 2"
        if obj.dtype == np.bool_ or not np.issubdtype(obj.dtype, np.integer):
            return f"array dtype is {obj.dtype}, expected an integer type"
        rows = obj.shape[0]
        cols = obj.shape[1]
        if not (1 <= rows <= MAX_SIDE and 1 <= cols <= MAX_SIDE):
            return f"size {rows}x{cols} is outside 1..{MAX_SIDE} x 1..{MAX_SIDE}"
        lo, hi = int(obj.min()), int(obj.max())
        if lo < 0 or hi >= N_COLOURS:
            return f"cell value {lo if lo < 0 else hi} is outside 0..9"
        return None
    if not isinstance(obj, (list, tuple)):
        return f"expected a list of rows, got {type(obj).__name__}"
    if not 1 <= len(obj) <= MAX_SIDE:
        return f"has {len(obj)} rows, expected 1..{MAX_SIDE}"
    width = None
    for r, row in enumerate(obj):
        if not isinstance(row, (list, tuple)):
            return f"row {r} is {type(row).__name__}, expected a list"
        if width is None:
            width = len(row)
            if not 1 <= width <= MAX_SIDE:
                return f"row 0 has {width} cells, expected 1..{MAX_SIDE}"
        elif len(row) != width:
            return f"ragged: row {r} has {len(row)} cells, row 0 has {width}"
        if all(type(v) is int for v in row) and 0 <= min(row) and max(row) < N_COLOURS:
            continue  # the common case (JSON ints), checked without the per-cell loop below
        for c, v in enumerate(row):
            # bool is an int subclass; a JSON `true` is not a colour.
            if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
                return f"cell [{r}][{c}] is {v!r} ({type(v).__name__}), expected an int 0..9"
            if not 0 <= v < N_COLOURS:
                return f"cell [{r}][{c}] is {v}, outside 0..9"
    return None


@dataclass(frozen=True, slots=True)
class Grid:
    """An ARC grid. Build one with `Grid.parse` (validating) or `Grid.from_array` (from numpy)."""

    rows: tuple[tuple[int, ...], ...]

    @classmethod
    def parse(cls, obj: object, where: str = "grid") -> Grid:
        """Validate `obj` (nested lists/tuples or an int ndarray) and return a Grid.

        `where` names the origin for the error message, e.g. "task 007bbfc7, train[2].output".
        """
        if isinstance(obj, Grid):
            return obj
        problem = _problem(obj)
        if problem is not None:
            raise GridError(f"{where}: invalid grid: {problem}")
        if isinstance(obj, np.ndarray):  # validated integer array: tolist() gives Python ints
            return cls(tuple(map(tuple, obj.tolist())))
        return cls(tuple(tuple(int(v) for v in row) for row in obj))  # type: ignore[union-attr]

    @classmethod
    def from_array(cls, array: np.ndarray, where: str = "array") -> Grid:
        """Grid from a 2-D integer array (validated: transforms may produce oversize grids)."""
        return cls.parse(np.asarray(array), where)

    def to_array(self) -> np.ndarray:
        """A fresh int64 numpy array (callers may mutate it)."""
        return np.array(self.rows, dtype=np.int64)

    def to_list(self) -> list[list[int]]:
        return [list(row) for row in self.rows]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), len(self.rows[0]))

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    def __str__(self) -> str:
        return "\n".join("".join(str(v) for v in row) for row in self.rows)


def grids_equal(a: Grid | None, b: Grid | None) -> bool:
    """Exact equality; None (no prediction) never equals anything."""
    return a is not None and b is not None and a.rows == b.rows


def as_grids(objs: Sequence[object], where: str) -> tuple[Grid, ...]:
    """Validate a sequence of grids, naming each by index in errors."""
    return tuple(Grid.parse(o, f"{where}[{i}]") for i, o in enumerate(objs))
