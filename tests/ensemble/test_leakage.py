"""End to end, test outputs reach nothing but scoring: a whole `arc-hybrid run` over a dataset whose
solutions are poisoned produces exactly the same samples, programs, TTT statistics, votes,
candidates and submission as the run over the true solutions; only the scores differ."""
from __future__ import annotations

import json

from arc_core.datasets import load_dataset
from ensemble.cli import main
from ensemble.store import RunStore

RUN_TASKS = ("6150a2bd", "25ff71a9")  # the tasks of the tiny runs in conftest.py


def _write_kaggle(dir_, poisoned: bool) -> str:
    ds = load_dataset("arc1/training").select(list(RUN_TASKS))
    challenges = {
        tid: {"train": [{"input": p.input.to_list(), "output": p.output.to_list()} for p in t.train],
              "test": [{"input": g.to_list()} for g in t.test_inputs]}
        for tid, t in ds.tasks.items()
    }
    solutions = {
        # Poison: every answer becomes a grid the solvers could never produce by accident.
        tid: [[[7] * (g.width + 1)] * (g.height + 2) if poisoned else g.to_list() for g in sols]
        for tid, sols in ds.solutions.items()
    }
    dir_.mkdir(parents=True)
    (dir_ / "x_challenges.json").write_text(json.dumps(challenges))
    (dir_ / "x_solutions.json").write_text(json.dumps(solutions))
    return str(dir_ / "x_challenges.json")


def _solver_outputs(run_dir) -> dict:
    with RunStore(run_dir, create=False) as store:
        out = {}
        for tid in store.task_ids():
            out[tid] = {
                "samples": [{k: v for k, v in s.items() if "time" not in k and k not in ("created", "seconds")}
                            for s in store.samples(tid)],
                "programs": store.programs(tid),
                "ttt": {k: v for k, v in (store.ttt(tid) or {}).items() if k != "seconds"},
                "votes": store.votes(tid),
                "candidates": [(c, ok) for c, ok in store.candidates(tid)],
            }
    return out


def test_poisoned_solutions_change_no_solver_output(tmp_path, tiny_inputs):
    config, programs = tiny_inputs
    runs = {}
    for poisoned in (False, True):
        data = _write_kaggle(tmp_path / f"data-{poisoned}", poisoned)
        out = tmp_path / f"run-{poisoned}"
        args = ["run", "--dataset", data, "--out", str(out), "--config", str(config), "--programs", str(programs)]
        assert main(args) == 0
        runs[poisoned] = out

    true_run, poisoned_run = runs[False], runs[True]
    a, b = _solver_outputs(true_run), _solver_outputs(poisoned_run)
    assert set(a) == set(RUN_TASKS)
    # Not vacuous: both solvers really ran and left outputs to compare.
    assert all(a[t]["samples"] and a[t]["programs"] and a[t]["ttt"] for t in RUN_TASKS)
    for tid in RUN_TASKS:
        for part in ("samples", "programs", "ttt", "votes"):
            assert a[tid][part] == b[tid][part], (tid, part)
        # Candidates are equal as grids and ranks; only their `correct` flag (scoring) may differ.
        assert [c for c, _ in a[tid]["candidates"]] == [c for c, _ in b[tid]["candidates"]], tid
    assert json.loads((true_run / "submission.json").read_text()) == \
        json.loads((poisoned_run / "submission.json").read_text())
    # The tiny run verifies the imported rot180 program for 6150a2bd: right against the true
    # answers, wrong against the poisoned ones -- so scoring did read the solutions it was given.
    true_scores = json.loads((true_run / "scores.json").read_text())
    poisoned_scores = json.loads((poisoned_run / "scores.json").read_text())
    assert true_scores != poisoned_scores
