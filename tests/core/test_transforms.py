"""Invertible transform table: inverse(apply(g)) == g on every ARC-AGI-1 grid, and group laws.

The all-grid checks run on numpy arrays (the table's own functions), so 800 tasks take about a
second; the Grid-level `Augmentation` round trip then covers every task once with a random
dihedral x colour map x demonstration order.
"""
from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from arc_core.datasets import load_dataset
from arc_core.grid import Grid, GridError
from arc_core.task import Task
from arc_core.transforms import (
    DIHEDRAL,
    PAPER_INFERENCE_TRANSFORMS,
    TRAINING_ONLY,
    Augmentation,
    ColourMap,
    apply_dihedral,
    apply_training_only,
    augment_task,
    dihedral,
    invert_dihedral,
)

ARC1 = ("arc1/training", "arc1/evaluation")


@pytest.fixture(scope="module")
def arc1_tasks() -> list[tuple[Task, tuple[Grid, ...]]]:
    out = []
    for name in ARC1:
        ds = load_dataset(name)
        out += [(ds.tasks[t], ds.solutions[t]) for t in ds.ids()]
    assert len(out) == 800
    return out


@pytest.fixture(scope="module")
def arc1_arrays(arc1_tasks) -> list[np.ndarray]:
    """Every grid of every ARC-AGI-1 task (demonstrations, test inputs and test outputs)."""
    return [g.to_array() for task, sols in arc1_tasks for g in task.all_grids() + sols]


def _f(name: str):
    return DIHEDRAL[name].forward


def _inv(name: str):
    return DIHEDRAL[DIHEDRAL[name].inverse_name].forward


@pytest.mark.parametrize("name", list(DIHEDRAL))
def test_dihedral_inverse_on_every_arc1_grid(name, arc1_arrays):
    fwd, inv = _f(name), _inv(name)
    bad = [i for i, a in enumerate(arc1_arrays) if not np.array_equal(inv(fwd(a)), a)]
    assert not bad, f"{name}: {len(bad)} grids do not round-trip"
    swaps = name in ("rot90", "rot270", "transpose", "antitranspose")
    assert all(fwd(a).shape == (a.shape[::-1] if swaps else a.shape) for a in arc1_arrays)


@pytest.mark.parametrize("keep_zero", [True, False])
def test_colour_maps_invert_on_every_arc1_grid(keep_zero, arc1_arrays):
    rng = np.random.default_rng(7)
    maps = [ColourMap.random(rng, keep_zero=keep_zero) for _ in range(24)]
    fwd = np.array([m.perm for m in maps])
    inv = np.array([m.inverse().perm for m in maps])
    rows = np.arange(len(maps))[:, None, None]
    for a in arc1_arrays:
        mapped = fwd[:, a]  # (k, h, w): every map applied at once
        assert np.array_equal(inv[rows, mapped], np.broadcast_to(a, mapped.shape))
    if keep_zero:
        assert all(m.perm[0] == 0 for m in maps)
    else:
        assert any(m.perm[0] != 0 for m in maps)


def test_augmentation_round_trips_every_arc1_task(arc1_tasks):
    rng = np.random.default_rng(0)
    names = list(DIHEDRAL)
    for i, (task, sols) in enumerate(arc1_tasks):
        order = tuple(int(j) for j in rng.permutation(len(task.train)))
        aug = Augmentation(names[i % 8], ColourMap.random(rng, keep_zero=i % 2 == 0), order)
        seen = augment_task(task, aug)
        assert seen.id == task.id
        assert aug.invert_pairs(seen.train) == task.train, (task.id, aug.name)
        assert tuple(aug.invert(g) for g in seen.test_inputs) == task.test_inputs
        assert tuple(aug.invert(aug.apply(g)) for g in sols) == sols
        # one transform for every grid: augmented pair k is original pair order[k], both sides alike
        k = len(order) - 1
        assert seen.train[k].input == aug.apply(task.train[order[k]].input)
        assert seen.train[k].output == aug.apply(task.train[order[k]].output)


@pytest.fixture(scope="module")
def generic() -> list[np.ndarray]:
    """Arrays with all-distinct cells (so equal results mean equal transforms), square and not."""
    return [np.arange(15).reshape(3, 5), np.arange(16).reshape(4, 4), np.arange(6).reshape(6, 1)]


def _compose(*names: str):
    def run(a):
        for n in reversed(names):  # compose(f, g)(a) == f(g(a))
            a = _f(n)(a)
        return a
    return run


LAWS = [
    (("rot90",) * 4, "identity"),
    (("rot90", "rot270"), "identity"),
    (("rot270", "rot90"), "identity"),
    (("rot90", "rot90"), "rot180"),
    (("rot180", "rot180"), "identity"),
    (("rot90", "rot90", "rot90"), "rot270"),
    (("flipud", "flipud"), "identity"),
    (("fliplr", "fliplr"), "identity"),
    (("transpose", "transpose"), "identity"),
    (("antitranspose", "antitranspose"), "identity"),
    (("rot90", "fliplr"), "transpose"),
    (("flipud", "rot90"), "transpose"),
    (("rot90", "flipud"), "antitranspose"),
    (("flipud", "fliplr"), "rot180"),
    (("transpose", "rot180"), "antitranspose"),
]


@pytest.mark.parametrize("chain,result", LAWS, ids=["∘".join(c) + "=" + r for c, r in LAWS])
def test_composition_laws(chain, result, generic):
    for a in generic:
        assert np.array_equal(_compose(*chain)(a), _f(result)(a))


def test_dihedral_table_is_a_group(generic):
    """Closed under composition, each entry's inverse composes to identity, all 8 distinct."""
    a = generic[0]
    results = {n: _f(n)(a) for n in DIHEDRAL}
    assert len({r.tobytes() + bytes(r.shape) for r in results.values()}) == 8
    for x, y in itertools.product(DIHEDRAL, repeat=2):
        c = _compose(x, y)(a)
        assert sum(r.shape == c.shape and np.array_equal(r, c) for r in results.values()) == 1
    for name, d in DIHEDRAL.items():
        assert DIHEDRAL[d.inverse_name].inverse_name == name
        for g in generic:
            assert np.array_equal(_compose(d.inverse_name, name)(g), g)
            assert np.array_equal(_compose(name, d.inverse_name)(g), g)


def test_colour_maps_commute_with_dihedral(generic):
    rng = np.random.default_rng(3)
    g = Grid.from_array(generic[0] % 10)
    for name in DIHEDRAL:
        cm = ColourMap.random(rng, keep_zero=False)
        one = Augmentation(name, cm).apply(g)
        other = Grid.from_array(cm.apply_array(apply_dihedral(name, g).to_array()))
        assert one == other
        assert invert_dihedral(name, apply_dihedral(name, g)) == g


def test_augmentation_names_are_stable():
    cm = ColourMap((0, 2, 1, 3, 4, 5, 6, 7, 8, 9))
    assert Augmentation().name == "identity"
    assert Augmentation("rot90", cm, (1, 0)).name == "rot90+colours:0213456789+order:1,0"
    assert ColourMap.identity().inverse().is_identity()


def test_bad_transforms_are_rejected():
    with pytest.raises(ValueError, match="not a permutation"):
        ColourMap((0, 0, 1, 2, 3, 4, 5, 6, 7, 8))
    with pytest.raises(ValueError, match="unknown dihedral transform 'rot45'"):
        Augmentation("rot45")
    pairs = augment_task(load_dataset("arc1/training").tasks["007bbfb7"], Augmentation()).train
    with pytest.raises(ValueError, match="not a permutation of 5 pairs"):
        Augmentation(order=(0, 1)).apply_pairs(pairs)
    with pytest.raises(ValueError, match="not a permutation of 5 pairs"):
        Augmentation(order=(0, 1)).invert_pairs(pairs)


@pytest.mark.parametrize("name", list(TRAINING_ONLY))
def test_training_only_table_is_never_offered_as_invertible(name):
    assert name not in DIHEDRAL and name not in PAPER_INFERENCE_TRANSFORMS
    with pytest.raises(ValueError, match="unknown dihedral transform"):
        dihedral(name)
    with pytest.raises(ValueError):
        Augmentation(name)
    g = Grid.parse([[1, 2], [3, 4]])
    out = apply_training_only(name, g)
    assert out.shape != g.shape  # it changes the size: no table inverse could undo it
    with pytest.raises(GridError):
        apply_training_only(name, Grid.parse([[1] * 30] * 30))


def test_training_only_names_and_paper_set():
    assert set(PAPER_INFERENCE_TRANSFORMS) <= set(DIHEDRAL)
    assert not set(TRAINING_ONLY) & set(DIHEDRAL)
    with pytest.raises(ValueError, match="unknown training-only transform"):
        apply_training_only("rot90", Grid.parse([[1]]))


@st.composite
def grids(draw) -> Grid:
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    cells = draw(st.lists(st.integers(0, 9), min_size=h * w, max_size=h * w))
    return Grid.parse([cells[r * w:(r + 1) * w] for r in range(h)])


@settings(max_examples=150, deadline=None, database=None)
@given(g=grids(), name=st.sampled_from(list(DIHEDRAL)), seed=st.integers(0, 2**32 - 1), keep_zero=st.booleans())
def test_augmentation_round_trip_on_random_grids(g, name, seed, keep_zero):
    aug = Augmentation(name, ColourMap.random(np.random.default_rng(seed), keep_zero=keep_zero))
    out = aug.apply(g)
    assert aug.invert(out) == g
    assert sorted(sum(out.rows, ())) == sorted(aug.colours.perm[v] for v in sum(g.rows, ()))
