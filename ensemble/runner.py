"""The resumable benchmark run: induction, then transduction, then the ensemble, task by task.

Reads top to bottom like a recipe:
1. build the task list (solutions are loaded with the dataset but only `summary`/`report` read them);
2. open the run store, check RUN_DIR was made with the same solver config, write config.json;
3. stage by stage (one progress bar each, with ETA): for every task whose stage is not finished,
   mark it started, run it, and commit its whole result in one transaction; an exception or an
   out-of-memory error is committed as a failure with its reason and the run goes on. An
   `ensemble.executor` runs the stages (in this process, or on Ray actors with `--ray`) and hands
   back each result as data; only this module writes the store;
4. the ensemble policy turns each task's candidates into attempts as soon as its last solver
   stage is committed; submission.json (always complete, placeholders where nothing exists yet;
   rewritten every 30 s and at the end) and, when solutions are known, scores.json.

Resuming (the same command again, e.g. after `kill -9`) skips every stage already done, skipped or
(unless `retry_failed`) failed; a stage left `running` by a crash is redone from scratch, and one the
process died in `MAX_CRASHES` times is recorded failed (`crashed`) instead of being retried. The
ensemble stage is redone when the stages it read, the policy or the enabled sides have changed,
so `--set ensemble.policy=barc` or switching a side on/off re-ensembles without recomputing.
Any other configuration change is refused (the finished stages would not match it).
"""
from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from arc_core.candidates import Source
from arc_core.config import to_dict
from arc_core.datasets import load_dataset
from arc_core.submission import write_submission
from arc_core.task import Dataset, Task

from ensemble import stages
from ensemble.config import RunConfig, seeds, versions
from ensemble.executor import Executor, LocalExecutor, StageResult, execute
from ensemble.policies import PolicyInput, apply_policy, attempts_tuple
from ensemble.store import FailureReason, RunStore, StageOutput, StageStatus

SOLVER_STAGES = ("induction", "transduction")
_WRITE_EVERY_S = 30.0  # rewrite submission.json/scores.json at most this often during a run
MAX_CRASHES = 2  # a stage the process died in this many times is recorded failed ("crashed")
_RUN_SCOPE_KEYS = ("dataset", "tasks", "limit", "torch_threads", "ray")  # may differ between invocations on one RUN_DIR
# Also free to change on resume: which sides run and the policy (the ensemble stage is redone).
_FREE_ENSEMBLE_KEYS = ("policy", "induction", "transduction")


@dataclass(frozen=True)
class RunOptions:
    """Per-invocation switches that are not part of the solver configuration."""

    programs_file: Path | None = None
    retry_failed: bool = False


def select_dataset(cfg: RunConfig) -> Dataset:
    if cfg.dataset is None:
        raise ValueError("no dataset: give --dataset NAME or a preset that names one (e.g. --preset cpu-demo)")
    ds = load_dataset(cfg.dataset)
    return ds.select(list(cfg.tasks) or None, cfg.limit)


def _solver_config(cfg: RunConfig) -> dict:
    """The part of the config that decides what a finished stage computed."""
    d = {k: v for k, v in to_dict(cfg).items() if k not in _RUN_SCOPE_KEYS}
    d["ensemble"] = {k: v for k, v in d["ensemble"].items() if k not in _FREE_ENSEMBLE_KEYS}
    return d


def prepare_run_dir(store: RunStore, cfg: RunConfig, dataset: Dataset) -> None:
    """Record (or, on resume, check) the configuration; register the tasks."""
    stored = store.get_meta("solver_config")
    current = _solver_config(cfg)
    if stored is not None and stored != current:
        diff = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        raise ValueError(f"{store.run_dir} was made with a different configuration (differs in: "
                         f"{', '.join(diff)}); resume with the same settings or use a new --out")
    store.set_meta("solver_config", current)
    store.set_meta("config", to_dict(cfg))  # this invocation's full config (policy, sides, tasks)
    ref = Path(cfg.dataset)  # a path is recorded absolute so `task`/`report` find it from anywhere
    store.set_meta("dataset", str(ref.resolve()) if ref.exists() else cfg.dataset)
    store.set_meta("versions", versions())
    store.set_meta("seeds", seeds(cfg))
    store.add_tasks([dataset.tasks[tid] for tid in dataset.ids()])
    info = {"config": to_dict(cfg), "versions": versions(), "seeds": seeds(cfg)}
    (store.run_dir / "config.json").write_text(json.dumps(info, indent=2) + "\n")


def seed_everything(seed: int, threads: int, torch_too: bool = True) -> None:
    """Seed Python's and numpy's generators and, with `torch_too`, torch's (and its thread count)."""
    random.seed(seed)
    np.random.seed(seed)
    if not torch_too:
        return
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)


def _runs_a_model_here(cfg: RunConfig) -> bool:
    """Whether this process loads a model: local transduction or local induction sampling. Otherwise
    (on Ray the actors compute and each seeds its own process; a `--programs` import only runs the
    sandbox) the run never imports torch, which costs about 2 s of start-up here."""
    if cfg.ray.enabled:
        return False
    return cfg.ensemble.transduction or (cfg.ensemble.induction and cfg.induction.n_samples > 0)


def _needs_run(store: RunStore, task_id: str, stage: str, retry_failed: bool) -> bool:
    row = store.stage(task_id, stage)
    status = StageStatus(row["status"]) if row is not None else None
    if status in (StageStatus.DONE, StageStatus.SKIPPED):
        return False
    if status is StageStatus.FAILED:
        return retry_failed
    if status is StageStatus.RUNNING and row["starts"] >= MAX_CRASHES and not retry_failed:
        # The process died inside this stage every time (e.g. the kernel's OOM killer): record it
        # rather than crash the run again on every resume.
        store.fail_stage(task_id, stage, FailureReason.CRASHED,
                         f"the run process died during this stage {row['starts']} times", 0.0)
        return False
    return True  # never run, or left RUNNING by a crash


def run_stage(store: RunStore, task_id: str, stage: str, fn: Callable[[], StageOutput],
              log: Callable[[str], None]) -> StageStatus:
    """Start, run and commit one stage in this process; failures become data."""
    store.start_stage(task_id, stage)
    return commit_result(store, execute(task_id, stage, fn), log)


def commit_result(store: RunStore, result: StageResult, log: Callable[[str], None]) -> StageStatus:
    """Write a stage's result (from this process or a worker) to the store in one transaction."""
    from ensemble.sample_log import SqliteSampleLog

    task_id, stage = result.task_id, result.stage
    if result.samples:  # drawn on a worker: the driver is the only writer of the store
        SqliteSampleLog(store).append(result.samples)
    if result.failure is not None:
        f = result.failure
        store.fail_stage(task_id, stage, f.reason, f"{f.message}\n{f.detail}", result.seconds)
        log(f"[red]task {task_id}: {stage} failed ({f.reason.value}): {f.message}[/red]")
        return StageStatus.FAILED
    assert result.output is not None
    status = StageStatus.SKIPPED if result.output.note.startswith("skipped") else StageStatus.DONE
    store.finish_stage(task_id, stage, result.output, result.seconds, status)
    return status


def make_executor(cfg: RunConfig, store: RunStore, options: RunOptions, log: Callable[[str], None]) -> Executor:
    """In-process by default; on Ray actors with `ray.enabled` (`--ray`)."""
    if cfg.ray.enabled:
        from ensemble.ray_exec import RayExecutor

        return RayExecutor(cfg, store, options.programs_file, log)
    return LocalExecutor(stages.Solvers(cfg, store, options.programs_file))


def _ensemble_inputs(store: RunStore, task_id: str, cfg: RunConfig) -> dict:
    """What the ensemble stage of a task read: if this changes, the stage is redone."""
    enabled = {"induction": cfg.ensemble.induction, "transduction": cfg.ensemble.transduction}
    out: dict = {"policy": cfg.ensemble.policy}
    for s in SOLVER_STAGES:
        row = store.stage(task_id, s) if enabled[s] else None
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
                       result={"inputs": _ensemble_inputs(store, task.id, cfg)})


def _ensemble_task(store: RunStore, task: Task, cfg: RunConfig, log: Callable[[str], None]) -> None:
    """Run the ensemble stage of a task unless its stored attempts are still fresh."""
    row = store.stage(task.id, "ensemble")
    stored = store.result(task.id, "ensemble")
    fresh = row is not None and row["status"] == "done" and stored is not None \
        and stored.get("inputs") == _ensemble_inputs(store, task.id, cfg)
    if not fresh:
        run_stage(store, task.id, "ensemble", lambda: ensemble_stage(store, task, cfg), log)


def write_outputs(store: RunStore, dataset: Dataset) -> None:
    """submission.json (complete) and, when every task's solutions are known, scores.json."""
    from ensemble.summary import score_run

    attempts = {tid: [attempts_tuple([a for a in store.attempts(tid) if a.test_index == i])
                      for i in range(dataset.tasks[tid].n_test)] for tid in dataset.ids()}
    write_submission(store.run_dir / "submission.json", attempts, dataset)
    report = score_run(store, dataset)
    if report is not None:
        (store.run_dir / "scores.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


def run(cfg: RunConfig, run_dir: str | Path, options: RunOptions = RunOptions(),
        console: Console | None = None) -> Dataset:
    """Run (or resume) the benchmark into `run_dir`; returns the dataset run on."""
    console = console or Console(stderr=True)
    dataset = select_dataset(cfg)
    seed_everything(cfg.seed, cfg.torch_threads, torch_too=_runs_a_model_here(cfg))
    with RunStore(run_dir) as store:
        prepare_run_dir(store, cfg, dataset)
        write_outputs(store, dataset)  # complete from the start (placeholders)
        tasks = [dataset.tasks[tid] for tid in dataset.ids()]
        enabled = [s for s in SOLVER_STAGES if getattr(cfg.ensemble, s)]
        executor = make_executor(cfg, store, options, console.log)
        with contextlib.closing(executor), _progress(console) as bar:
            last_write = time.monotonic()
            for stage in enabled:
                todo = [t for t in tasks if _needs_run(store, t.id, stage, options.retry_failed)]
                bar_id = bar.add_task(stage, total=len(tasks), completed=len(tasks) - len(todo))
                if todo:
                    bar.update(bar_id, description=f"{stage} (loading)")
                    executor.prepare(stage, len(todo))
                    store.set_meta("load_seconds", executor.load_seconds)
                start = lambda tid, stage=stage: store.start_stage(tid, stage)  # noqa: E731
                state = lambda s, stage=stage, bar_id=bar_id: bar.update(bar_id, description=f"{stage} {s}")  # noqa: E731
                for task, result in executor.run(stage, todo, start, state):
                    commit_result(store, result, bar.console.log)
                    if stage == enabled[-1]:  # the task's last solver: its attempts can be made now
                        _ensemble_task(store, task, cfg, bar.console.log)
                        if time.monotonic() - last_write > _WRITE_EVERY_S:
                            write_outputs(store, dataset)
                            last_write = time.monotonic()
                    bar.advance(bar_id)
                bar.update(bar_id, description=stage)
                executor.release(stage)  # free the model before the next stage loads its own
            bar_id = bar.add_task("ensemble", total=len(tasks))
            for task in tasks:
                _ensemble_task(store, task, cfg, bar.console.log)
                bar.advance(bar_id)
        write_outputs(store, dataset)
    return dataset
