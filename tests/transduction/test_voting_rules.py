"""Golden tests of the voting rules (votes, once-per-group, plurality, marc) on hand-made tables.

Every expected order below is worked out by hand in the comments, from the rules' docstrings.
"""
from __future__ import annotations

import pytest

from transduction.voting import VOTING_RULES, VoteTable, get_voting_rule, marc_top3, marc_vote


def _top2(rule, preds):
    return get_voting_rule(rule)(0, preds).top2


def test_first_place_tie_in_identity(grid):
    a, b = grid("1"), grid("2")
    preds = [("identity", a), ("identity", a), ("identity", b), ("identity", b)]
    # votes: identity top-3 [a, b, rowmaj=a] -> a 2, b 1
    assert _top2("votes", preds) == (a, b)
    # once-per-group: [a, b] -> 1 each, identity counts equal, a seen first
    assert _top2("once-per-group", preds) == (a, b)
    assert _top2("plurality", preds) == (a, b)
    # marc: argmax -> a; np.argsort puts b last, so the 2nd is a again -> row majority a -> column
    # majority a; the 3rd is a as well: every group ("all", identity) lists [a, a, a]; stage 2 sees
    # only a and its 2nd attempt repeats the first.
    table = marc_vote(0, preds)
    assert table.top2 == (a, a)
    assert [t.grid for t in table.ranked] == [a]
    assert table.stage1 == {"all": [a, a, a], "identity": [a, a, a]}


def test_single_prediction_groups_outvote_identity_majority(grid):
    # identity majority a (3 of 4 prompts); five one-prompt transforms each answer c
    a, b, c = grid("1"), grid("2"), grid("3")
    preds = [("identity", a)] * 3 + [("identity", b)]
    preds += [(t, c) for t in ("transpose", "flipud", "fliplr", "rot90", "rot180")]
    # votes: identity [a, b, rowmaj=a] -> a 2, b 1; each transform [c, c, c] -> c 15
    assert [(t.grid, t.votes) for t in get_voting_rule("votes")(0, preds).ranked] == [(c, 15), (a, 2), (b, 1)]
    # once per group: identity [a, b] -> a 1, b 1; c one per group -> 5
    table = get_voting_rule("once-per-group")(0, preds)
    assert [(t.grid, t.votes) for t in table.ranked] == [(c, 5), (a, 1), (b, 1)]
    # plurality: c 5, a 3, b 1
    assert [(t.grid, t.votes) for t in get_voting_rule("plurality")(0, preds).ranked] == [(c, 5), (a, 3), (b, 1)]
    # marc: "all" = [a,a,a,b,c,c,c,c,c] -> [c, a, b]; identity [a, b, then a (the row majority a is
    # listed -> column majority a)]; five [c, c, c] -> c 16, a 3, b 2
    table = marc_vote(0, preds)
    assert table.stage1["all"] == [c, a, b] and table.stage1["identity"] == [a, b, a]
    assert [(t.grid, t.votes) for t in table.ranked] == [(c, 16), (a, 3), (b, 2)]
    assert table.top2 == (c, a)


def test_marc_tie_for_first_in_all_group(grid):
    x, y, z = grid("1"), grid("2"), grid("3")
    preds = [("transpose", x), ("flipud", x), ("fliplr", x), ("identity", z), ("rot180", y), ("identity", y),
             ("identity", y)]
    table = marc_vote(0, preds)
    # "all" = [x,x,x,z,y,y,y]: x and y tie for first -> 2nd is x again -> row majority x -> column
    # majority x; 3rd z. identity [z,y,y] -> [y, z, y]. Stage 2: x 2+9, y 2+3, z 1+1.
    assert table.stage1["all"] == [x, x, z] and table.stage1["identity"] == [y, z, y]
    assert [(t.grid, t.votes) for t in table.ranked] == [(x, 11), (y, 5), (z, 2)]
    assert table.top2 == (x, y)


def test_marc_second_third_tie_swap(grid):
    one, two, three = grid("1"), grid("2"), grid("3")
    preds = [("fliplr", two), ("rot90", three), ("identity", two), ("rot90", one), ("rot90", three)]
    # all [2,3,1,3,2] -> 2 and 3 tie -> 2nd = 2 -> fillers 2 -> [2, 2, 1]; identity, fliplr [2,2,2];
    # rot90 [3,1,3] -> [3, 1, 3]. Stage 2: 2: 8, 1: 2, 3: 2 -> np.argsort puts 3 2nd, 1 3rd; equal
    # counts and equal identity counts (0) -> the 2nd attempt becomes 1.
    table = marc_vote(0, preds)
    assert table.top2 == (two, one)
    # ours: identity [2,2,2], fliplr [2,2,2], rot90 [3,1,3] -> 2: 6, 3: 2, 1: 1
    assert get_voting_rule("votes")(0, preds).top2 == (two, three)


def test_marc_top3_fillers(grid):
    a, b, c, d = grid("1"), grid("2"), grid("3"), grid("4")
    assert marc_top3([a]) == [a, a, a]
    assert marc_top3([a, a, b]) == [a, b, a]           # 3rd: row majority a is listed -> column majority a
    assert marc_top3([d, c, c, b, b, b]) == [b, c, d]
    # three distinct 2x2 grids, one each: 3rd (= 1st) replaced by the row-majority grid, a new grid
    x, y, w = grid("12", "56"), grid("78", "34"), grid("99", "34")
    assert marc_top3([x, y, w]) == [x, y, grid("12", "34")]


def test_rules_round_trip_and_registry(grid):
    a, b = grid("1"), grid("2")
    preds = [("identity", a), ("identity", b), ("identity", b), ("rot90", a)]
    for name, rule in VOTING_RULES.items():
        table = rule(0, preds)
        assert table.rule == name
        assert VoteTable.from_dict(table.to_dict()) == table
        assert {t.grid for t in table.ranked} == {a, b}
    assert marc_vote(0, [("identity", None)]).ranked == ()
    with pytest.raises(ValueError, match="did you mean 'plurality'"):
        get_voting_rule("plurallity")


def test_marc_no_identity_group_skips_the_swap(grid):
    one, two, three = grid("1"), grid("2"), grid("3")
    # the swap case above without its identity prediction: the released code's identity lookup fails
    # (caught), so the 2nd attempt stays 3 instead of becoming 1
    preds = [("fliplr", two), ("rot90", three), ("flipud", two), ("rot90", one), ("rot90", three)]
    assert marc_vote(0, preds).top2 == (two, three)
