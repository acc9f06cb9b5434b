"""The ensemble stage of a task, and the run's outputs.

`ensemble_task` turns a task's committed candidates (verified programs, near misses, transduction's
ranked grids) into its attempts with the configured policy, and is redone when what it read changed
(the solver stages' statuses and finish times, the policy, the sides switched on): a `--set
ensemble.policy=barc` or a side switched off re-ensembles without recomputing. `write_outputs`
writes submission.json (always complete: placeholders where nothing exists yet; atomically, so a run
killed at any moment leaves a valid file) and, when every task's solutions are known, scores.json.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from arc_core.candidates import Source
from arc_core.submission import write_submission
from arc_core.task import Dataset, Task

from ensemble import graph
from ensemble.config import RunConfig
from ensemble.commit import run_stage
from ensemble.policies import PolicyInput, apply_policy
from ensemble.store import RunStore, StageOutput


def ensemble_inputs(store: RunStore, task_id: str, cfg: RunConfig) -> dict:
    """What the ensemble stage of a task read: if this changes, the stage is redone."""
    out: dict = {"policy": cfg.ensemble.policy}
    for phase, names in graph.PHASES.items():
        for s in names:
            row = store.stage(task_id, s) if getattr(cfg.ensemble, phase) else None
            out[s] = [row["status"], row["finished_at"]] if row is not None else None
    return out


def ensemble_stage(store: RunStore, task: Task, cfg: RunConfig) -> StageOutput:
    verified: dict[int, list] = {}
    near: dict[int, list] = {}
    trans: dict[int, list] = {}
    if cfg.ensemble.induction:
        for cand, ok in store.candidates(task.id, Source.INDUCTION):
            (verified if ok else near).setdefault(cand.test_index, []).append(cand)
    if cfg.ensemble.transduction:
        for cand, _ in store.candidates(task.id, Source.TRANSDUCTION):
            trans.setdefault(cand.test_index, []).append(cand)
    inp = PolicyInput(task.id, task.n_test, verified, near, trans)
    chosen = apply_policy(cfg.ensemble.policy, inp)
    return StageOutput(attempts=[a for per_test in chosen for a in per_test],
                       result={"inputs": ensemble_inputs(store, task.id, cfg)})


def ensemble_task(store: RunStore, task: Task, cfg: RunConfig, log: Callable[[str], None]) -> None:
    """Run the ensemble stage of a task unless its stored attempts are still fresh."""
    row = store.stage(task.id, "ensemble")
    stored = store.result(task.id, "ensemble")
    fresh = row is not None and row["status"] == "done" and stored is not None \
        and stored.get("inputs") == ensemble_inputs(store, task.id, cfg)
    if not fresh:
        run_stage(store, task.id, "ensemble", lambda: ensemble_stage(store, task, cfg), log)


def write_outputs(store: RunStore, dataset: Dataset) -> None:
    """submission.json (complete) and, when every task's solutions are known, scores.json."""
    from ensemble.summary import score_run, submitted_attempts

    attempts = submitted_attempts(store, dataset, dataset.ids())  # read once: submission and scores
    write_submission(store.run_dir / "submission.json", attempts, dataset)
    report = score_run(store, dataset, attempts=attempts)
    if report is not None:
        (store.run_dir / "scores.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
