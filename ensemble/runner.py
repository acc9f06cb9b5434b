"""The resumable benchmark run: the stage graph (`ensemble.graph`) over every task, then the ensemble.

Reads top to bottom like a recipe:
1. build the task list (solutions are loaded with the dataset but only `summary`/`report` read them);
2. open the run store, check RUN_DIR was made with the same solver config, write config.json;
3. phase by phase (induction, then transduction; one progress bar per stage, with ETA): every stage
   of a task that is not finished is skipped (decided here, before dispatch) or handed to the
   executor once what it needs is committed (a task's `infer` right after its `train`); each result
   is committed in one transaction, an exception or an out-of-memory error as a failure with its
   reason, and the run goes on. An `ensemble.executor` runs the stages (in this process, or on Ray
   actors with `--ray`) and hands back each result as data; only this module writes the store;
4. the ensemble policy turns each task's candidates into attempts as soon as its last solver
   stage is committed; submission.json (always complete, placeholders where nothing exists yet;
   rewritten every 30 s and at the end) and, when solutions are known, scores.json.

Resuming (the same command again, e.g. after `kill -9`) skips every stage already done, skipped or
(unless `retry_failed`) failed, and continues a task from its last committed stage (an `infer` from
the adapter its `train` saved). A stage left `running` by a run process that died is redone from
scratch; one that process died in `MAX_CRASHES` times is recorded failed (`crashed`) instead
(`RunStore.recover`; a Ray worker's death is retried within the run and never counts here). The
ensemble stage is redone when the stages it read, the policy or the enabled sides have changed,
so `--set ensemble.policy=barc` or switching a side on/off re-ensembles without recomputing.
Any other configuration change is refused (the finished stages would not match it), and so is
another torch thread count where models run (float reductions on CPU depend on it).
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from arc_core.config import to_dict
from arc_core.datasets import load_dataset
from arc_core.seeds import seed_everything
from arc_core.task import Dataset, Task

from ensemble import graph, stages
from ensemble.config import RunConfig, seeds, versions
from ensemble.executor import DeadlineReached, Executor, Hooks, LocalExecutor, StageResult, StopRun
from ensemble.graph import Job
from ensemble.commit import commit_result, sample_sink
from ensemble.contamination import check_run, record
from ensemble.ensembling import ensemble_task, write_outputs
from ensemble.ray_layout import actor_threads  # plain arithmetic over the config: no Ray import
from ensemble.store import RunStore, StageStatus
from ensemble.timebudget import TaskCost, TimeBudget, task_costs

_WRITE_EVERY_S = 30.0  # rewrite submission.json/scores.json at most this often during a run
MAX_CRASHES = 2  # a stage the process died in this many times is recorded failed ("crashed")
_RUN_SCOPE_KEYS = ("dataset", "tasks", "limit", "torch_threads", "ray", "budget")  # may differ between invocations on one RUN_DIR
# Also free to change on resume: which sides run and the policy (the ensemble stage is redone).
_FREE_ENSEMBLE_KEYS = ("policy", "induction", "transduction")


@dataclass(frozen=True)
class RunOptions:
    """Per-invocation switches that are not part of the solver configuration."""

    programs_file: Path | None = None
    retry_failed: bool = False
    started: float | None = None  # time.monotonic() when the invocation began (a time budget counts from it)


def select_dataset(cfg: RunConfig) -> Dataset:
    if cfg.dataset is None:
        raise ValueError("no dataset: give --dataset NAME or a preset that names one (e.g. --preset cpu-demo)")
    ds = load_dataset(cfg.dataset)
    return ds.select(list(cfg.tasks) or None, cfg.limit)


def _solver_config(cfg: RunConfig) -> dict:
    """The part of the config that decides what a finished stage computed: the solver settings, and
    where models run, their torch thread count (`model_threads`)."""
    d = {k: v for k, v in to_dict(cfg).items() if k not in _RUN_SCOPE_KEYS}
    d["ensemble"] = {k: v for k, v in d["ensemble"].items() if k not in _FREE_ENSEMBLE_KEYS}
    if _runs_models(cfg):
        d["model_threads"] = model_threads(cfg)
    return d


def model_threads(cfg: RunConfig) -> int:
    """torch threads of the processes that run models (0: torch's default): here `torch_threads`; on
    Ray `ray.threads_per_worker`, else `torch_threads`, else the actor's CPUs."""
    if cfg.ray.enabled:
        return actor_threads(cfg, cfg.ray.cpus_per_worker)
    return cfg.torch_threads


def prepare_run_dir(store: RunStore, cfg: RunConfig, dataset: Dataset) -> None:
    """Record (or, on resume, check) the configuration; register the tasks."""
    stored = store.get_meta("solver_config")
    current = _solver_config(cfg)
    if stored is not None and stored != current:
        diff = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        hint = (" (model_threads: torch_threads / ray.threads_per_worker; float results on CPU depend on it)"
                if "model_threads" in diff else "")
        raise ValueError(f"{store.run_dir} was made with a different configuration (differs in: "
                         f"{', '.join(diff)}{hint}); resume with the same settings or use a new --out")
    store.set_meta("solver_config", current)
    store.set_meta("config", to_dict(cfg))  # this invocation's full config (policy, sides, tasks)
    ref = Path(cfg.dataset)  # a path is recorded absolute so `task`/`report` find it from anywhere
    store.set_meta("dataset", str(ref.resolve()) if ref.exists() else cfg.dataset)
    store.set_meta("versions", versions())
    store.set_meta("seeds", seeds(cfg))
    store.add_tasks([dataset.tasks[tid] for tid in dataset.ids()])
    info = {"config": to_dict(cfg), "versions": versions(), "seeds": seeds(cfg)}
    (store.run_dir / "config.json").write_text(json.dumps(info, indent=2) + "\n")


def _runs_models(cfg: RunConfig) -> bool:
    """Whether the run loads a model anywhere: transduction, or induction that samples programs."""
    return cfg.ensemble.transduction or (cfg.ensemble.induction and cfg.induction.n_samples > 0)


def _runs_a_model_here(cfg: RunConfig) -> bool:
    """Whether this process loads a model: a local run that loads one. Otherwise (on Ray the actors
    compute and each seeds its own process; a `--programs` import only runs the sandbox) the run
    never imports torch, which costs about 2 s of start-up here."""
    return not cfg.ray.enabled and _runs_models(cfg)


def make_executor(cfg: RunConfig, store: RunStore, options: RunOptions, hooks: Hooks) -> Executor:
    """In-process by default; on Ray actors with `ray.enabled` (`--ray`)."""
    if cfg.ray.enabled:
        from ensemble.ray_exec import RayExecutor

        return RayExecutor(cfg, store, options.programs_file, hooks)
    return LocalExecutor(stages.Solvers(cfg, store, options.programs_file), hooks)


@dataclass
class _Budget:
    """The runner's side of a time budget (`ensemble.timebudget`): each stage's limits as it starts,
    measured rates from what commits, and what was cut, kept in the store's meta "budget"."""

    plan: TimeBudget
    store: RunStore
    cfg: RunConfig
    pending: dict[str, set[str]] = field(default_factory=dict)  # task -> its stages still to run

    @classmethod
    def create(cls, cfg: RunConfig, store: RunStore, tasks: list[Task], started: float | None) -> _Budget | None:
        if not cfg.budget.seconds:
            return None
        costs: dict = {}
        if cfg.ensemble.transduction:
            cached = store.get_meta("budget_costs")
            if cached is None or set(cached) != {t.id for t in tasks}:
                cached = {tid: c.to_dict() for tid, c in task_costs(tasks, cfg.transduction).items()}
                store.set_meta("budget_costs", cached)
            costs = {tid: TaskCost(**c) for tid, c in cached.items()}
        plan = TimeBudget(cfg.budget, costs)
        if started is not None:
            plan.start = started
        return cls(plan, store, cfg)

    def begin(self, todo: dict[str, list[Task]], workers: int) -> None:
        self.pending = {}
        for stage, tasks in todo.items():
            for t in tasks:
                self.pending.setdefault(t.id, set()).add(stage)
        self.plan.workers = max(1, workers)

    def prepare(self, job: Job) -> Job | None:
        order = {s: i for i, s in enumerate(graph.STAGE_ORDER)}
        pending = {t: tuple(sorted(s, key=order.__getitem__)) for t, s in self.pending.items() if s}
        limits = self.plan.limits(job.task.id, job.stage, pending)
        if limits is False:  # past the margin: it never starts (nor what needs it)
            self.pending.pop(job.task.id, None)
            self._save()
            return None
        return dataclasses.replace(job, limits=limits)

    def committed(self, result: StageResult, status: StageStatus) -> None:
        stages_left = self.pending.get(result.task_id, set())
        stages_left.discard(result.stage)
        if result.stage == "train" and status is not StageStatus.DONE:
            stages_left.discard("infer")  # skipped with it, or not run (what it needs failed)
        cost = self.plan.costs.get(result.task_id)
        out = (result.output.result or {}) if result.output is not None else {}
        if status is StageStatus.DONE and cost is not None and result.stage == "train" and out.get("train") \
                and cost.steps:  # the planned tokens of the steps it took
            self.plan.observe("train", result.seconds, cost.train_tokens * len(out["train"]["losses"]) / cost.steps)
        elif status is StageStatus.DONE and cost is not None and result.stage == "infer" and cost.queries:
            ran = ((out.get("data") or {}).get("inference") or {}).get("queries", 0)
            self.plan.observe("infer", result.seconds, cost.infer_tokens * ran / cost.queries)
        self._save()

    def _save(self) -> None:
        self.store.set_meta("budget", self.plan.summary())


@dataclass
class _Phase:
    """One phase of the stage graph over the run's tasks: what is ready goes to the executor."""

    store: RunStore
    cfg: RunConfig
    executor: Executor
    retry_failed: bool
    log: Callable[[str], None]
    budget: _Budget | None = None

    def todo(self, tasks: list[Task], phase: str) -> dict[str, list[Task]]:
        return {s: [t for t in tasks if graph.needs_run(self.store, t.id, s, self.retry_failed)]
                for s in graph.PHASES[phase]}

    def offer(self, job: Job) -> StageStatus | None:
        """Skip `job` (committed at once), drop it when what it needs failed, or submit it."""
        if graph.blocked(self.store, job):
            return None
        why = graph.skip_reason(self.cfg, self.store, job)
        if why is None:
            self.executor.submit(job)
            return None
        self.store.start_stage(job.task.id, job.stage)
        return self.commit(StageResult(job.task.id, job.stage, graph.skipped_output(why), None, 0.0))

    def commit(self, result: StageResult) -> StageStatus:
        """Write a stage's result to the store; the time budget learns from it."""
        status = commit_result(self.store, result, self.log)
        if self.budget is not None:
            self.budget.committed(result, status)
        return status

    def infer_job(self, task: Task) -> Job:
        """A task's `infer`, with what its `train` committed when that is done (else `offer` drops or
        skips it)."""
        if self.store.stage_status(task.id, "train") is not StageStatus.DONE:
            return Job(task, "infer")
        return Job(task, "infer", stages.trained_task(self.store.result(task.id, "train") or {}, self.store.run_dir))


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)


def _run_phase(phase: str, tasks: list[Task], ph: _Phase, bar: Progress, done: Callable[[Task], None],
               shown: dict) -> None:
    """Every stage of `phase` for every task, each as soon as what it needs is committed. `shown`
    holds the bar that executor state lines go to."""
    todo = ph.todo(tasks, phase)
    by_id = {t.id: t for t in tasks}
    bars = {s: bar.add_task(s, total=len(tasks), completed=len(tasks) - len(todo[s])) for s in todo}
    shown.update(bar=bars[graph.PHASES[phase][0]], stage=graph.PHASES[phase][0])
    last = graph.last_stage(ph.cfg)

    def committed(task: Task, stage: str, status: StageStatus | None) -> None:
        bar.advance(bars[stage])
        if stage == "train" and status is not None and "infer" in todo and task in todo["infer"]:
            follow(ph.offer(ph.infer_job(task)), task, "infer")
        if stage == last:
            done(task)

    def follow(status: StageStatus | None, task: Task, stage: str) -> None:
        if status is not None:  # decided without the executor (skipped)
            committed(task, stage, status)

    if any(todo.values()):
        for s in todo:
            bar.update(bars[s], description=f"{s} (loading)" if todo[s] else s)
        ph.executor.open(phase, {s: len(ts) for s, ts in todo.items()})
        ph.store.set_meta("load_seconds", ph.executor.load_seconds)
        if ph.budget is not None:
            ph.budget.begin(todo, ph.executor.workers)
        for s in todo:
            bar.update(bars[s], description=s)
    first = graph.PHASES[phase][0]
    for task in todo[first]:
        follow(ph.offer(Job(task, first)), task, first)
    for task in todo.get("infer", []):  # trained in an earlier invocation (or failed, or skipped)
        if task not in todo.get("train", []):
            follow(ph.offer(ph.infer_job(task)), task, "infer")
    while (result := ph.executor.next_result()) is not None:
        committed(by_id[result.task_id], result.stage, ph.commit(result))
    ph.store.set_meta("load_seconds", ph.executor.load_seconds)  # on Ray: known once the actors are up
    ph.executor.release(phase)


def run(cfg: RunConfig, run_dir: str | Path, options: RunOptions = RunOptions(),
        console: Console | None = None) -> Dataset:
    """Run (or resume) the benchmark into `run_dir`; returns the dataset run on."""
    console = console or Console(stderr=True)
    dataset = select_dataset(cfg)
    seed_everything(cfg.seed, cfg.torch_threads, torch_too=_runs_a_model_here(cfg))
    with RunStore(run_dir) as store:
        prepare_run_dir(store, cfg, dataset)
        # Which evaluated tasks trained the run's models (their provenance; no weights loaded).
        record(store, check_run(cfg, dataset.ids()),
               lambda line: console.print(line, style="yellow", markup=False, highlight=False, soft_wrap=True))
        for tid, stage in store.recover(MAX_CRASHES, options.retry_failed):
            console.log(f"[red]task {tid}: {stage} failed (crashed): the run process died in it {MAX_CRASHES} times[/red]")
        write_outputs(store, dataset)  # complete from the start (placeholders)
        tasks = [dataset.tasks[tid] for tid in dataset.ids()]
        budget = _Budget.create(cfg, store, tasks, options.started)
        with _progress(console) as bar:
            last_write = [time.monotonic()]

            def task_done(task: Task) -> None:  # its last solver stage is committed: attempts now
                ensemble_task(store, task, cfg, bar.console.log)
                # Under a time budget the submission follows every task (a kill at any moment keeps it).
                if budget is not None or time.monotonic() - last_write[0] > _WRITE_EVERY_S:
                    write_outputs(store, dataset)
                    last_write[0] = time.monotonic()

            shown: dict = {}
            hooks = Hooks(start=store.start_stage, samples=sample_sink(store), log=bar.console.log,
                          state=lambda line: bar.update(shown["bar"], description=f"{shown['stage']} {line}"))
            if budget is not None:
                hooks = dataclasses.replace(hooks, prepare=budget.prepare, expired=budget.plan.stop_now)
            try:
                executor = make_executor(cfg, store, options, hooks)
                with contextlib.closing(executor):
                    ph = _Phase(store, cfg, executor, options.retry_failed, bar.console.log, budget)
                    for phase in graph.enabled_phases(cfg):
                        _run_phase(phase, tasks, ph, bar, task_done, shown)
            except (StopRun, KeyboardInterrupt) as e:  # keep what is committed; what ran is redone on resume
                why = f"stopped: {type(e).__name__}: {e}"
                store.interrupt_running(why)
                write_outputs(store, dataset)
                if not isinstance(e, DeadlineReached):
                    raise
                bar.console.log(f"[yellow]time budget spent: {why}; the submission holds what was done[/yellow]")
            bar_id = bar.add_task("ensemble", total=len(tasks))
            for task in tasks:
                ensemble_task(store, task, cfg, bar.console.log)
                bar.advance(bar_id)
        write_outputs(store, dataset)
    return dataset
