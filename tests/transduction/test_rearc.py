"""re-ARC tasks drawn offline from reasoning-gym's generators: spec, filters, determinism, provenance."""
from __future__ import annotations

import pytest

from transduction.rearc import ReArcSpec, generate, generator_ids

SMALL = {"demos": (2, 3), "max_side": 8}
SOME = ("007bbfb7", "0d3d703e", "25ff71a9", "3c9b0459", "6150a2bd", "a85d4709")


def test_spec_parsing_and_validation():
    assert ReArcSpec.parse("rearc:12") == ReArcSpec(12)
    assert ReArcSpec.parse("rearc:each=3", max_side=10) == ReArcSpec(3, per_generator=True, max_side=10)
    for bad in ("rearc", "rearc:", "rearc:x", "rearc:each=", "re-arc:5"):
        with pytest.raises(ValueError, match="rearc:N"):
            ReArcSpec.parse(bad)
    with pytest.raises(ValueError, match=">= 1"):
        ReArcSpec(0)
    with pytest.raises(ValueError, match="max_side"):
        ReArcSpec(1, max_side=31)
    with pytest.raises(ValueError, match="demos"):
        ReArcSpec(1, demos=(3, 2))
    with pytest.raises(ValueError, match="both included and excluded"):
        ReArcSpec(1, include=("007bbfb7",), exclude=("007bbfb7",))
    assert ReArcSpec(1, max_side=12).bounds == (0.0, 0.4)


def test_generators_are_the_400_arc1_training_tasks(arc1):
    ids = generator_ids()
    assert len(ids) == 400 and set(ids) == set(arc1[0].ids())
    with pytest.raises(ValueError, match="did you mean '007bbfb7'"):
        ReArcSpec(1, include=("007bbfb8",)).selected(ids)


def test_counts_spread_in_all_or_per_generator():
    gens = list(SOME)
    total = ReArcSpec(8).counts(gens)
    assert sum(total.values()) == 8 and set(total.values()) == {1, 2}
    assert ReArcSpec(8).counts(gens) == total  # seeded
    assert ReArcSpec(2, per_generator=True).counts(gens) == {g: 2 for g in gens}
    assert len(ReArcSpec(3).counts(gens)) == 3  # fewer tasks than generators: only some draw


def test_drawn_tasks_respect_the_filters_and_are_deterministic():
    spec = ReArcSpec(2, per_generator=True, include=SOME, **SMALL)
    data = generate(spec)
    assert set(data.generators) <= set(SOME) and len(data.dataset) == sum(data.per_generator.values())
    for tid, task in data.dataset.tasks.items():
        generator = tid.split("-")[1]
        assert generator in SOME and 2 <= len(task.train) <= 3 and task.n_test == 1
        grids = [*task.all_grids(), *data.dataset.solutions[tid]]
        assert all(max(g.shape) <= 8 for g in grids)
        assert len({p.input for p in task.train} | set(task.test_inputs)) == len(task.train) + 1  # distinct inputs
    again = generate(spec)
    assert again.digest() == data.digest() and again.dataset.ids() == data.dataset.ids()
    # a task depends on (seed, generator, index) only: dropping a generator leaves the others' tasks as they were
    fewer = generate(ReArcSpec(2, per_generator=True, include=SOME[1:], **SMALL))
    assert fewer.dataset.ids() == [t for t in data.dataset.ids() if SOME[0] not in t]
    assert all(fewer.dataset.tasks[t] == data.dataset.tasks[t] for t in fewer.dataset.ids())
    other = generate(ReArcSpec(2, per_generator=True, include=SOME, seed=1, **SMALL))
    assert other.digest() != data.digest()


def test_source_records_generators_seed_counts_and_digest():
    data = generate(ReArcSpec(4, include=SOME[:2], **SMALL))
    src = data.source()
    assert src.kind == "rearc" and src.name.startswith("reasoning-gym==")
    assert src.task_ids == data.generators and src.n_tasks == len(data.dataset)
    d = src.details
    assert d["spec"]["seed"] == 0 and d["spec"]["difficulty"] == [0.0, 8 / 30] and d["tasks_digest"] == data.digest()
    assert d["per_generator"] == data.per_generator and d["stats"]["draws"] >= 4 * 3
    assert sum(d["stats"]["rejected"].values()) + 4 * 3 <= d["stats"]["draws"] + 4  # every draw accounted for


def test_impossible_filters_skip_tasks_and_say_so():
    # 007bbfb7's outputs are its inputs scaled by their side (2x2 -> 4x4 at the least): never 1x1
    with pytest.raises(ValueError, match="no task could be drawn"):
        generate(ReArcSpec(2, include=("007bbfb7",), max_side=1, max_tries=5))
    data = generate(ReArcSpec(3, per_generator=True, include=("007bbfb7", "6150a2bd"), max_side=3, max_tries=5))
    assert data.generators == ("6150a2bd",) and data.stats.skipped_tasks["007bbfb7"] == 3
    assert data.stats.rejected["over max_side"] >= 15
