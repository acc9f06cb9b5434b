"""Hierarchical voting on hand-made prediction tables, tie rules, majority fillers, rankings."""
from __future__ import annotations

import pytest

from transduction.selection import select
from transduction.voting import (VoteTable, column_majority, hierarchical_vote, ranked_counts, row_majority,
                                 transform_votes)


def test_majority_grids(grid):
    gs = [grid("12", "34"), grid("12", "99"), grid("55", "34"), grid("1")]
    assert row_majority(gs) == grid("12", "34")
    cols = [grid("12", "34"), grid("72", "84"), grid("15", "36")]
    assert column_majority(cols) == grid("12", "34")
    assert row_majority([grid("1"), grid("2"), grid("34")]) == grid("1")  # shape tie: first seen


def test_transform_votes_fill_and_single_prediction(grid):
    a, b = grid("1"), grid("2")
    assert transform_votes([a]) == [a, a, a]           # one prediction casts three votes
    assert transform_votes([a, b, a]) == [a, b, row_majority([a, b, a])]
    assert transform_votes([]) == []
    many = [grid("1"), grid("2"), grid("2"), grid("3"), grid("4"), grid("4"), grid("4")]
    assert transform_votes(many) == [grid("4"), grid("2"), grid("1")]


def test_across_transforms_top2(grid):
    a, b, c = grid("1"), grid("2"), grid("3")
    preds = [("identity", a), ("identity", a), ("identity", b),
             ("rot90", b), ("flipud", b), ("transpose", c)]
    table = hierarchical_vote(0, preds)
    # identity lists [a, b, rowmaj=a]; rot90, flipud: [b,b,b]; transpose [c,c,c]
    assert [t.grid for t in table.ranked] == [b, c, a]
    assert [t.votes for t in table.ranked] == [7, 3, 2]
    assert table.ranked[0].transforms == ("identity", "rot90", "flipud")
    assert table.per_transform["identity"] == [(a, 2), (b, 1)]


def test_tie_prefers_identity_then_first_seen(grid):
    a, b, c = grid("1"), grid("2"), grid("3")
    table = hierarchical_vote(0, [("rot90", a), ("identity", b)])
    assert [t.grid for t in table.ranked] == [b, a]  # 3 votes each; b is the identity's answer
    table = hierarchical_vote(0, [("rot90", a), ("fliplr", c)])
    assert [t.grid for t in table.ranked] == [a, c]  # no identity: first seen
    table = hierarchical_vote(0, [("identity", a), ("identity", b), ("identity", b), ("rot90", a)])
    # identity [b, a, rowmaj=b]: b 2 votes; rot90 [a,a,a]: a 4 votes
    assert [(t.grid, t.votes) for t in table.ranked] == [(a, 4), (b, 2)]


def test_failed_parses_are_ignored_but_kept_in_table(grid):
    table = hierarchical_vote(0, [("identity", None), ("rot90", grid("1"))])
    assert table.per_transform["identity"] == [] and table.stage1["identity"] == []
    assert [t.grid for t in table.ranked] == [grid("1")]
    assert hierarchical_vote(1, [("identity", None)]).ranked == ()


def test_table_round_trip(grid):
    table = hierarchical_vote(2, [("identity", grid("12")), ("rot90", grid("3")), ("rot90", grid("12"))])
    assert VoteTable.from_dict(table.to_dict()) == table


def test_rankings(grid):
    a, b, c = grid("1"), grid("2"), grid("3")
    table = hierarchical_vote(0, [("identity", a), ("identity", a), ("identity", b), ("rot90", c)])
    # votes: a 3 (identity a,a? -> [a, b, rowmaj a]) => a 2, b 1, c 3
    order = [t.grid for t in select(table, [], None, "votes", 0)]
    assert order == [t.grid for t in table.ranked]
    scores = {a: -1.0, b: -0.5, c: -9.0}
    s = [scores[t.grid] for t in table.ranked]
    assert [t.grid for t in select(table, [], s, "score", 2)] == [b, a, c]
    by_votes_then_score = [t.grid for t in select(table, [], s, "votes-then-score", 2)]
    votes = {t.grid: t.votes for t in table.ranked}
    assert by_votes_then_score == sorted(scores, key=lambda g: (-votes[g], -scores[g]))
    with pytest.raises(ValueError, match="score_views"):
        select(table, [], None, "score", 2)


def test_ranked_counts_stable(grid):
    a, b = grid("1"), grid("2")
    assert ranked_counts([b, a, a, b]) == [(b, 2), (a, 2)]
