"""Hierarchical voting over augmented predictions (TTT paper §4.2 / TTT_METHOD §4), with its full table.

Stage 1, per transform: the predictions (already mapped back through the inverse transform) are
counted; the top 3 distinct grids by count (ties: first seen) are that transform's votes. With fewer
than 3 distinct grids the list is filled with the row-wise majority grid and then the column-wise
majority grid of that transform's predictions (these may repeat a grid already listed: a transform
with a single prediction casts three votes for it, as in the released code).
Stage 2, across transforms: every distinct grid gets one vote per listing; grids are ranked by votes,
ties broken in favour of the identity transform (more identity predictions first), then by first
appearance. Nothing depends on set or hash order.

`VoteTable` keeps everything (per-transform counts, stage-1 lists, totals) for reports, and
serialises with `to_dict` / `from_dict`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from arc_core.grid import Grid

TOP_PER_TRANSFORM = 3


def _mode(items: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """Most common item; ties go to the one seen first."""
    counts = Counter(items)
    best = max(counts.values())
    return next(x for x in items if counts[x] == best)


def _majority_shape(grids: Sequence[Grid]) -> list[Grid]:
    shape = _mode([g.shape for g in grids])
    return [g for g in grids if g.shape == shape]


def row_majority(grids: Sequence[Grid]) -> Grid:
    """Among grids of the most common shape, the most common row at each row index."""
    same = _majority_shape(grids)
    return Grid(tuple(_mode([g.rows[r] for g in same]) for r in range(same[0].height)))


def column_majority(grids: Sequence[Grid]) -> Grid:
    """Among grids of the most common shape, the most common column at each column index."""
    same = _majority_shape(grids)
    cols = [_mode([tuple(row[c] for row in g.rows) for g in same]) for c in range(same[0].width)]
    return Grid(tuple(tuple(col[r] for col in cols) for r in range(same[0].height)))


def ranked_counts(grids: Sequence[Grid]) -> list[tuple[Grid, int]]:
    """Distinct grids with counts, most frequent first, ties by first appearance."""
    counts = Counter(grids)
    first = {}
    for i, g in enumerate(grids):
        first.setdefault(g, i)
    return sorted(counts.items(), key=lambda gc: (-gc[1], first[gc[0]]))


def transform_votes(grids: Sequence[Grid]) -> list[Grid]:
    """Stage 1 for one transform: top 3, filled with row- then column-majority grids."""
    if not grids:
        return []
    top = [g for g, _ in ranked_counts(grids)[:TOP_PER_TRANSFORM]]
    fillers = [row_majority(grids), column_majority(grids)]
    while len(top) < TOP_PER_TRANSFORM and fillers:
        top.append(fillers.pop(0))
    return top


@dataclass(frozen=True)
class Tally:
    """One distinct candidate grid's totals."""

    grid: Grid
    votes: int                      # stage-2 votes
    identity_count: int             # identity-transform predictions of it (tie-break)
    count: int                      # raw predictions of it, all transforms
    transforms: tuple[str, ...]     # transforms whose stage-1 list contains it, in transform order

    def to_dict(self) -> dict:
        return {"grid": self.grid.to_list(), "votes": self.votes, "identity_count": self.identity_count,
                "count": self.count, "transforms": list(self.transforms)}

    @classmethod
    def from_dict(cls, d: dict) -> Tally:
        return cls(Grid.parse(d["grid"]), d["votes"], d["identity_count"], d["count"], tuple(d["transforms"]))


@dataclass(frozen=True)
class VoteTable:
    """The full vote for one test input. `ranked[0]` is the first attempt."""

    test_index: int
    per_transform: dict[str, list[tuple[Grid, int]]]   # transform -> distinct predictions with counts
    stage1: dict[str, list[Grid]]                      # transform -> its (up to 3) votes
    ranked: tuple[Tally, ...]

    def to_dict(self) -> dict:
        return {
            "test_index": self.test_index,
            "per_transform": {t: [[g.to_list(), c] for g, c in gc] for t, gc in self.per_transform.items()},
            "stage1": {t: [g.to_list() for g in gs] for t, gs in self.stage1.items()},
            "ranked": [t.to_dict() for t in self.ranked],
        }

    @classmethod
    def from_dict(cls, d: dict) -> VoteTable:
        return cls(
            d["test_index"],
            {t: [(Grid.parse(g), c) for g, c in gc] for t, gc in d["per_transform"].items()},
            {t: [Grid.parse(g) for g in gs] for t, gs in d["stage1"].items()},
            tuple(Tally.from_dict(x) for x in d["ranked"]),
        )


def hierarchical_vote(test_index: int, predictions: Sequence[tuple[str, Grid | None]],
                      identity: str = "identity") -> VoteTable:
    """Vote over (transform name, back-mapped grid or None for a failed parse) predictions."""
    by_transform: dict[str, list[Grid]] = {}
    for name, grid in predictions:
        by_transform.setdefault(name, [])
        if grid is not None:
            by_transform[name].append(grid)
    stage1 = {name: transform_votes(grids) for name, grids in by_transform.items()}
    pooled = [g for name in by_transform for g in stage1[name]]
    votes = Counter(pooled)
    all_preds = [g for grids in by_transform.values() for g in grids]
    raw = Counter(all_preds)
    identity_counts = Counter(by_transform.get(identity, []))
    order: dict[Grid, int] = {}
    for g in pooled:
        order.setdefault(g, len(order))
    tallies = [
        Tally(g, votes[g], identity_counts[g], raw[g], tuple(n for n in by_transform if g in stage1[n]))
        for g in order
    ]
    tallies.sort(key=lambda t: (-t.votes, -t.identity_count, order[t.grid]))
    per_transform = {name: ranked_counts(grids) for name, grids in by_transform.items()}
    return VoteTable(test_index, per_transform, stage1, tuple(tallies))
