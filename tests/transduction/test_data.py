"""TTT data: determinism, caps, augmentation invariants, and the test-output leakage test."""
from __future__ import annotations

import dataclasses

from arc_core.grid import Grid
from arc_core.task import Dataset, Pair, Task
from transduction.config import DataConfig, InferConfig
from transduction.data import TTTData, leave_one_out, leave_two_out
from transduction.recipes import build_ttt_data
from transduction.formats import get_format
from transduction.queries import build_queries


def test_same_seed_same_bytes_other_seed_differs(arc1):
    task = arc1[0].tasks["007bbfb7"]
    a, b = build_ttt_data(task, DataConfig()), build_ttt_data(task, DataConfig())
    assert a.digest() == b.digest() and a.examples == b.examples
    c = build_ttt_data(task, DataConfig(seed=1))
    assert c.digest() != a.digest()
    assert TTTData.from_dict(a.to_dict()) == a


def test_cap_and_leave_two_out_top_up(arc1):
    task = arc1[0].tasks["007bbfb7"]  # 5 demos: 80 leave-one-out candidates, top-up needed for 250
    full = build_ttt_data(task, DataConfig(max_examples=250))
    assert len(full.examples) == 250
    assert any(pt.name.startswith("lto") for pt in full.examples)
    assert all(len(pt.demos) in (3, 4) for pt in full.examples)
    loo = build_ttt_data(task, DataConfig(max_examples=250, leave_two_out=False))
    assert len(loo.examples) == 5 * 8 * 2 and all(pt.name.startswith("loo") for pt in loo.examples)
    assert len(build_ttt_data(task, DataConfig(max_examples=7)).examples) == 7


def test_augmentation_applies_to_every_grid_alike(flip_task):
    """The rule (flip upside down) commutes with colour maps, so every pseudo-task still obeys it
    under flips/rot180 (which commute with flipud)."""
    cfg = DataConfig(dihedral=("identity", "flipud", "fliplr", "rot180"), max_examples=1000)
    data = build_ttt_data(flip_task, cfg)
    for pt in data.examples:
        for p in (*pt.demos, (Pair(pt.query_input, pt.query_output))):
            assert p.output.rows == p.input.rows[::-1], pt.name
    coloured = [pt for pt in data.examples if "colours:" in pt.name]
    assert coloured, "copies > 0 should carry colour permutations"
    assert all(pt.name.split("colours:")[1][0] == "0" for pt in coloured)  # 0 stays 0


def test_oversize_and_token_limit_dropped(grid):
    big = Grid(tuple(tuple((r + c) % 10 for c in range(16)) for r in range(16)))
    task = Task("big", (Pair(big, big), Pair(big, big)), (big,))
    data = build_ttt_data(task, DataConfig(dihedral=("identity",), training_only=("upscale2",), copies=1,
                                           leave_two_out=False))
    assert data.n_too_large == 2 and len(data.examples) == 1  # upscaled 32x32 dropped; two identical bases
    assert all(max(g.shape) <= 30 for pt in data.examples for g in pt.grids())
    fmt = get_format("compact")
    counted = build_ttt_data(task, DataConfig(max_tokens=100), lambda pt: len(fmt.encode(pt).text))
    assert counted.examples == () and counted.n_too_long > 0


def test_single_demo_and_leave_two_out_shapes(grid):
    pairs = [Pair(grid(str(i)), grid(str(i + 1))) for i in range(4)]
    assert [len(b.demos) for b in leave_one_out(pairs[:1])] == [0]
    assert len(leave_two_out(pairs)) == 12 and all(len(b.demos) == 2 for b in leave_two_out(pairs))
    assert leave_two_out(pairs[:2]) == []


def test_poisoned_solutions_change_nothing(arc1):
    """Leakage test: the TTT data and the inference prompts do not depend on the test outputs."""
    train = arc1[0]
    ids = ["007bbfb7", "0d3d703e"]
    ds = train.select(ids)
    poison = Grid(((9, 9), (9, 9)))
    poisoned = Dataset(ds.name, ds.tasks, {t: tuple(poison for _ in ds.solutions[t]) for t in ids})
    fmt = get_format("compact")
    for tid in ids:
        clean_data = build_ttt_data(ds.tasks[tid], DataConfig())
        dirty_data = build_ttt_data(poisoned.tasks[tid], DataConfig())
        assert clean_data.digest() == dirty_data.digest()
        truth = ds.solutions[tid]
        assert not any(g in truth for pt in clean_data.examples for g in pt.grids() if g not in ds.tasks[tid].all_grids())
        prompts = [fmt.encode(q.pseudo_task).text for q in build_queries(ds.tasks[tid], InferConfig())]
        assert prompts == [fmt.encode(q.pseudo_task).text for q in build_queries(poisoned.tasks[tid], InferConfig())]
    assert {f.name for f in dataclasses.fields(Task)} == {"id", "train", "test_inputs"}  # no outputs to leak


def test_auto_colour_permutation_follows_the_demonstrations(flip_task, grid):
    """permute_colours="auto": a task whose outputs add no colour is permuted (as with True, byte for
    byte); a task whose outputs introduce a colour (a fixed colour map) is not (as with False)."""
    import pytest

    from transduction.data import introduces_colours, permutes_colours

    recolour = Task("recolour", (Pair(grid("12", "03"), grid("45", "06")), Pair(grid("1"), grid("4"))), (grid("2"),))
    assert not introduces_colours(flip_task) and introduces_colours(recolour)
    auto = DataConfig(permute_colours="auto")
    assert permutes_colours(flip_task, auto) and not permutes_colours(recolour, auto)
    for task, same_as in ((flip_task, True), (recolour, False)):
        want = build_ttt_data(task, DataConfig(permute_colours=same_as)).digest()
        assert build_ttt_data(task, auto).digest() == want, task.id
    assert not any("colours:" in pt.name for pt in build_ttt_data(recolour, auto).examples)
    # background 0 appearing in an output is not a new colour (a border of zeros)
    border = Task("border", (Pair(grid("1"), grid("010")),), (grid("2"),))
    assert not introduces_colours(border)
    with pytest.raises(ValueError, match="permute_colours"):
        DataConfig(permute_colours="sometimes")


def test_auto_colour_permutation_from_the_command_line():
    from arc_core.config import parse_overrides
    from transduction.config import preset

    assert preset("cpu-small", parse_overrides(["data.permute_colours=auto"])).data.permute_colours == "auto"
    assert preset("cpu-small", parse_overrides(["data.permute_colours=false"])).data.permute_colours is False
