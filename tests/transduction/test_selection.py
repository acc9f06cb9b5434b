"""Pooling greedy and DFS candidates and ranking them (score, nvarc, votes) on hand-made tables."""
from __future__ import annotations

import pytest

from transduction.dfs import DFSHit
from transduction.selection import Selected, pool, select
from transduction.voting import hierarchical_vote


def test_pool_sources_and_rankings(grid):
    a, b, c = grid("1"), grid("2"), grid("3")
    table = hierarchical_vote(0, [("identity", a), ("identity", a), ("rot90", b)])
    # votes: identity [a, a, a] -> 3; rot90 [b, b, b] -> 3; tie -> identity count -> a first
    hits = [DFSHit(0, "identity", c, -0.2), DFSHit(0, "rot90", c, -0.4), DFSHit(0, "identity", b, -0.9),
            DFSHit(1, "identity", a, -0.1)]   # another test input: ignored
    assert pool(table, hits) == [a, b, c]
    by_votes = select(table, hits, None, "votes", 0)
    assert [s.grid for s in by_votes] == [a, b, c]
    assert by_votes[0].sources == ("greedy:identityx2",) and by_votes[0].found == 2
    assert by_votes[1].sources == ("greedy:rot90", "dfs:identity") and by_votes[1].found == 2
    assert by_votes[2].sources == ("dfs:identity", "dfs:rot90") and by_votes[2].dfs_logprob == -0.2
    scores = [-6.0, -2.0, -4.0]                       # summed over k = 4 views
    assert [s.grid for s in select(table, hits, scores, "score", 4)] == [b, c, a]
    # nvarc: found + mean score: a 2 - 1.5 = 0.5; b 2 - 0.5 = 1.5; c 2 - 1.0 = 1.0
    ranked = select(table, hits, scores, "nvarc", 4)
    assert [(s.grid, s.value) for s in ranked] == [(b, 1.5), (c, 1.0), (a, 0.5)]
    # votes-then-score: a and b have 3 votes; b scores higher
    assert [s.grid for s in select(table, hits, scores, "votes-then-score", 4)] == [b, a, c]


def test_errors_and_round_trip(grid):
    a = grid("1")
    table = hierarchical_vote(0, [("identity", a)])
    with pytest.raises(ValueError, match="score_views"):
        select(table, [], None, "nvarc", 0)
    with pytest.raises(ValueError, match="did you mean 'nvarc'"):
        select(table, [], [0.0], "nvrac", 1)
    with pytest.raises(ValueError, match="1 pooled"):
        select(table, [], [0.0, 1.0], "score", 1)
    s = select(table, [DFSHit(0, "identity", a, -0.5)], [-1.0], "score", 1)[0]
    assert Selected.from_dict(s.to_dict()) == s
    assert DFSHit.from_dict(DFSHit(0, "rot90", a, -0.5).to_dict()) == DFSHit(0, "rot90", a, -0.5)


def test_transduce_task_with_dfs_and_nvarc(tiny_tm, flip_task, tiny_config, tmp_path, transduce):
    """The whole recipe with DFS candidates, marc voting and the nvarc ranking, on the tiny model."""
    from transduction.pipeline import TransductionResult

    cfg = tiny_config(infer={"max_new_tokens": 12, "dfs_views": 2, "dfs_threshold": 0.001, "score_views": 2,
                             "ranking": "nvarc", "voting": "marc"})
    res = transduce(flip_task, tiny_tm, cfg, tmp_path)
    assert res.vote_tables[0].rule == "marc"
    assert {h.view for h in res.dfs} <= {"identity", "transpose"} and res.dfs
    cands = res.candidates[0]
    assert all(c.score is not None for c in cands)
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    dfs_grids = {h.grid for h in res.dfs}
    assert all(any(s.startswith("dfs:") for s in c.provenance) for c in cands if c.grid in dfs_grids)
    assert TransductionResult.from_dict(res.to_dict()).to_dict() == res.to_dict()


def test_votes_ranking_submits_the_rules_own_attempts():
    """Property over seeded random tables of every voting rule: the `votes` ranking keeps the table's
    order, so the two grids submitted (the top two candidates) are the rule's own attempts whenever
    they differ. marc's stage 2 can rank second a majority-filler grid that no group listed (0
    votes); treating 0 votes as "DFS only" used to push it down (about 1 table in 200 of these)."""
    import random

    from arc_core.grid import Grid
    from transduction.voting import VOTING_RULES

    transforms = ["identity", "transpose", "flipud", "fliplr", "rot90", "rot180"]
    checked = 0
    for seed in range(800):
        rng = random.Random(seed)
        grids = [Grid(((rng.randrange(3), rng.randrange(3)),)) for _ in range(4)]
        preds = [(rng.choice(transforms), rng.choice(grids) if rng.random() > 0.1 else None)
                 for _ in range(rng.randint(1, 12))]
        for name, rule in VOTING_RULES.items():
            table = rule(0, preds)
            submitted = [s.grid for s in select(table, [], None, "votes", 0)]
            assert submitted == [t.grid for t in table.ranked], (seed, name)
            if len(set(table.top2)) == 2:
                assert tuple(submitted[:2]) == table.top2, (seed, name)
                checked += 1
    assert checked > 2000
