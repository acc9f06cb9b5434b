"""transduction.limits: what a time budget may cut from a task's train and infer stages, and how TTT
stops at a wall-time cap keeping the adapter trained so far."""
from __future__ import annotations

import pytest

from transduction.config import preset, replace
from transduction.limits import TaskLimits, apply, describe


def test_limits_scale_the_recipe_down_and_never_up():
    cfg = replace(preset("cpu-small"), infer={"dfs_views": 2, "score_views": 4, "ranking": "votes-then-score",
                                              "per_transform": 2})
    assert apply(cfg, None) is cfg and apply(cfg, TaskLimits()) == cfg
    cut = apply(cfg, TaskLimits(max_steps=10, transforms=2, per_transform=1, dfs_views=0, score_views=0, why="late"))
    assert cut.train.max_steps == 10 and cut.infer.transforms == cfg.infer.transforms[:2]
    assert cut.infer.transforms[0] == "identity" and cut.infer.per_transform == 1 and cut.infer.dfs_views == 0
    assert cut.infer.score_views == 1  # the ranking needs scores: one view is kept
    more = apply(cfg, TaskLimits(max_steps=10**6, transforms=99, score_views=9))  # never more work
    assert more.infer == cfg.infer and more.train.min_steps == cfg.train.min_steps
    lines = describe(cfg, TaskLimits(train_seconds=3.0, max_steps=10, transforms=2, why="late"))
    assert lines == ["TTT capped at 3.0 s (late)", "train.max_steps uncapped -> 10 (late)",
                     f"infer.transforms {len(cfg.infer.transforms)} -> 2 (late)"]
    assert TaskLimits.from_dict(TaskLimits(max_steps=3, why="x").to_dict()) == TaskLimits(max_steps=3, why="x")
    with pytest.raises(ValueError, match="max_steps"):
        TaskLimits(max_steps=0)
    with pytest.raises(ValueError, match="train_seconds"):
        TaskLimits(train_seconds=0)
    with pytest.raises(ValueError, match="infer_seconds"):
        TaskLimits(infer_seconds=-1.0)
    assert describe(cfg, TaskLimits(infer_seconds=5.0)) == []  # a cap is reported only when reached


def test_max_steps_caps_the_planned_schedule():
    from transduction.config import TrainConfig
    from transduction.train import batch_plan, schedule

    assert schedule(10, TrainConfig(epochs=2, batch_size=2)).total == 10
    assert schedule(10, TrainConfig(epochs=2, batch_size=2, min_steps=96)).total == 100  # whole epochs
    capped = TrainConfig(epochs=2, batch_size=2, min_steps=96, max_steps=40)
    assert schedule(10, capped).total == 40 and schedule(10, capped).warmup == 4  # the schedule spans the cap
    full = batch_plan(list(range(10)), TrainConfig(epochs=2, batch_size=2, min_steps=96), seed=3)
    assert batch_plan(list(range(10)), capped, seed=3) == full[:40]  # the same first batches


def test_ttt_stops_at_its_time_cap_and_keeps_the_adapter(tiny_tm, flip_task, tiny_config, tmp_path):
    from transduction.pipeline import train_task

    cfg = tiny_config(train={"min_steps": 5000})
    trained = train_task(flip_task, tiny_tm, cfg, tmp_path, limits=TaskLimits(train_seconds=0.3, why="test"))
    rec = trained.train
    assert rec.n_steps == 5000 and 1 <= len(rec.losses) < 5000 and rec.stopped.startswith("time cap of 0.3 s")
    assert trained.adapter is not None  # the partly trained adapter is saved and served
    capped = train_task(flip_task, tiny_tm, cfg, tmp_path / "other", limits=TaskLimits(max_steps=3))
    assert capped.train.n_steps == len(capped.train.losses) == 3 and capped.train.stopped is None


def test_inference_stops_at_its_time_cap_and_says_so(tiny_tm, flip_task, tiny_config, tmp_path):
    # Generation itself stops at the deadline inside a batch (tests/lm/test_hf_backend.py); here a cap
    # spent before the greedy call: nothing is generated, no DFS view starts, and the stage says so.
    from transduction.pipeline import InferenceEngine, infer_tasks, train_task

    cfg = tiny_config(infer={"max_new_tokens": 24, "dfs_views": 1})
    trained = train_task(flip_task, tiny_tm, cfg, tmp_path, limits=TaskLimits(max_steps=1))
    engine = InferenceEngine.on_model(tiny_tm, cfg)
    (res,) = infer_tasks([flip_task], [trained], engine, cfg, [TaskLimits(infer_seconds=1e-6, why="test")])
    assert res.stopped == "infer: greedy inference stopped at its 0.0 s cap (test)"
    assert res.predictions == [] and res.dfs == [] and res.dfs_capped
    assert type(res).from_dict(res.to_dict()).stopped == res.stopped
    (free,) = infer_tasks([flip_task], [trained], engine, cfg, [TaskLimits(infer_seconds=600.0)])
    assert free.stopped is None and free.predictions
