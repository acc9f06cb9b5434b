"""Ranking: weighted plurality over verified programs, identity filter, near-miss fallback."""
from __future__ import annotations

from arc_core.candidates import Candidate, Source
from arc_core.grid import Grid
from arc_core.task import Pair, Task
from induction.config import InductionConfig
from induction.dedupe import Program
from induction.rank import rank_candidates
from induction.verify import PairCheck, Prediction, Verification

IN = Grid(((1, 2), (3, 4)))
OUT = Grid(((3, 4), (1, 2)))
T0 = Grid(((5, 6), (7, 8)))
X = Grid(((7, 8), (5, 6)))
Y = Grid(((0, 0), (0, 0)))
Z = Grid(((9,),))
TASK = Task("t", (Pair(IN, OUT), Pair(OUT, IN)), (T0,))


def prog(pid: str, mult: int, first: int) -> Program:
    return Program(pid, "src", "src", mult, tuple(f"{pid}:{i}" for i in range(mult)), first)


def ver(pid: str, exact: tuple[bool, ...], test_out: Grid | None, acc: float = 1.0, status: str = "ok") -> Verification:
    train = tuple(PairCheck("ok", OUT, e, 1.0 if e else acc) for e in exact)
    return Verification(pid, status, train, (Prediction(status, test_out),))


def test_plurality_by_total_weight_with_provenance():
    programs = [prog("a", 1, 0), prog("b", 3, 1), prog("c", 2, 2), prog("d", 5, 3)]
    vers = [ver("a", (True, True), X), ver("b", (True, True), Y), ver("c", (True, True), X),
            ver("d", (True, False), Z)]  # d is not verified: its 5 votes do not count
    cands, near = rank_candidates(TASK, programs, vers, InductionConfig())
    assert not near
    (c0, c1) = cands[0]
    assert (c0.grid, c0.weight, c0.rank) == (X, 3.0, 0) and c0.provenance == ("c", "a")
    assert (c1.grid, c1.weight, c1.rank) == (Y, 3.0, 1)  # tie on weight: earlier first-seen (a) wins
    assert all(c.source is Source.INDUCTION and c.score is None and c.task_id == "t" for c in cands[0])


def test_identity_outputs_discarded_by_default():
    programs = [prog("a", 10, 0), prog("b", 1, 1)]
    vers = [ver("a", (True, True), T0), ver("b", (True, True), X)]
    cands, _ = rank_candidates(TASK, programs, vers, InductionConfig())
    assert [c.grid for c in cands[0]] == [X]
    cands, _ = rank_candidates(TASK, programs, vers, InductionConfig(discard_identity=False))
    assert [c.grid for c in cands[0]] == [T0, X]


def test_failed_test_runs_do_not_vote():
    programs = [prog("a", 4, 0), prog("b", 1, 1)]
    vers = [ver("a", (True, True), None, status="timeout"), ver("b", (True, True), X)]
    cands, _ = rank_candidates(TASK, programs, vers, InductionConfig())
    assert [c.grid for c in cands[0]] == [X]


def test_near_miss_is_opt_in_and_ranked_by_accuracy():
    programs = [prog("a", 9, 0), prog("b", 1, 1), prog("c", 1, 2)]
    vers = [ver("a", (False, False), X, acc=0.25), ver("b", (False, True), Y, acc=0.5),
            ver("c", (False, False), Z, acc=0.0)]
    assert rank_candidates(TASK, programs, vers, InductionConfig()) == ({0: []}, False)
    cands, near = rank_candidates(TASK, programs, vers, InductionConfig(near_miss=True))
    assert near and [c.grid for c in cands[0]] == [Y, X]  # c (accuracy 0) does not vote
    assert cands[0][0].score == 0.75  # mean over demos: (0.5 + 1.0) / 2
    cands, _ = rank_candidates(TASK, programs, vers, InductionConfig(near_miss=True, near_miss_min_accuracy=0.5))
    assert [c.grid for c in cands[0]] == [Y]


def test_near_miss_unused_when_something_verified():
    programs = [prog("a", 1, 0), prog("b", 9, 1)]
    vers = [ver("a", (True, True), X), ver("b", (False, True), Y, acc=0.9)]
    cands, near = rank_candidates(TASK, programs, vers, InductionConfig(near_miss=True))
    assert not near and [c.grid for c in cands[0]] == [X]


def test_max_candidates_and_round_trip():
    programs = [prog(p, 1, i) for i, p in enumerate("abc")]
    vers = [ver("a", (True, True), X), ver("b", (True, True), Y), ver("c", (True, True), Z)]
    cands, _ = rank_candidates(TASK, programs, vers, InductionConfig(max_candidates=2))
    assert len(cands[0]) == 2
    assert [Candidate.from_dict(c.to_dict()) for c in cands[0]] == cands[0]
