"""Voting over augmented predictions (TTT paper §4.2 / TTT_METHOD §4), with its full table; rule registry.

Rules (`VOTING_RULES`, all deterministic, none depends on set or hash order):
- `votes` (default): the hierarchical vote below.
- `once-per-group`: the same, but a grid counts at most once per transform group (a single-prediction
  group gives its answer 1 vote, not 3).
- `plurality`: flat count of all predictions of all views (ties: identity count, then first seen).
- `marc`: the released code's `arclib/voting.py: vote` (`marc_vote`), pooled "all"
  group included, for reproduction.

`votes`, stage 1, per transform: the predictions (already mapped back through the inverse transform) are
counted; the top 3 distinct grids by count (ties: first seen) are that transform's votes. With fewer
than 3 distinct grids the list is filled with the row-wise majority grid and then the column-wise
majority grid of that transform's predictions (these may repeat a grid already listed: a transform
with a single prediction casts three votes for it, as in the released code).
Stage 2, across transforms: every distinct grid gets one vote per listing; grids are ranked by votes,
ties broken in favour of the identity transform (more identity predictions first), then by first
appearance. Nothing depends on set or hash order.

Differences of `votes` from marc's rule (each measured in bench/results/ttt_select.md): no pooled
"all" group; fillers are the row-/column-majority grids over the grids of the majority shape only
(marc: every grid with a row of the right width); stage 2 ranks by votes with the identity count
breaking every tie (marc: only 2nd-vs-3rd, and its stage 2 fills with majority grids again);
ties in stage 1 go to the first seen (marc: set order); a two-way tie for first place yields two
different attempts (marc may repeat its first attempt, see `marc_vote`).

`VoteTable` keeps everything (per-transform counts, stage-1 lists, totals) for reports, and
serialises with `to_dict` / `from_dict`.
"""
from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Sequence
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
    rule: str = "votes"                                # key of VOTING_RULES that made it
    attempts: tuple[Grid, ...] | None = None           # the rule's own two attempts when they differ from
                                                       # ranked[:2] (marc: may repeat the first)

    @property
    def top2(self) -> tuple[Grid, ...]:
        """The two attempts the rule itself submits."""
        return self.attempts if self.attempts is not None else tuple(t.grid for t in self.ranked[:2])

    def to_dict(self) -> dict:
        return {
            "test_index": self.test_index, "rule": self.rule,
            "attempts": [g.to_list() for g in self.attempts] if self.attempts is not None else None,
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
            d.get("rule", "votes"),
            tuple(Grid.parse(g) for g in d["attempts"]) if d.get("attempts") is not None else None,
        )


def group_predictions(predictions: Sequence[tuple[str, Grid | None]]) -> dict[str, list[Grid]]:
    """Parsed grids by transform group, groups in order of first appearance (failed parses kept as empty)."""
    by_transform: dict[str, list[Grid]] = {}
    for name, grid in predictions:
        by_transform.setdefault(name, [])
        if grid is not None:
            by_transform[name].append(grid)
    return by_transform


def hierarchical_vote(test_index: int, predictions: Sequence[tuple[str, Grid | None]],
                      identity: str = "identity", once_per_group: bool = False) -> VoteTable:
    """Vote over (transform name, back-mapped grid or None for a failed parse) predictions."""
    by_transform = group_predictions(predictions)
    stage1 = {name: transform_votes(grids) for name, grids in by_transform.items()}
    if once_per_group:
        stage1 = {name: list(dict.fromkeys(gs)) for name, gs in stage1.items()}
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
    return VoteTable(test_index, per_transform, stage1, tuple(tallies),
                     "once-per-group" if once_per_group else "votes")


def plurality_vote(test_index: int, predictions: Sequence[tuple[str, Grid | None]],
                   identity: str = "identity") -> VoteTable:
    """Flat plurality: one vote per prediction, all views pooled (ties: identity count, first seen)."""
    by_transform = group_predictions(predictions)
    all_preds = [g for grids in by_transform.values() for g in grids]
    identity_counts = Counter(by_transform.get(identity, []))
    order = {g: i for i, g in reversed(list(enumerate(all_preds)))}
    raw = Counter(all_preds)
    tallies = [Tally(g, raw[g], identity_counts[g], raw[g], tuple(n for n in by_transform if g in by_transform[n]))
               for g in sorted(raw, key=lambda g: (-raw[g], -identity_counts[g], order[g]))]
    per_transform = {name: ranked_counts(grids) for name, grids in by_transform.items()}
    return VoteTable(test_index, per_transform, {}, tuple(tallies), "plurality")


# ---- marc's rule, for reproduction -------------------------------------------------------------
# Group keys of the released code: the inverse transform's name; the pooled "all" group comes first.
MARC_GROUPS = {"identity": "identity", "transpose": "Transpose()", "flipud": "Flip(0)", "fliplr": "Flip(1)",
               "rot180": "Rotate(180)", "rot90": "Rotate(270)"}


def _marc_majority(grids: Sequence[Grid], columns: bool) -> Grid:
    """marc's row_base_majority_voting: most common shape; per row index, the most common row among
    all grids having that row with the majority width (not only grids of the majority shape)."""
    rows_of = [tuple(zip(*g.rows)) if columns else g.rows for g in grids]
    h, w = _mode([(len(r), len(r[0])) for r in rows_of])
    out = tuple(_mode([r[i] for r in rows_of if len(r) > i and len(r[i]) == w]) for i in range(h))
    return Grid(tuple(zip(*out))) if columns else Grid(out)


def marc_top3(grids: Sequence[Grid]) -> list[Grid]:
    """marc's get_all_type_of_votingsv2. Over the distinct grids (marc: set order; here first seen)
    with their counts: 1st = `np.argmax` (the first of the highest count); 2nd and 3rd = positions
    -2 and -3 of `np.argsort` of the counts with numpy's default sort, as in the released code (not
    stable: on count ties the 2nd can be the 1st again, and the order follows numpy's algorithm). A
    2nd equal to the 1st becomes the row-majority grid, or the column-majority grid if that too
    equals the 1st; a 3rd already listed becomes the row-majority grid if new, else the
    column-majority grid (which may repeat)."""
    import numpy as np

    unique = list(dict.fromkeys(grids))
    counts = Counter(grids)
    array = np.array([counts[g] for g in unique])
    first = unique[int(np.argmax(array))]
    order = np.argsort(array)
    second = unique[int(order[-2])] if len(unique) > 1 else first
    third = unique[int(order[-3])] if len(unique) > 2 else first
    rows, cols = _marc_majority(grids, False), _marc_majority(grids, True)
    if second == first:
        second = rows if rows != first else cols
    if third in (first, second):
        third = rows if rows not in (first, second) else cols
    return [first, second, third]


def marc_vote(test_index: int, predictions: Sequence[tuple[str, Grid | None]],
              identity: str = "identity") -> VoteTable:
    """The released code's vote: top-3 of every group and of the pooled "all" group, then top-3 of
    that pooled list (same fill rule); if the 2nd and 3rd have equal counts the one more frequent
    among identity predictions takes 2nd place (the 3rd on a tie; no swap at all when no identity
    prediction parsed: the released code's lookup fails there and is caught). Attempts: (1st, 2nd), which
    repeat when stage 2 found a single grid or the swap put the 1st's twin in 2nd place. Groups the
    released code does not know (rot270, antitranspose) are kept, after its own, so none is lost."""
    by_transform = group_predictions(predictions)
    groups = {"all": [g for gs in by_transform.values() for g in gs]}
    known = [t for t in MARC_GROUPS if t in by_transform] + [t for t in by_transform if t not in MARC_GROUPS]
    groups.update({t: by_transform[t] for t in known})
    stage1 = {name: marc_top3(gs) for name, gs in groups.items() if gs}
    pooled = [g for gs in stage1.values() for g in gs]
    per_transform = {name: ranked_counts(grids) for name, grids in by_transform.items()}
    if not pooled:
        return VoteTable(test_index, per_transform, stage1, (), "marc")
    c1, c2, c3 = marc_top3(pooled)
    votes = Counter(pooled)
    identity_counts = Counter(by_transform.get(identity, []))
    if votes[c2] == votes[c3] and by_transform.get(identity):  # marc: no identity group -> KeyError, no swap
        if identity_counts[c2] > identity_counts[c3]:
            c3 = c2
        else:
            c2 = c3
    raw = Counter(groups["all"])
    rest = [g for g, _ in ranked_counts(pooled) if g not in (c1, c2)]
    order = list(dict.fromkeys([c1, c2, *rest]))
    tallies = tuple(Tally(g, votes[g], identity_counts[g], raw[g], tuple(n for n in stage1 if g in stage1[n]))
                    for g in order)
    return VoteTable(test_index, per_transform, stage1, tallies, "marc", (c1, c2))


VOTING_RULES: dict[str, Callable[[int, Sequence[tuple[str, Grid | None]]], VoteTable]] = {
    "votes": hierarchical_vote,
    "once-per-group": lambda i, preds: hierarchical_vote(i, preds, once_per_group=True),
    "plurality": plurality_vote,
    "marc": marc_vote,
}


def get_voting_rule(name: str) -> Callable[[int, Sequence[tuple[str, Grid | None]]], VoteTable]:
    if name not in VOTING_RULES:
        close = difflib.get_close_matches(name, list(VOTING_RULES), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(VOTING_RULES)}"
        raise ValueError(f"unknown voting rule {name!r} ({hint})")
    return VOTING_RULES[name]
