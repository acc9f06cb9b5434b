"""Ray as a thin executor of the runner's solver stages (`arc-hybrid run --ray [ADDRESS]`).

Nothing here decides what a stage computes, and nothing here writes the store: the runner marks a
stage started, the executor ships the task to an actor, and the actor's `StageResult` (data: the
stage output or failure, plus induction samples it drew) comes back for the runner to commit.

- Actors keep their resources loaded: a `StageWorker` loads a stage's model (or sandbox) once in
  its constructor and takes task after task. Model actors (transduction, and induction when it
  samples a model) request `ray.gpus_per_worker` GPUs (a fraction shares a GPU) and
  `ray.cpus_per_worker` CPUs; on a cluster without GPUs they run on CPU. An induction stage that
  only verifies imported programs runs on 1-CPU sandbox actors, one per cluster CPU by default.
- Faults: a stage whose actor dies (SIGKILL, OOM killer, node removed) is started again (the store's
  `starts` counts it) on another actor, at most `ray.max_retries` times, then recorded `crashed`.
  A dead actor is replaced while the cluster still has room for it. A killed driver takes its
  actors with it; the same command resumes from the store like any run.
- Answers do not depend on placement: every seed is derived from the task (`transduction.data.
  task_seed`, induction's per-batch seeds) and each actor seeds the process like the runner does.
- Progress: the runner's bars count committed stages (ETA from their rate); each dispatch, death
  and retry is logged with the worker's name, node and pid.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.task import Task

from ensemble import stages
from ensemble.config import RunConfig
from ensemble.executor import StageResult, StartFn, StateFn, crashed, execute
from ensemble.ray_config import INSTALL_HINT
from ensemble.store import RunStore

_REPLACE_TIMEOUT_S = 300.0  # a replacement actor not placed and loaded by then is given up


def require_ray() -> Any:
    """The `ray` module, or a ValueError with one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


@dataclass(frozen=True)
class Job:
    """What a worker needs for one stage of one task (the task without test outputs)."""

    task: Task
    imported: tuple[str, tuple[str, ...]] = ("", ())  # (import file hash, texts) for induction
    samples: tuple[Any, ...] = ()  # the task's induction samples already in the store's log


class StageWorker:
    """A Ray actor (see `_actor_class`): one stage's resources, loaded once, for many tasks."""

    def __init__(self, cfg: RunConfig, stage: str, workdir: str, threads: int, name: str) -> None:
        from ensemble.runner import seed_everything

        t0 = time.perf_counter()
        seed_everything(cfg.seed, threads)
        self.stage, self.name = stage, name
        self.solvers = stages.Solvers(cfg, None, workdir=Path(workdir))
        self.solvers.prepare(stage)
        self.load_seconds = time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        import ray

        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id()[:8], "load_seconds": self.load_seconds}

    def run(self, job: Job) -> StageResult:
        if self.stage == "transduction":
            return execute(job.task.id, self.stage, lambda: self.solvers.transduction(job.task), self.name)
        from induction.samples import MemorySampleLog

        log = MemorySampleLog()
        log.append(job.samples)
        known = {r.key for r in job.samples}
        return execute(job.task.id, self.stage, lambda: self.solvers.induction(job.task, log, job.imported),
                       self.name, lambda: [r for r in log.task_records(job.task.id) if r.key not in known])


def _actor_class(ray: Any) -> Any:
    return ray.remote(max_restarts=0, max_task_retries=0)(StageWorker)


@dataclass
class _Worker:
    handle: Any
    name: str
    where: str = "?"
    tasks: int = 0
    busy: str = ""  # task id in flight, "" when idle


@dataclass
class _Pending:
    job: Job
    tries: int = 0


@dataclass
class RayExecutor:
    """The `ensemble.executor.Executor` on a Ray cluster."""

    cfg: RunConfig
    store: RunStore
    programs_file: Path | None
    log: Callable[[str], None]
    load_seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ray = require_ray()
        rc = self.cfg.ray
        self._owns_ray = not self.ray.is_initialized()
        if self._owns_ray:
            kwargs: dict[str, Any] = {"address": rc.address or None, "log_to_driver": False,
                                      "logging_level": "warning"}
            if not rc.address:  # a cluster of our own on this machine
                kwargs.update(include_dashboard=False, num_cpus=rc.num_cpus or None)
            self.ray.init(**kwargs)
        self._local = stages.Solvers(self.cfg, self.store, self.programs_file)  # imports only; loads nothing
        self._pools: dict[str, list[_Worker]] = {}
        self._made = 0
        res = self.ray.cluster_resources()
        self.log(f"ray: cluster with {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs, "
                 f"{len([n for n in self.ray.nodes() if n['Alive']])} node(s)")

    # ---- worker pools ---------------------------------------------------------------------------

    def _needs(self, stage: str) -> tuple[str, float, float]:
        """(kind, CPUs, GPUs) of one actor of `stage`."""
        rc = self.cfg.ray
        if stage == "induction" and self.cfg.induction.n_samples == 0:
            return "sandbox", 1.0, 0.0
        gpus = rc.gpus_per_worker if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        return "model", rc.cpus_per_worker, gpus

    def _capacity(self, stage: str) -> int:
        """How many actors of `stage` the cluster holds now (or the configured count)."""
        rc = self.cfg.ray
        kind, cpus, gpus = self._needs(stage)
        res = self.ray.cluster_resources()
        if kind == "sandbox":
            return rc.sandbox_workers or max(1, int(res.get("CPU", 1)))
        if rc.model_workers:
            return rc.model_workers
        if gpus > 0:
            return max(1, int(res.get("GPU", 0) / gpus + 1e-9))
        return max(1, int(res.get("CPU", 1) / cpus + 1e-9))

    def _spawn(self, stage: str) -> _Worker:
        kind, cpus, gpus = self._needs(stage)
        rc = self.cfg.ray
        threads = rc.threads_per_worker or self.cfg.torch_threads or max(1, int(cpus))
        sandbox = self.cfg.sandbox
        if sandbox.concurrency == 0:  # fill the actor's CPUs, not the whole machine's
            sandbox = dataclasses.replace(sandbox, concurrency=max(1, int(cpus)))
        cfg = dataclasses.replace(self.cfg, sandbox=sandbox)
        self._made += 1
        name = f"{kind}-{self._made}"
        actor = _actor_class(self.ray).options(num_cpus=cpus, num_gpus=gpus, name=None)
        workdir = str((self.store.run_dir / "transduction").resolve())
        return _Worker(actor.remote(cfg, stage, workdir, threads, name), name)

    def prepare(self, stage: str, n_tasks: int) -> None:
        t0 = time.perf_counter()
        pool = [self._spawn(stage) for _ in range(min(self._capacity(stage), n_tasks))]
        for w, info in zip(pool, self.ray.get([w.handle.info.remote() for w in pool])):
            w.where = f"{info['host']}:{info['pid']} node {info['node']}"
            self.log(f"ray: {w.name} ready on {w.where} (loaded in {info['load_seconds']:.1f}s)")
        self._pools[stage] = pool
        self.load_seconds[stage] = self.load_seconds.get(stage, 0.0) + time.perf_counter() - t0

    def release(self, stage: str) -> None:
        for w in self._pools.pop(stage, []):
            self.ray.kill(w.handle)

    def close(self) -> None:
        for stage in list(self._pools):
            self.release(stage)
        self._local.__exit__(None, None, None)
        if self._owns_ray:
            self.ray.shutdown()

    # ---- dispatch -------------------------------------------------------------------------------

    def _job(self, stage: str, task: Task) -> Job:
        if stage != "induction":
            return Job(task)
        from ensemble.sample_log import SqliteSampleLog

        return Job(task, self._local.imported(task.id), tuple(SqliteSampleLog(self.store).task_records(task.id)))

    def _state(self, pool: list[_Worker], queued: int) -> str:
        busy = sum(1 for w in pool if w.busy)
        return f"[{busy}/{len(pool)} workers busy, {queued} queued]"

    def run(self, stage: str, tasks: Sequence[Task], start: StartFn,
            state: StateFn) -> Iterator[tuple[Task, StageResult]]:
        if not tasks:
            return
        pool = self._pools[stage]
        queue = deque(_Pending(self._job(stage, t)) for t in tasks)
        inflight: dict[Any, tuple[_Worker, _Pending, float]] = {}
        while queue or inflight:
            for w in pool:
                if w.busy or not queue:
                    continue
                p = queue.popleft()
                task = p.job.task
                skipped = stages.ttt_skip(self.cfg, self.store, task) if stage == "transduction" else None
                start(task.id)
                if skipped is not None:  # decided by the driver, which reads the store
                    yield task, StageResult(task.id, stage, skipped, None, 0.0)
                    continue
                w.busy = task.id
                inflight[w.handle.run.remote(p.job)] = (w, p, time.perf_counter())
                self.log(f"ray: {w.name} ({w.where}) <- {stage} {task.id}"
                         + (f" (retry {p.tries}/{self.cfg.ray.max_retries})" if p.tries else ""))
            if not inflight:
                if queue and not pool:
                    yield from self._give_up(stage, queue, start, "no worker left in the cluster")
                continue
            state(self._state(pool, len(queue)))
            ready, _ = self.ray.wait(list(inflight), num_returns=1, timeout=2.0)
            for ref in ready:
                w, p, t0 = inflight.pop(ref)
                w.busy = ""
                try:
                    result = self.ray.get(ref)
                except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError,
                        self.ray.exceptions.NodeDiedError) as e:
                    yield from self._worker_died(stage, pool, w, p, queue, e, time.perf_counter() - t0)
                    continue
                w.tasks += 1
                yield p.job.task, result

    def _worker_died(self, stage: str, pool: list[_Worker], w: _Worker, p: _Pending, queue: deque,
                     err: Exception, seconds: float) -> Iterator[tuple[Task, StageResult]]:
        """Drop the dead actor (replace it if the cluster has room); retry or record its stage."""
        pool.remove(w)
        tid = p.job.task.id
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        self.log(f"[yellow]ray: {w.name} ({w.where}) died during {stage} {tid}: {type(err).__name__}: {first}[/yellow]")
        if len(pool) < self._capacity(stage):
            nw = self._spawn(stage)
            try:
                info = self.ray.get(nw.handle.info.remote(), timeout=_REPLACE_TIMEOUT_S)
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError) as e2:
                self.ray.kill(nw.handle)  # e.g. the cluster's resource view still counted the lost node
                self.log(f"[yellow]ray: no replacement for {w.name}: {type(e2).__name__}[/yellow]")
            else:
                nw.where = f"{info['host']}:{info['pid']} node {info['node']}"
                pool.append(nw)
                self.log(f"ray: {nw.name} replaces {w.name} on {nw.where}")
        if p.tries < self.cfg.ray.max_retries:
            queue.appendleft(_Pending(p.job, p.tries + 1))
            return
        msg = f"its worker died {p.tries + 1} time(s) (ray.max_retries={self.cfg.ray.max_retries}): {first}"
        yield p.job.task, crashed(tid, stage, msg, seconds, w.name)

    def _give_up(self, stage: str, queue: deque, start: StartFn, why: str) -> Iterator[tuple[Task, StageResult]]:
        while queue:
            p = queue.popleft()
            start(p.job.task.id)
            yield p.job.task, crashed(p.job.task.id, stage, why, 0.0, "none")
