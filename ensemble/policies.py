"""Ensemble policies: turn both solvers' ranked candidates into two attempts per test input.

A policy is a pure function of a `PolicyInput` (one task's candidates, split by where they came
from) returning one `FinalAttempt` list per test input. Every attempt records the policy *branch*
that chose it (`"prefer-programs:verified-program"`, `"barc:transduction"`, ...), so reports can say
why an answer was submitted.

Registry (`POLICIES`, looked up with `get_policy`, "did you mean" on typos):
- `prefer-programs` (default): per test input, outputs of verified programs in induction's rank
  order, then transduction candidates not already chosen, then (last resort) induction's
  near-miss candidates, until two attempts.
- `barc`: per task, induction's top 2 when any program is verified for the task, else
  transduction's top 2 (the rule behind the TTT paper's 61.9%). A slot the chosen source leaves
  empty is filled from the other source (branch `...-fill`): an empty attempt can never score.
- `transduction-only`, `induction-only`: one source, top 2 (induction-only also uses near-misses).

Within a source candidates are taken in `rank` order (ties kept in the order given); a grid equal to
one already chosen for the same test input is skipped, so duplicates across sources never take
both attempts.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from arc_core.candidates import Candidate, Source
from arc_core.grid import Grid
from arc_core.scoring import MAX_ATTEMPTS


@dataclass(frozen=True)
class PolicyInput:
    """One task's candidates as the policies see them.

    verified:     induction candidates produced by programs that pass every demonstration.
    near_miss:    other induction candidates (the opt-in near-miss fallback), possibly empty.
    transduction: transduction candidates.
    Each maps test index -> candidates ranked best first (sorted again here by `rank`).
    """

    task_id: str
    n_test: int
    verified: Mapping[int, Sequence[Candidate]] = field(default_factory=dict)
    near_miss: Mapping[int, Sequence[Candidate]] = field(default_factory=dict)
    transduction: Mapping[int, Sequence[Candidate]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_test < 1:
            raise ValueError(f"task {self.task_id}: n_test must be >= 1, got {self.n_test}")
        for name in ("verified", "near_miss", "transduction"):
            for i, cands in getattr(self, name).items():
                if not 0 <= i < self.n_test:
                    raise ValueError(f"task {self.task_id}: {name} candidates for test index {i}, "
                                     f"but the task has {self.n_test} test input(s)")
                for c in cands:
                    if c.task_id != self.task_id or c.test_index != i:
                        raise ValueError(f"task {self.task_id}: {name}[{i}] holds a candidate for "
                                         f"task {c.task_id} test {c.test_index}")

    @property
    def any_verified(self) -> bool:
        return any(self.verified.get(i) for i in range(self.n_test))


@dataclass(frozen=True)
class FinalAttempt:
    """One submitted attempt (1-based `attempt`) and why it was chosen."""

    task_id: str
    test_index: int
    attempt: int
    grid: Grid
    source: Source
    branch: str
    candidate_rank: int
    provenance: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id, "test_index": self.test_index, "attempt": self.attempt,
            "grid": self.grid.to_list(), "source": self.source.value, "branch": self.branch,
            "candidate_rank": self.candidate_rank, "provenance": list(self.provenance),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> FinalAttempt:
        return cls(d["task_id"], int(d["test_index"]), int(d["attempt"]), Grid.parse(d["grid"], "attempt"),
                   Source(d["source"]), d["branch"], int(d["candidate_rank"]), tuple(d.get("provenance", ())))


Policy = Callable[[PolicyInput], list[list[FinalAttempt]]]


def _ranked(cands: Iterable[Candidate]) -> list[Candidate]:
    """Best first by rank; Python's sort is stable, so equal ranks keep the order given."""
    return sorted(cands, key=lambda c: c.rank)


class _Picker:
    """Fills up to MAX_ATTEMPTS distinct grids for one test input."""

    def __init__(self, task_id: str, test_index: int) -> None:
        self.task_id, self.test_index = task_id, test_index
        self.chosen: list[FinalAttempt] = []

    @property
    def full(self) -> bool:
        return len(self.chosen) >= MAX_ATTEMPTS

    def take(self, cands: Iterable[Candidate], branch: str, limit: int = MAX_ATTEMPTS) -> None:
        """Take candidates in rank order, skipping grids already chosen, `limit` at most."""
        taken = 0
        for c in _ranked(cands):
            if self.full or taken >= limit:
                return
            if any(a.grid == c.grid for a in self.chosen):
                continue
            self.chosen.append(FinalAttempt(self.task_id, self.test_index, len(self.chosen) + 1, c.grid,
                                            c.source, branch, c.rank, c.provenance))
            taken += 1


def prefer_programs(inp: PolicyInput) -> list[list[FinalAttempt]]:
    out = []
    for i in range(inp.n_test):
        p = _Picker(inp.task_id, i)
        p.take(inp.verified.get(i, ()), "prefer-programs:verified-program")
        p.take(inp.transduction.get(i, ()), "prefer-programs:transduction")
        p.take(inp.near_miss.get(i, ()), "prefer-programs:near-miss-program")
        out.append(p.chosen)
    return out


def barc(inp: PolicyInput) -> list[list[FinalAttempt]]:
    use_induction = inp.any_verified
    out = []
    for i in range(inp.n_test):
        p = _Picker(inp.task_id, i)
        if use_induction:
            p.take(inp.verified.get(i, ()), "barc:induction")
            p.take(inp.transduction.get(i, ()), "barc:transduction-fill")
        else:
            p.take(inp.transduction.get(i, ()), "barc:transduction")
            p.take(inp.near_miss.get(i, ()), "barc:near-miss-fill")
        out.append(p.chosen)
    return out


def transduction_only(inp: PolicyInput) -> list[list[FinalAttempt]]:
    out = []
    for i in range(inp.n_test):
        p = _Picker(inp.task_id, i)
        p.take(inp.transduction.get(i, ()), "transduction-only:transduction")
        out.append(p.chosen)
    return out


def induction_only(inp: PolicyInput) -> list[list[FinalAttempt]]:
    out = []
    for i in range(inp.n_test):
        p = _Picker(inp.task_id, i)
        p.take(inp.verified.get(i, ()), "induction-only:verified-program")
        p.take(inp.near_miss.get(i, ()), "induction-only:near-miss-program")
        out.append(p.chosen)
    return out


POLICIES: dict[str, Policy] = {
    "prefer-programs": prefer_programs,
    "barc": barc,
    "transduction-only": transduction_only,
    "induction-only": induction_only,
}


def get_policy(name: str) -> Policy:
    """The policy registered under `name`; a clear error with a suggestion otherwise."""
    if name not in POLICIES:
        close = difflib.get_close_matches(name, list(POLICIES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown ensemble policy {name!r}: {hint}known: {', '.join(POLICIES)}")
    return POLICIES[name]


def apply_policy(name: str, inp: PolicyInput) -> list[list[FinalAttempt]]:
    """Run the named policy and check its output shape (internal invariant)."""
    attempts = get_policy(name)(inp)
    assert len(attempts) == inp.n_test, (name, len(attempts), inp.n_test)
    assert all(len(a) <= MAX_ATTEMPTS for a in attempts)
    return attempts


def attempts_tuple(attempts: Sequence[FinalAttempt]) -> tuple[Grid | None, Grid | None]:
    """One test input's attempts as `arc_core.scoring.Attempts` (None where a slot is empty)."""
    grids = [a.grid for a in sorted(attempts, key=lambda a: a.attempt)]
    grids += [None] * (MAX_ATTEMPTS - len(grids))
    return (grids[0], grids[1])
