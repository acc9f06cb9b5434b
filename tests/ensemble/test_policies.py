"""Ensemble policies on hand-made candidate sets: ties, duplicates across sources, fewer than two
candidates, multiple test inputs, and the per-attempt branch record."""
from __future__ import annotations

import pytest

from arc_core.candidates import Candidate, Source
from arc_core.grid import Grid
from ensemble.policies import POLICIES, FinalAttempt, PolicyInput, apply_policy, attempts_tuple, get_policy

G = {k: Grid(((k,),)) for k in range(10)}


def cand(src: Source, i: int, k: int, rank: int, task: str = "t") -> Candidate:
    return Candidate(task, i, G[k], src, rank, weight=1.0, provenance=(f"{src.value[0]}{k}",))


def ind(i, k, rank):
    return cand(Source.INDUCTION, i, k, rank)


def tra(i, k, rank):
    return cand(Source.TRANSDUCTION, i, k, rank)


def picked(attempts: list[list[FinalAttempt]]) -> list[list[tuple[int, str]]]:
    return [[(a.grid.rows[0][0], a.branch.split(":")[1]) for a in per] for per in attempts]


CASES = [
    # name, policy, input kwargs, expected [(colour, branch) per attempt] per test input
    ("programs first then transduction", "prefer-programs",
     dict(n_test=1, verified={0: [ind(0, 1, 0)]}, transduction={0: [tra(0, 2, 0), tra(0, 3, 1)]}),
     [[(1, "verified-program"), (2, "transduction")]]),
    ("duplicate across sources skipped", "prefer-programs",
     dict(n_test=1, verified={0: [ind(0, 1, 0)]}, transduction={0: [tra(0, 1, 0), tra(0, 3, 1)]}),
     [[(1, "verified-program"), (3, "transduction")]]),
    ("two programs fill both", "prefer-programs",
     dict(n_test=1, verified={0: [ind(0, 4, 1), ind(0, 5, 0)]}, transduction={0: [tra(0, 2, 0)]}),
     [[(5, "verified-program"), (4, "verified-program")]]),
    ("rank ties keep the given order", "prefer-programs",
     dict(n_test=1, transduction={0: [tra(0, 7, 0), tra(0, 6, 0), tra(0, 5, 0)]}),
     [[(7, "transduction"), (6, "transduction")]]),
    ("fewer than two candidates", "prefer-programs",
     dict(n_test=1, transduction={0: [tra(0, 2, 0)]}), [[(2, "transduction")]]),
    ("no candidates at all", "prefer-programs", dict(n_test=2), [[], []]),
    ("near-miss only as last resort", "prefer-programs",
     dict(n_test=1, near_miss={0: [ind(0, 8, 0)]}, transduction={0: [tra(0, 2, 0)]}),
     [[(2, "transduction"), (8, "near-miss-program")]]),
    ("multiple test inputs independent", "prefer-programs",
     dict(n_test=2, verified={1: [ind(1, 1, 0)]}, transduction={0: [tra(0, 2, 0), tra(0, 3, 1)], 1: [tra(1, 4, 0)]}),
     [[(2, "transduction"), (3, "transduction")], [(1, "verified-program"), (4, "transduction")]]),
    ("barc: any verified -> induction for every test input", "barc",
     dict(n_test=2, verified={0: [ind(0, 1, 0)]},
          transduction={0: [tra(0, 2, 0), tra(0, 3, 1)], 1: [tra(1, 4, 0), tra(1, 5, 1)]}),
     [[(1, "induction"), (2, "transduction-fill")], [(4, "transduction-fill"), (5, "transduction-fill")]]),
    ("barc: nothing verified -> transduction top 2", "barc",
     dict(n_test=1, near_miss={0: [ind(0, 9, 0)]}, transduction={0: [tra(0, 2, 0), tra(0, 3, 1), tra(0, 4, 2)]}),
     [[(2, "transduction"), (3, "transduction")]]),
    ("barc: duplicates across sources", "barc",
     dict(n_test=1, verified={0: [ind(0, 2, 0), ind(0, 3, 1)]}, transduction={0: [tra(0, 2, 0)]}),
     [[(2, "induction"), (3, "induction")]]),
    ("transduction-only ignores programs", "transduction-only",
     dict(n_test=1, verified={0: [ind(0, 1, 0)]}, transduction={0: [tra(0, 2, 0)]}), [[(2, "transduction")]]),
    ("induction-only ignores transduction", "induction-only",
     dict(n_test=1, verified={0: [ind(0, 1, 0)]}, near_miss={}, transduction={0: [tra(0, 2, 0)]}),
     [[(1, "verified-program")]]),
    ("duplicates within one source", "transduction-only",
     dict(n_test=1, transduction={0: [tra(0, 2, 0), tra(0, 2, 1), tra(0, 3, 2)]}),
     [[(2, "transduction"), (3, "transduction")]]),
]


@pytest.mark.parametrize("name,policy,kwargs,expected", CASES, ids=[c[0] for c in CASES])
def test_policy_cases(name, policy, kwargs, expected):
    inp = PolicyInput("t", **kwargs)
    out = apply_policy(policy, inp)
    assert picked(out) == expected
    for i, per in enumerate(out):
        assert [a.attempt for a in per] == list(range(1, len(per) + 1))
        assert all(a.test_index == i and a.task_id == "t" and a.branch.startswith(policy + ":") for a in per)


def test_attempt_records_provenance_and_roundtrips():
    out = apply_policy("prefer-programs", PolicyInput("t", 1, verified={0: [ind(0, 1, 0)]}))
    a = out[0][0]
    assert a.source is Source.INDUCTION and a.provenance == ("i1",) and a.candidate_rank == 0
    assert FinalAttempt.from_dict(a.to_dict()) == a


def test_attempts_tuple_pads_with_none():
    out = apply_policy("prefer-programs", PolicyInput("t", 1, transduction={0: [tra(0, 2, 0)]}))
    assert attempts_tuple(out[0]) == (G[2], None)
    assert attempts_tuple([]) == (None, None)


def test_unknown_policy_suggests():
    with pytest.raises(ValueError, match="did you mean 'barc'"):
        get_policy("bark")
    assert set(POLICIES) == {"prefer-programs", "barc", "transduction-only", "induction-only"}


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_test=1, transduction={1: [tra(1, 2, 0)]}), "test index 1"),
    (dict(n_test=1, transduction={0: [tra(1, 2, 0)]}), "holds a candidate"),
    (dict(n_test=0), "n_test"),
])
def test_bad_inputs_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PolicyInput("t", **kwargs)
