"""Runs under a wall-clock budget (ensemble/timebudget.py): durations, the plan on a fake clock, and
runs on the tiny model that end inside their budget with a complete submission, scaled down."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from arc_core.submission import read_submission
from ensemble.timebudget import BudgetConfig, TaskCost, TimeBudget, parse_duration

from .conftest import REPO


@pytest.mark.parametrize("text, seconds", [("240", 240), ("90s", 90), ("90m", 5400), ("1.5h", 5400),
                                           ("12h", 43200), ("1h30m", 5400), (" 2 m ", 120), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "abc", "12x", "1h30", "m", "5m trailing"])
def test_bad_durations_say_how(text):
    with pytest.raises(ValueError, match="time budget"):
        parse_duration(text)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _plan(seconds=1000.0, margin=50.0, **costs):
    clock = Clock()
    default = {t: TaskCost(train_tokens=1000, infer_tokens=100, steps=100, transforms=8, queries=10) for t in "abcd"}
    plan = TimeBudget(BudgetConfig(seconds=seconds, margin_s=margin), {**default, **costs}, workers=1, clock=clock)
    return plan, clock


def _pending(*tasks):
    return {t: ("train", "infer") for t in tasks}


def test_equal_shares_before_any_rate_is_measured():
    plan, _ = _plan()
    lim = plan.limits("a", "train", _pending("a", "b", "c", "d"))
    assert lim.max_steps is None and lim.train_seconds == pytest.approx(950 / 4 * 0.7)
    infer = plan.limits("a", "infer", {"a": ("infer",)})  # no inference rate yet: not cut, only capped
    assert infer.transforms is None and infer.dfs_views is None and infer.infer_seconds == pytest.approx(950)
    assert plan.cuts == {}


def test_work_is_scaled_down_when_behind_and_not_when_ahead():
    plan, clock = _plan()
    plan.observe("train", 100.0, 1000)  # 0.1 s per training token: 100 s a task
    plan.observe("infer", 20.0, 100)    # 20 s a task's inference
    ahead = plan.limits("b", "train", _pending("b", "c", "d"))
    assert ahead.max_steps is None and ahead.train_seconds == pytest.approx(100)  # fits: the full plan
    clock.now += 600  # 350 s left for three tasks needing 360
    behind = plan.limits("b", "train", _pending("b", "c", "d"))
    assert behind.max_steps == 97 and behind.train_seconds == pytest.approx(350 / 360 * 100)
    clock.now += 250  # 100 s left
    infer = plan.limits("b", "infer", {"b": ("infer",), "c": ("train", "infer"), "d": ("train", "infer")})
    assert infer.transforms == 3 and infer.dfs_views == 0 and infer.score_views == 0  # 100/260 of 20 s
    # Its wall cap bounds a runaway generation, not the planned work: two equal shares of what is left.
    assert infer.infer_seconds == pytest.approx(2 * 100 / 3)
    assert [c.split(":")[0] for c in plan.cuts["b"]] == ["train", "infer"]


def test_the_costliest_task_cannot_starve_the_rest():
    big = TaskCost(train_tokens=100_000, infer_tokens=100, steps=500, transforms=8, queries=10)
    plan, _ = _plan(seconds=1000.0, margin=0.0, a=big)
    plan.observe("train", 100.0, 1000)
    plan.observe("infer", 20.0, 100)
    lim = plan.limits("a", "train", _pending("a", "b", "c", "d"))
    equal = 1000 / 4
    assert lim.train_seconds <= 2 * equal  # max_share = 2 equal shares, whatever its cost
    assert "capped at 2x the equal share" in plan.cuts["a"][0]


def test_nothing_starts_past_the_margin_and_what_runs_stops_at_half_of_it():
    plan, clock = _plan(seconds=100.0, margin=20.0)
    clock.now += 79
    assert plan.limits("a", "train", _pending("a")) is not False and not plan.stop_now()
    clock.now += 2
    assert plan.limits("b", "train", _pending("b")) is False
    assert plan.cuts["b"] == ["train: not started, the time budget's margin was reached"]
    assert not plan.stop_now()
    clock.now += 10
    assert plan.stop_now()


def test_budget_settings_validate():
    assert BudgetConfig(seconds=12 * 3600).margin == 600
    assert BudgetConfig(seconds=60).margin == 10
    with pytest.raises(ValueError, match="margin_s"):
        BudgetConfig(seconds=30, margin_s=30)
    with pytest.raises(ValueError, match="max_share"):
        BudgetConfig(max_share=0.5)


def _run_args(tiny_inputs, out, budget, *sets):
    config, _ = tiny_inputs
    args = ["run", "--dataset", "arc1/training", "--tasks", "6150a2bd,25ff71a9,0d3d703e", "--out", str(out),
            "--config", str(config), "--no-induction", "--time-budget", str(budget),
            "--set", "budget.margin_s=2", "--set", "transduction.train.min_steps=2000"]
    for s in sets:
        args += ["--set", s]
    return args


def _complete(path, task_ids):
    sub = read_submission(path)
    assert set(sub) == set(task_ids)
    return sub


def test_a_budgeted_run_ends_in_time_with_a_complete_submission_and_its_cuts(tmp_path, tiny_inputs):
    """2,000 optimiser steps a task would take minutes: under an 8 s budget (2 s margin) the run ends
    inside it, every task answered, each TTT cut short and recorded so."""
    from ensemble.cli import main
    from ensemble.store import RunStore

    out = tmp_path / "run"
    t0 = time.monotonic()
    assert main(_run_args(tiny_inputs, out, 8)) == 0
    assert time.monotonic() - t0 < 8 + 1.0  # the budget, plus what ran before the CLI's clock started
    _complete(out / "submission.json", ["6150a2bd", "25ff71a9", "0d3d703e"])
    with RunStore(out) as s:
        budget = s.get_meta("budget")
        assert budget["seconds"] == 8 and budget["margin_s"] == 2
        done = [t for t in s.task_ids() if s.stage_status(t, "infer") is not None]
        assert done  # at least one task went through both stages
        for t in done:
            train = s.result(t, "train")
            cut = " ".join(train["budget"]["cut"])
            assert "TTT capped" in cut and len(train["train"]["losses"]) < 2000
        unreached = [t for t in s.task_ids() if t not in done]
        assert all("not started" in " ".join(budget["cuts"][t]) for t in unreached)


@pytest.mark.slow
def test_a_run_killed_at_any_moment_leaves_a_valid_complete_submission(tmp_path, tiny_inputs):
    """SIGKILL at several moments of a budgeted run: submission.json is always complete and valid
    (written atomically whenever a task's attempts change); the same command then continues."""
    from ensemble.cli import main

    tasks = ["6150a2bd", "25ff71a9", "0d3d703e"]
    for delay in (2.0, 4.0, 6.0):
        out = tmp_path / f"run-{delay}"
        cmd = [sys.executable, "-m", "ensemble.cli", *_run_args(tiny_inputs, out, 30)]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if (out / "submission.json").exists():  # written before the first stage
            _complete(out / "submission.json", tasks)
            json.loads((out / "submission.json").read_text())
        assert main(_run_args(tiny_inputs, out, 10)) == 0  # a resume with a new budget continues
        _complete(out / "submission.json", tasks)
