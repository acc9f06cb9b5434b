"""Ray as a thin executor of the runner's solver stages (`arc-hybrid run --ray [ADDRESS]`).

Nothing here decides what a stage computes, and nothing here writes the store: the runner marks a
stage started, the executor ships the task to an actor, and the actor's `StageResult` (data: the
stage output or failure, plus induction samples it drew) comes back for the runner to commit.

- Actors keep their resources loaded (`ensemble.ray_workers`, `ensemble.ray_sampling`): they load a
  model or a sandbox once and take task after task. Roles per stage:
  induction: 1-CPU *induction actors* (sandbox, extraction, verification, ranking), one per cluster
  CPU left over by default, and, when induction samples a model, *sampler actors* that hold the LM
  and only sample (batched across tasks for vllm/openai); every induction job names the sampler
  it uses, so GPUs never wait on the sandbox;
  transduction: *model actors* (TTT + inference + scoring, as locally), or, when its adapters are
  served (`ray.transduction_serving`, vLLM), *TTT actors* whose trained tasks (`TrainedTask`, data)
  the driver batches, `ray.serve_batch_tasks` at a time, to *inference actors* that keep the
  engine loaded. Model actors request `ray.gpus_per_worker` GPUs (a fraction shares a GPU) and
  `ray.cpus_per_worker` CPUs; on a cluster without GPUs they run on CPU.
- Faults: a stage whose actor dies (SIGKILL, OOM killer, node removed), or whose sampler or
  inference actor dies, is started again (the store's `starts` counts it) on other actors, at most
  `ray.max_retries` times, then recorded `crashed`; samples drawn before a sampler died are kept.
  A dead actor is replaced while the cluster still has room for it. A killed driver takes its
  actors with it; the same command resumes from the store like any run.
- Answers do not depend on placement or batching: every seed is derived from the task
  (`transduction.data.task_seed`, induction's per-batch seeds) and each actor seeds its process
  like the runner does.
- Order: a stage's tasks are dispatched largest first (`Task.cells`), so the slowest tasks do not
  start last and leave the rest of the cluster idle at the end of a run.
- Progress: the runner's bars count committed stages (ETA from their rate); each dispatch, death
  and retry is logged with the worker's name, node and pid.
"""
from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.task import Task

from ensemble import stages
from ensemble.config import RunConfig
from ensemble.executor import StageResult, StartFn, StateFn, crashed
from ensemble.ray_config import INSTALL_HINT
from ensemble.ray_workers import Job, SamplerRef, serves_transduction
from ensemble.store import RunStore

_REPLACE_TIMEOUT_S = 300.0  # a replacement actor not placed and loaded by then is given up
_MAIN_ROLES = ("induction", "model", "ttt")  # the actors that take a stage's jobs from the queue


def require_ray() -> Any:
    """The `ray` module, or a ValueError with one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


@dataclass
class _Worker:
    handle: Any
    name: str
    role: str
    where: str = "?"
    tasks: int = 0
    busy: str = ""  # task id(s) in flight, "" when idle
    load: int = 0  # sampler actors: induction jobs in flight that sample with it
    info: dict = field(default_factory=dict)


@dataclass
class _Pending:
    job: Job
    tries: int = 0


@dataclass
class _Trained:
    """A transduction job past its TTT actor, waiting for (or in) an inference actor."""

    pending: _Pending
    trained: Any  # transduction.pipeline.TrainedTask
    seconds: float
    tries: int = 0


@dataclass
class _Flight:
    worker: _Worker
    items: list[Any]  # [_Pending] for a main role, [_Trained] for an inference actor
    t0: float


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
        self._pools: dict[str, dict[str, list[_Worker]]] = {}
        self._n_tasks: dict[str, int] = {}
        self._classes: dict[str, Any] = {}
        self._made = 0
        res = self.ray.cluster_resources()
        self.log(f"ray: cluster with {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs, "
                 f"{len([n for n in self.ray.nodes() if n['Alive']])} node(s)")

    # ---- worker pools ---------------------------------------------------------------------------

    def _model_resources(self) -> tuple[float, float]:
        """(CPUs, GPUs) of one model actor (sampler, model, TTT or inference)."""
        gpus = self.cfg.ray.gpus_per_worker if self.ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        return self.cfg.ray.cpus_per_worker, gpus

    def _layout(self, stage: str, n_tasks: int) -> dict[str, int]:
        """How many actors of each role `stage` gets on the cluster as it is now."""
        rc = self.cfg.ray
        res = self.ray.cluster_resources()
        n_cpu, n_gpu = res.get("CPU", 1.0), res.get("GPU", 0.0)
        cpus, gpus = self._model_resources()
        fit = int(n_gpu / gpus + 1e-9) if gpus > 0 else int(n_cpu / cpus + 1e-9)
        if stage == "induction":
            samplers = 0
            if self.cfg.induction.n_samples > 0:  # on CPU: half the CPUs sample, the rest verify
                samplers = rc.model_workers or (fit if gpus > 0 else int(n_cpu / (2 * cpus)))
                samplers = max(1, min(samplers, n_tasks))
            left = int(n_cpu - samplers * cpus + 1e-9)
            if left < 1:
                raise ValueError(f"the cluster's {n_cpu:g} CPU(s) leave none for an induction actor beside {samplers} "
                                 f"sampler(s) of ray.cpus_per_worker={cpus:g}: lower it or set ray.model_workers")
            return {"sampler": samplers, "induction": min(rc.sandbox_workers or max(1, left), n_tasks)}
        if serves_transduction(self.cfg):
            if not rc.model_workers and gpus > 0 and fit < rc.serve_workers + 1:
                raise ValueError(f"served transduction needs a TTT actor beside {rc.serve_workers} inference actor(s), "
                                 f"but ray.gpus_per_worker={gpus:g} fits {fit} on {n_gpu:g} GPU(s): lower it "
                                 "(0.5 shares a GPU) or set ray.transduction_serving=off")
            ttt = rc.model_workers or max(1, fit - rc.serve_workers)
            return {"inference": min(rc.serve_workers, n_tasks), "ttt": min(ttt, n_tasks)}
        return {"model": min(rc.model_workers or max(1, fit), n_tasks)}

    def _actor(self, role: str) -> Any:
        if role not in self._classes:
            from ensemble.ray_sampling import SamplerWorker
            from ensemble.ray_workers import InferenceWorker, StageWorker

            cls = {"sampler": SamplerWorker, "inference": InferenceWorker}.get(role, StageWorker)
            self._classes[role] = self.ray.remote(max_restarts=0, max_task_retries=0)(cls)
        return self._classes[role]

    def _spawn(self, stage: str, role: str) -> _Worker:
        rc, cfg = self.cfg.ray, self.cfg
        cpus, gpus = (1.0, 0.0) if role == "induction" else self._model_resources()
        threads = rc.threads_per_worker or cfg.torch_threads or max(1, int(cpus))
        self._made += 1
        name = f"{role}-{self._made}"
        opts: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus}
        workdir = str((self.store.run_dir / "transduction").resolve())
        if role == "sampler":  # threaded: a call from each induction actor at once, plus `info`
            n_cpu = int(self.ray.cluster_resources().get("CPU", 1))
            opts["max_concurrency"] = max(rc.sandbox_workers, n_cpu) + 1
            args: tuple = (cfg.lm, rc.sample_batch_tasks, cfg.seed, threads, name)
        elif role == "inference":
            args = (cfg, threads, name)
        else:
            if role == "induction" and cfg.sandbox.concurrency == 0:  # fill the actor's CPU, not the machine
                cfg = dataclasses.replace(cfg, sandbox=dataclasses.replace(cfg.sandbox, concurrency=1))
            args = (cfg, stage, workdir, threads, name, role != "model")
        return _Worker(self._actor(role).options(**opts).remote(*args), name, role)

    def _ready(self, workers: Sequence[_Worker], timeout: float | None = None) -> None:
        for w, info in zip(workers, self.ray.get([w.handle.info.remote() for w in workers], timeout=timeout)):
            w.info, w.where = info, f"{info['host']}:{info['pid']} node {info['node']}"

    def prepare(self, stage: str, n_tasks: int) -> None:
        t0 = time.perf_counter()
        layout = self._layout(stage, n_tasks)
        pools = {role: [self._spawn(stage, role) for _ in range(n)] for role, n in layout.items() if n}
        for workers in pools.values():
            self._ready(workers)
            for w in workers:
                self.log(f"ray: {w.name} ready on {w.where} (loaded in {w.info['load_seconds']:.1f}s)")
        self._pools[stage], self._n_tasks[stage] = pools, n_tasks
        self.load_seconds[stage] = self.load_seconds.get(stage, 0.0) + time.perf_counter() - t0

    def release(self, stage: str) -> None:
        for role, workers in self._pools.pop(stage, {}).items():
            for w in workers:
                if role == "sampler":
                    try:
                        calls = self.ray.get(w.handle.backend_calls.remote())
                    except self.ray.exceptions.RayActorError as e:  # died idle: nothing of the run is lost
                        self.log(f"[yellow]ray: {w.name} ({w.where}) is gone: {type(e).__name__}[/yellow]")
                        continue
                    self.log(f"ray: {w.name} sampled for {w.tasks} induction job(s) in {calls} backend call(s)")
                self.ray.kill(w.handle)

    def close(self) -> None:
        for stage in list(self._pools):
            self.release(stage)
        self._local.__exit__(None, None, None)
        if self._owns_ray:
            self.ray.shutdown()

    def _replace(self, stage: str, dead: _Worker, pool: list[_Worker]) -> None:
        """A new actor for `dead` (already out of `pool`) if the cluster still has room for it."""
        if len(pool) >= self._layout(stage, self._n_tasks[stage]).get(dead.role, 0):
            return
        nw = self._spawn(stage, dead.role)
        try:
            self._ready([nw], timeout=_REPLACE_TIMEOUT_S)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError) as e:
            self.ray.kill(nw.handle)  # e.g. the cluster's resource view still counted the lost node
            self.log(f"[yellow]ray: no replacement for {dead.name}: {type(e).__name__}[/yellow]")
            return
        pool.append(nw)
        self.log(f"ray: {nw.name} replaces {dead.name} on {nw.where}")

    # ---- dispatch -------------------------------------------------------------------------------

    def _job(self, stage: str, task: Task) -> Job:
        if stage != "induction":
            return Job(task)
        from ensemble.sample_log import SqliteSampleLog

        return Job(task, self._local.imported(task.id), tuple(SqliteSampleLog(self.store).task_records(task.id)))

    def run(self, stage: str, tasks: Sequence[Task], start: StartFn,
            state: StateFn) -> Iterator[tuple[Task, StageResult]]:
        if not tasks:
            return
        pools = self._pools[stage]
        role = next(r for r in _MAIN_ROLES if r in pools)
        main, serve = pools[role], pools.get("inference")
        # Largest tasks first (stable for ties): a big task started last would leave the other
        # workers idle at the end. Answers do not depend on the order; results commit as they come.
        queue = deque(_Pending(self._job(stage, t)) for t in sorted(tasks, key=lambda t: -t.cells))
        trained: deque[_Trained] = deque()
        inflight: dict[Any, _Flight] = {}
        while queue or trained or inflight:
            yield from self._dispatch(stage, pools, main, queue, inflight, start)
            if serve is not None and trained:
                flush = not queue and not any(f.worker.role == "ttt" for f in inflight.values())
                self._dispatch_serving(serve, trained, inflight, flush)
            if not inflight:
                if queue:
                    yield from self._give_up(stage, [p.job for p in queue], start, "no worker left in the cluster")
                    queue.clear()
                if trained:
                    yield from self._give_up(stage, [t.pending.job for t in trained], start,
                                             "no inference actor left in the cluster")
                    trained.clear()
                continue
            busy = sum(1 for w in main if w.busy)
            state(f"[{busy}/{len(main)} workers busy, {len(queue)} queued"
                  + (f", {len(trained)} awaiting inference]" if serve is not None else "]"))
            ready, _ = self.ray.wait(list(inflight), num_returns=1, timeout=2.0)
            for ref in ready:
                yield from self._collect(stage, pools, inflight.pop(ref), ref, queue, trained)

    def _dispatch(self, stage: str, pools: dict[str, list[_Worker]], main: list[_Worker], queue: deque,
                  inflight: dict, start: StartFn) -> Iterator[tuple[Task, StageResult]]:
        """Hand queued jobs to idle main actors (stages the driver decides are committed at once)."""
        samplers = pools.get("sampler")
        for w in main:
            if w.busy or not queue:
                continue
            p = queue.popleft()
            task = p.job.task
            skipped = stages.ttt_skip(self.cfg, self.store, task) if stage == "transduction" else None
            start(task.id)
            if skipped is not None:  # decided by the driver, which reads the store
                yield task, StageResult(task.id, stage, skipped, None, 0.0)
                continue
            job = p.job
            if samplers is not None:
                if not samplers:
                    yield task, dataclasses.replace(crashed(task.id, stage, "no sampler actor left in the cluster",
                                                            0.0, "none"), samples=job.carried)
                    continue
                s = min(samplers, key=lambda x: x.load)
                s.load += 1
                s.tasks += 1
                kind, model = s.info["identity"]
                job = dataclasses.replace(job, sampler=SamplerRef(s.handle, s.name, kind, model))
            w.busy = task.id
            method = w.handle.train if w.role == "ttt" else w.handle.run
            inflight[method.remote(job)] = _Flight(w, [dataclasses.replace(p, job=job)], time.perf_counter())
            self.log(f"ray: {w.name} ({w.where}) <- {stage} {task.id}"
                     + (f" via {job.sampler.name}" if job.sampler is not None else "")
                     + (f" (retry {p.tries}/{self.cfg.ray.max_retries})" if p.tries else ""))

    def _dispatch_serving(self, serve: list[_Worker], trained: deque, inflight: dict, flush: bool) -> None:
        """Full batches of trained tasks (or what is left, once no TTT actor can add to them) to idle
        inference actors."""
        size = self.cfg.ray.serve_batch_tasks
        for w in serve:
            if w.busy or not trained or (len(trained) < size and not flush):
                continue
            batch = [trained.popleft() for _ in range(min(size, len(trained)))]
            w.busy = ",".join(t.pending.job.task.id for t in batch)
            inflight[w.handle.run.remote([t.trained for t in batch])] = _Flight(w, batch, time.perf_counter())
            self.log(f"ray: {w.name} ({w.where}) <- inference of {len(batch)} task(s): {w.busy}")

    def _collect(self, stage: str, pools: dict[str, list[_Worker]], f: _Flight, ref: Any, queue: deque,
                 trained: deque) -> Iterator[tuple[Task, StageResult]]:
        w = f.worker
        w.busy = ""
        used = f.items[0].job.sampler if w.role != "inference" else None
        for s in pools.get("sampler", []) if used is not None else []:
            if s.name == used.name:
                s.load -= 1
        try:
            out = self.ray.get(ref)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError,
                self.ray.exceptions.NodeDiedError) as e:
            yield from self._died(stage, pools[w.role], f, e, queue, trained)
            return
        w.tasks += 1
        if w.role == "inference":
            assert len(out) == len(f.items), f"{w.name} returned {len(out)} results for {len(f.items)} tasks"
            for t, result in zip(f.items, out):
                yield t.pending.job.task, dataclasses.replace(result, seconds=result.seconds + t.seconds)
            return
        p = f.items[0]
        if w.role == "ttt" and not isinstance(out, StageResult):
            trained.append(_Trained(p, out, time.perf_counter() - f.t0))
            return
        if out.lost:  # its sampler died: replace it, and retry with the samples already drawn
            pool = pools["sampler"]
            dead = next((s for s in pool if s.name == out.lost), None)
            if dead is not None:
                pool.remove(dead)
                self.log(f"[yellow]ray: {dead.name} ({dead.where}) died during {stage} {p.job.task.id}[/yellow]")
                self._replace(stage, dead, pool)
            job = dataclasses.replace(p.job, carried=p.job.carried + out.samples, sampler=None)
            yield from self._retry(stage, _Pending(job, p.tries), queue, out.failure.message, out.seconds, w.name)
            return
        yield p.job.task, out

    def _died(self, stage: str, pool: list[_Worker], f: _Flight, err: Exception, queue: deque,
              trained: deque) -> Iterator[tuple[Task, StageResult]]:
        """Drop the dead actor (replace it if the cluster has room); retry or record its stages."""
        w = f.worker
        pool.remove(w)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        self.log(f"[yellow]ray: {w.name} ({w.where}) died during {stage} {w.busy or '?'}: "
                 f"{type(err).__name__}: {first}[/yellow]")
        self._replace(stage, w, pool)
        seconds = time.perf_counter() - f.t0
        for item in f.items:
            if isinstance(item, _Trained):  # the adapter is saved: only the inference is redone
                if item.tries < self.cfg.ray.max_retries:
                    trained.appendleft(dataclasses.replace(item, tries=item.tries + 1))
                    continue
                yield item.pending.job.task, self._crashed(stage, item.pending.job, item.tries, first, seconds, w.name)
            else:
                yield from self._retry(stage, item, queue, first, seconds, w.name)

    def _retry(self, stage: str, p: _Pending, queue: deque, why: str, seconds: float,
               worker: str) -> Iterator[tuple[Task, StageResult]]:
        if p.tries < self.cfg.ray.max_retries:
            queue.appendleft(_Pending(p.job, p.tries + 1))
            return
        yield p.job.task, self._crashed(stage, p.job, p.tries, why, seconds, worker)

    def _crashed(self, stage: str, job: Job, tries: int, why: str, seconds: float, worker: str) -> StageResult:
        msg = f"its worker died {tries + 1} time(s) (ray.max_retries={self.cfg.ray.max_retries}): {why}"
        return dataclasses.replace(crashed(job.task.id, stage, msg, seconds, worker), samples=job.carried)

    def _give_up(self, stage: str, jobs: Sequence[Job], start: StartFn, why: str) -> Iterator[tuple[Task, StageResult]]:
        for job in jobs:
            start(job.task.id)
            yield job.task, dataclasses.replace(crashed(job.task.id, stage, why, 0.0, "none"), samples=job.carried)
