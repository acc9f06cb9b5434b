"""Failure isolation: a task whose stage raises (or runs out of memory, or returns a result that
does not fit the task) is recorded failed with its reason; the other tasks complete; the
submission is still complete; `--retry-failed` reruns only the failed stages. Runs in-process
with imported programs only (no model is loaded)."""
from __future__ import annotations

import json

import pytest

import induction.pipeline
from arc_core.candidates import Candidate, Source
from arc_core.grid import Grid
from ensemble.config import build_run_config
from ensemble.runner import RunOptions, run
from ensemble.store import RunStore, StageStatus

TASKS = ("0d3d703e", "25ff71a9", "6150a2bd")


def _cfg(tiny_inputs, **over):
    config, _ = tiny_inputs
    sets = ["induction.n_samples=0", "ensemble.transduction=false"] + [f"{k}={v}" for k, v in over.items()]
    return build_run_config(None, config, sets, dataset="arc1/training", tasks=TASKS)


def test_failing_tasks_are_recorded_and_the_run_goes_on(tmp_path, tiny_inputs, monkeypatch):
    _, programs = tiny_inputs
    real = induction.pipeline.induce_task

    def flaky(task, *args, **kwargs):
        if task.id == "0d3d703e":
            raise RuntimeError("synthetic failure")
        if task.id == "25ff71a9":
            raise MemoryError()
        return real(task, *args, **kwargs)

    monkeypatch.setattr(induction.pipeline, "induce_task", flaky)
    out = tmp_path / "run"
    run(_cfg(tiny_inputs), out, RunOptions(programs_file=programs))
    with RunStore(out) as s:
        assert s.task_status("0d3d703e") == ("failed", "exception")
        assert "synthetic failure" in s.stage("0d3d703e", "induction")["error"]
        assert s.task_status("25ff71a9") == ("failed", "out-of-memory")
        assert s.task_status("6150a2bd") == ("done", None)
        assert len(s.attempts("6150a2bd")) == 1
    sub = json.loads((out / "submission.json").read_text())
    assert sorted(sub) == sorted(TASKS) and sub["0d3d703e"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]

    # Without --retry-failed nothing is redone; with it, only the failed stages are.
    monkeypatch.setattr(induction.pipeline, "induce_task", real)
    run(_cfg(tiny_inputs), out, RunOptions(programs_file=programs))
    with RunStore(out) as s:
        assert s.stage("0d3d703e", "induction")["status"] == "failed"
    run(_cfg(tiny_inputs), out, RunOptions(programs_file=programs, retry_failed=True))
    with RunStore(out) as s:
        assert [s.stage(t, "induction")["starts"] for t in TASKS] == [2, 2, 1]
        assert all(s.task_status(t) == ("done", None) for t in TASKS)
        assert s.stage("25ff71a9", "induction")["error"] is None


def test_invalid_result_is_a_recorded_failure(tmp_path, tiny_inputs, monkeypatch):
    real = induction.pipeline.induce_task

    def wrong_index(task, *args, **kwargs):
        res = real(task, *args, **kwargs)
        bad = Candidate(task.id, 7, Grid(((1,),)), Source.INDUCTION, 0)
        return type(res)(res.task_id, res.samples, res.programs, res.verifications, {7: [bad]})

    monkeypatch.setattr(induction.pipeline, "induce_task", wrong_index)
    out = tmp_path / "run"
    run(_cfg(tiny_inputs), out)
    with RunStore(out) as s:
        assert {s.task_status(t)[1] for t in TASKS} == {"invalid-result"}


def test_policy_change_reensembles_other_changes_refused(tmp_path, tiny_inputs):
    _, programs = tiny_inputs
    out = tmp_path / "run"
    run(_cfg(tiny_inputs), out, RunOptions(programs_file=programs))
    with RunStore(out) as s:
        before = {t: s.stage(t, "ensemble")["starts"] for t in TASKS}
        assert s.attempts("6150a2bd")[0].branch == "prefer-programs:verified-program"
    run(_cfg(tiny_inputs, **{"ensemble.policy": "barc"}), out)
    with RunStore(out) as s:
        assert s.attempts("6150a2bd")[0].branch == "barc:induction"
        assert {t: s.stage(t, "ensemble")["starts"] for t in TASKS} == {t: n + 1 for t, n in before.items()}
        assert all(s.stage(t, "induction")["starts"] == 1 for t in TASKS)
    with pytest.raises(ValueError, match="different configuration.*induction"):
        run(_cfg(tiny_inputs, **{"induction.temperature": 0.1}), out)


def test_another_thread_count_where_models_run_is_refused_on_resume(tmp_path, tiny_inputs):
    """Float reductions on CPU depend on torch's thread count: a resume (or a switch to Ray) with
    another count where models run would mix numerics in one run. An import-only run has no model."""
    from ensemble.runner import _solver_config, model_threads, prepare_run_dir

    cfg = _cfg(tiny_inputs, **{"ensemble.transduction": "true", "torch_threads": 2})
    assert model_threads(cfg) == 2
    ray = build_run_config(None, tiny_inputs[0], ["ray.enabled=true", "ray.threads_per_worker=1"])
    assert model_threads(ray) == 1
    assert "model_threads" not in _solver_config(_cfg(tiny_inputs))  # sandbox only: threads are free
    from ensemble.runner import select_dataset

    ds = select_dataset(cfg)
    with RunStore(tmp_path / "run") as s:
        prepare_run_dir(s, cfg, ds)
        with pytest.raises(ValueError, match="model_threads.*torch_threads / ray.threads_per_worker"):
            prepare_run_dir(s, _cfg(tiny_inputs, **{"ensemble.transduction": "true", "torch_threads": 1}), ds)
        prepare_run_dir(s, cfg, ds)  # the same count resumes


def test_skip_ttt_when_every_test_input_is_verified(tmp_path, tiny_inputs):
    """Both tasks have a verified imported program for every test input: TTT is skipped (no model
    is loaded) and the skip is recorded for the summary and the report."""
    config, programs = tiny_inputs
    cfg = build_run_config(None, config, ["induction.n_samples=0", "ensemble.skip_ttt_when_verified=true"],
                           dataset="arc1/training", tasks=("25ff71a9", "6150a2bd"))
    out = tmp_path / "run"
    ds = run(cfg, out, RunOptions(programs_file=programs))
    from ensemble.summary import summarise

    with RunStore(out) as s:
        for t in ("25ff71a9", "6150a2bd"):
            row = s.stage(t, "train")
            assert row["status"] == "skipped" and "verified-program answer" in row["note"]
            assert s.stage_status(t, "infer") is StageStatus.SKIPPED
        summary = summarise(s, ds)
        assert summary.skipped_ttt == ["25ff71a9", "6150a2bd"] and summary.score.strict_solved == 2


def test_all_tests_verified_needs_every_test_input(synthetic_run):
    from ensemble.graph import all_tests_verified

    _, store, ds = synthetic_run
    assert all_tests_verified(store, ds.tasks["0d3d703e"])
    assert not all_tests_verified(store, ds.tasks["6150a2bd"])


def test_dataset_without_solutions(tmp_path, tiny_inputs):
    """A Kaggle challenges file without solutions: the run completes, no scores, report renders."""
    from arc_core.datasets import load_dataset
    from ensemble.rundir import open_run
    from ensemble.report import render_report

    config, programs = tiny_inputs
    task = load_dataset("arc1/training").tasks["6150a2bd"]
    challenges = {task.id: {"train": [{"input": p.input.to_list(), "output": p.output.to_list()} for p in task.train],
                            "test": [{"input": g.to_list()} for g in task.test_inputs]}}
    path = tmp_path / "hidden_challenges.json"
    path.write_text(json.dumps(challenges))
    cfg = build_run_config(None, config, ["induction.n_samples=0", "ensemble.transduction=false"], dataset=str(path))
    out = tmp_path / "run"
    run(cfg, out, RunOptions(programs_file=programs))
    assert not (out / "scores.json").exists()
    assert json.loads((out / "submission.json").read_text())["6150a2bd"][0]["attempt_1"] != [[0]]
    store, ds = open_run(out)
    with store:
        assert ds.solutions == {}
        page = render_report(store, ds)
    assert "test outputs unknown" in page and 'id="task-6150a2bd"' in page


def test_stage_the_process_keeps_dying_in_is_recorded_crashed(tmp_path, tiny_inputs):
    from ensemble.runner import MAX_CRASHES

    out = tmp_path / "run"
    with RunStore(out) as s:  # two earlier invocations died inside this stage
        s.start_stage("6150a2bd", "induction")
        assert s.recover(MAX_CRASHES, retry_failed=False) == []  # the second invocation starts: 1 crash
        s.start_stage("6150a2bd", "induction")
    run(_cfg(tiny_inputs), out)
    with RunStore(out) as s:
        row = s.stage("6150a2bd", "induction")
        assert (row["status"], row["reason"], row["starts"], row["crashes"]) == ("failed", "crashed", 2, 2)
        assert s.task_status("0d3d703e") == ("done", None)


def test_attempts_and_process_deaths_are_counted_apart(tmp_path):
    """A retry after a worker died, or --retry-failed, is an attempt; only the run process dying while
    the stage ran in it is a crash. One such death after either is redone, not recorded crashed."""
    from ensemble.runner import MAX_CRASHES
    from ensemble.store import FailureReason, StageStatus

    with RunStore(tmp_path / "run") as s:
        s.start_stage("a", "train", "model-1")  # the worker died ...
        s.start_stage("a", "train", "model-2")  # ... the retry was in flight when the driver was killed
        s.start_stage("b", "infer")  # failed, then --retry-failed, then the run process was killed in it
        s.fail_stage("b", "infer", FailureReason.EXCEPTION, "x", 0.1)
        s.start_stage("b", "infer")
        assert s.recover(MAX_CRASHES, retry_failed=False) == []
        assert (s.stage("a", "train")["crashes"], s.stage("b", "infer")["crashes"]) == (0, 1)
        assert s.stage_status("a", "train") is s.stage_status("b", "infer") is StageStatus.INTERRUPTED
        s.start_stage("b", "infer")  # redone, and the process dies in it a second time
        assert s.recover(MAX_CRASHES, retry_failed=False) == [("b", "infer")]
        assert s.stage("b", "infer")["reason"] == FailureReason.CRASHED.value
