"""Augmentation scoring: K views, one shared prompt per view, summed log-probs; HF backend path."""
from __future__ import annotations

import pytest

from arc_core.grid import Grid
from arc_core.task import Pair, Task
from arc_lm.api import ScoreResult
from transduction.augscore import score_candidates, score_views
from transduction.formats import get_format


class LengthScorer:
    """log p(continuation) = -len(text) / 10 (enough to check bookkeeping)."""

    name = "length"

    def __init__(self):
        self.requests = []

    def score(self, requests):
        self.requests += list(requests)
        return [ScoreResult(tuple(-len(c) / 10 for c in r.continuations), tuple(len(c) for c in r.continuations))
                for r in requests]


def _task(grid):
    return Task("s", (Pair(grid("12", "34"), grid("21", "43")), Pair(grid("5"), grid("5"))), (grid("67", "80"),))


def test_views_are_deterministic_and_start_with_identity(grid):
    views = score_views(_task(grid), 10, seed=0)
    assert views == score_views(_task(grid), 10, seed=0)
    assert views[0].name == "identity" and views[1].dihedral == "rot90"
    assert views[8].dihedral == "identity" and not views[8].colours.is_identity()
    assert views[8].colours.perm[0] == 0


def test_scores_sum_over_views(grid, embedded_tokenizer):
    task = _task(grid)
    cands = [grid("76", "08"), Grid(((1,),))]
    backend = LengthScorer()
    fmt = get_format("compact")
    scores = score_candidates(task, 0, cands, fmt, embedded_tokenizer, backend, k=3, seed=0, adapter="/a")
    assert len(backend.requests) == 3 and all(r.adapter == "/a" for r in backend.requests)
    # compact answers keep their length under every dihedral view of a square / 1x1 grid
    assert scores == pytest.approx([-3 * len("76\n08") / 10, -3 * 1 / 10])
    assert score_candidates(task, 0, cands, fmt, embedded_tokenizer, backend, k=0, seed=0) == [0.0, 0.0]


def test_marc_scoring_with_tiny_model(grid, tiny_tm):
    task = _task(grid)
    fmt = get_format("marc")
    from arc_lm.hf_backend import HFBackend

    backend = HFBackend.from_model(tiny_tm.model, tiny_tm.tokenizer)
    scores = score_candidates(task, 0, [grid("76", "08"), grid("1")], fmt, tiny_tm.tokenizer, backend, 2, 0)
    assert len(scores) == 2 and all(s < 0 for s in scores)
