"""The one grid validator: every defect gives a GridError naming the origin and the problem."""
from __future__ import annotations

import numpy as np
import pytest

from arc_core.grid import Grid, GridError, as_grids, grids_equal

BAD = [
    ([], "has 0 rows"),
    ([[]], "row 0 has 0 cells"),
    ([[1, 2], [3]], "ragged: row 1 has 1 cells"),
    ([[1, 2], [3, 4], [5, 6, 7]], "ragged: row 2 has 3 cells"),
    ([[0, 11]], "cell [0][1] is 11, outside 0..9"),
    ([[0, -1]], "cell [0][1] is -1, outside 0..9"),
    ([[0, 1.0]], "cell [0][1] is 1.0 (float)"),
    ([[True, 0]], "cell [0][0] is True (bool)"),
    ([[0, "3"]], "cell [0][1] is '3' (str)"),
    ([[None]], "cell [0][0] is None"),
    ([[0] * 31], "row 0 has 31 cells"),
    ([[0]] * 31, "has 31 rows"),
    ([[0] * 31 for _ in range(31)], "has 31 rows"),
    ("0123", "expected a list of rows, got str"),
    ({"a": 1}, "expected a list of rows, got dict"),
    ([1, 2], "row 0 is int"),
    (np.zeros((2, 2, 2), dtype=int), "array has 3 dimensions"),
    (np.zeros((2, 2), dtype=float), "dtype is float64"),
    (np.zeros((2, 2), dtype=bool), "dtype is bool"),
    (np.zeros((0, 3), dtype=int), "size 0x3"),
    (np.full((2, 2), 10), "cell value 10"),
    (np.full((31, 1), 1), "size 31x1"),
]


@pytest.mark.parametrize("obj,message", BAD, ids=[m for _, m in BAD])
def test_invalid_grids_raise_with_origin_and_reason(obj, message):
    with pytest.raises(GridError) as err:
        Grid.parse(obj, "task abc, train[1].output")
    text = str(err.value)
    assert text.startswith("task abc, train[1].output: invalid grid: ")
    assert message in text
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("obj", [[[0]], [[9] * 30] * 30, [[1, 2, 3], [4, 5, 6]], ((1, 2),),
                                 np.array([[3, 4]], dtype=np.int8), [[np.int64(5)]]])
def test_valid_grids_round_trip(obj):
    g = Grid.parse(obj)
    assert g.to_list() == np.asarray(obj).tolist()
    assert g.shape == np.asarray(obj).shape
    assert Grid.from_array(g.to_array()) == g
    assert all(type(v) is int for row in g.rows for v in row)


def test_grid_is_hashable_immutable_value():
    a, b = Grid.parse([[1, 2], [3, 4]]), Grid.parse(np.array([[1, 2], [3, 4]]))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    arr = a.to_array()
    arr[0, 0] = 9  # a fresh array: mutating it leaves the grid alone
    assert a.rows[0][0] == 1
    assert (a.height, a.width) == (2, 2) and str(a) == "12\n34"
    assert Grid.parse(a) is a


def test_grids_equal_treats_none_as_no_match():
    g = Grid.parse([[1]])
    assert grids_equal(g, Grid.parse([[1]]))
    assert not grids_equal(g, Grid.parse([[2]]))
    assert not grids_equal(None, g) and not grids_equal(g, None) and not grids_equal(None, None)


def test_as_grids_names_the_index():
    with pytest.raises(GridError, match=r"^test\[1\]: invalid grid"):
        as_grids([[[1]], [[1, 2], []]], "test")
