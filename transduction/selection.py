"""Choosing among a test input's candidates: pool (greedy views + DFS), rank by a named rule.

The pool of a test input is the vote table's grids (greedy augmented predictions, in the voting
rule's order) followed by grids only DFS found (most probable first). Every pooled grid records its
sources: "greedy:<transform>" (with "x<n>" when n prompts of that transform gave it) and
"dfs:<view>" for each view whose search found it.

Rankings (`RANKINGS`; the key is `infer.ranking`):
- `votes`: the voting rule's order (`infer.voting`, see transduction.voting): every grid of the vote
  table in the table's order, 0-vote grids included (marc's stage 2 can rank a majority-filler
  grid that no group listed second: it stays second, so the two attempts submitted are the rule's
  own whenever they differ); grids only DFS found come after, by how often they were found, then
  DFS log-prob.
- `score`: the ARChitects' product of experts: summed log-probability over K augmented views
  (transduction.augscore), highest first.
- `votes-then-score`: votes, then score.
- `nvarc`: NVARC's pick as described publicly: how often the grid was found (greedy predictions
  plus DFS views) plus its mean log-probability over the K views, highest first.
Ties always fall back to pool order. Each `Selected` keeps the numbers behind its rank.
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from arc_core.grid import Grid
from transduction.dfs import DFSHit
from transduction.voting import VoteTable


@dataclass(frozen=True)
class Selected:
    """One ranked candidate and the numbers of every rule (None where not computed)."""

    grid: Grid
    value: float | None            # the ranking rule's key (None for `votes`)
    votes: float                   # the voting rule's votes (0 for DFS-only grids)
    found: int                     # greedy predictions of it + DFS views that found it
    score_sum: float | None        # summed log-prob over the K scoring views
    dfs_logprob: float | None      # best DFS log-prob over views
    sources: tuple[str, ...]
    table_rank: int | None = None  # position in the vote table's ranking (None: found by DFS only)

    def to_dict(self) -> dict:
        return {**asdict(self), "grid": self.grid.to_list(), "sources": list(self.sources)}

    @classmethod
    def from_dict(cls, d: dict) -> Selected:
        return cls(**{**d, "grid": Grid.parse(d["grid"]), "sources": tuple(d["sources"])})


def pool(table: VoteTable, hits: Sequence[DFSHit]) -> list[Grid]:
    """The table's grids, then DFS-only grids (best log-prob first, ties by first found)."""
    grids = [t.grid for t in table.ranked]
    seen = set(grids)
    best: dict[Grid, float] = {}
    for h in hits:
        if h.test_index == table.test_index and h.grid not in seen:
            best[h.grid] = max(best.get(h.grid, h.logprob), h.logprob)
    return grids + sorted(best, key=lambda g: -best[g])


def _facts(table: VoteTable, hits: Sequence[DFSHit], grids: Sequence[Grid],
           scores: Sequence[float] | None) -> list[Selected]:
    tally = {t.grid: t for t in table.ranked}
    rank_of = {t.grid: r for r, t in enumerate(table.ranked)}
    greedy_sources: dict[Grid, list[str]] = {}
    greedy_count: dict[Grid, int] = {}
    for name, gc in table.per_transform.items():
        for g, c in gc:
            greedy_sources.setdefault(g, []).append(f"greedy:{name}" + (f"x{c}" if c > 1 else ""))
            greedy_count[g] = greedy_count.get(g, 0) + c
    out = []
    for i, g in enumerate(grids):
        mine = [h for h in hits if h.test_index == table.test_index and h.grid == g]
        dfs_sources = list(dict.fromkeys(f"dfs:{h.view}" for h in mine))
        sources = tuple(greedy_sources.get(g, []) + dfs_sources)
        out.append(Selected(g, None, float(tally[g].votes) if g in tally else 0.0,
                            greedy_count.get(g, 0) + len(dfs_sources),
                            None if scores is None else float(scores[i]),
                            max((h.logprob for h in mine), default=None), sources, rank_of.get(g)))
    return out


def _by(value: Callable[[Selected, int], float],
        primary: Callable[[Selected], float] = lambda s: 0.0) -> Callable[[list[Selected], int], list[Selected]]:
    """A ranking by `primary` then `value` (highest first), then pool order."""
    def rank(items: list[Selected], k: int) -> list[Selected]:
        valued = [_with_value(s, value(s, k)) for s in items]
        order = sorted(range(len(valued)), key=lambda i: (-primary(valued[i]), -(valued[i].value or 0.0), i))
        return [valued[i] for i in order]
    return rank


def _with_value(s: Selected, value: float) -> Selected:
    return dataclasses.replace(s, value=value)


def _votes(items: list[Selected], k: int) -> list[Selected]:
    """The vote table's order (by `table_rank`, not by votes > 0), then DFS-only grids."""
    greedy = sorted((s for s in items if s.table_rank is not None), key=lambda s: s.table_rank)
    dfs_only = [s for s in items if s.table_rank is None]
    dfs_only.sort(key=lambda s: (-s.found, -(s.dfs_logprob or 0.0)))
    return greedy + dfs_only


def _need_scores(s: Selected) -> float:
    if s.score_sum is None:
        raise ValueError("this ranking needs augmentation scores (set infer.score_views > 0)")
    return s.score_sum


RANKINGS: dict[str, Callable[[list[Selected], int], list[Selected]]] = {
    "votes": _votes,
    "score": _by(lambda s, k: _need_scores(s)),
    "votes-then-score": _by(lambda s, k: _need_scores(s), primary=lambda s: s.votes),
    "nvarc": _by(lambda s, k: s.found + _need_scores(s) / max(k, 1)),
}


def get_ranking(name: str) -> Callable[[list[Selected], int], list[Selected]]:
    if name not in RANKINGS:
        close = difflib.get_close_matches(name, list(RANKINGS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(RANKINGS)}"
        raise ValueError(f"unknown ranking {name!r} ({hint})")
    return RANKINGS[name]


def select(table: VoteTable, hits: Sequence[DFSHit], scores: Sequence[float] | None, ranking: str,
           k: int) -> list[Selected]:
    """The pool of `table.test_index` (see `pool`) ranked by `ranking`; `scores` aligned with `pool`."""
    grids = pool(table, hits)
    if scores is not None and len(scores) != len(grids):
        raise ValueError(f"{len(scores)} scores for {len(grids)} pooled candidates")
    return get_ranking(ranking)(_facts(table, hits, grids, scores), k)
