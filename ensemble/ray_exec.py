"""Ray as a map of the runner's stage graph over actor pools (`arc-hybrid run --ray [ADDRESS]`).

Nothing here decides what a stage computes, which stages run or which are skipped (the runner does,
`ensemble.graph`), and nothing here writes the store: the runner submits ready jobs, this executor
hands each to an idle actor of the role that runs its stage and gives the `StageResult` back.

- Roles (`ensemble.ray_layout` sizes them from the live nodes before anything starts, or refuses a
  layout the cluster cannot hold, naming the setting): induction runs on 1-CPU *induction* actors
  that sample through *sampler* actors; `train` and `infer` on *model* actors (hf: one model for
  both; a task's `infer` goes preferably to the actor that trained it, which has the adapter), or,
  when the adapters are served (vLLM, `ray.transduction_serving`), `train` on *ttt* actors and
  `infer` on *inference* actors, `ray.serve_batch_tasks` tasks per call. A stage's tasks go largest
  first (`Task.cells`), so the slowest task does not start last.
- Ray's own mechanisms: actors are created with `max_restarts`, so Ray restarts a dead actor (model
  reloaded) in the background while the others keep working (`ensemble.ray_pool`); induction streams
  its samples back as they are drawn (a streaming generator: the runner commits them at once, so an
  actor's death loses none); adapters travel as bytes in results and job arguments (Ray's object
  store), so nodes need no shared file system.
- Faults: a stage whose actor (or sampler) died is given to another actor, at most `ray.max_retries`
  times, then recorded `crashed`; these are attempts (the store's `starts`), never process deaths.
  Every few seconds the cluster is checked: with no live node, or when no live node could host the
  actors some queued stage needs, `ClusterLost` stops the run within seconds (the runner keeps what
  it has, marks the stages in flight interrupted and exits non-zero; a resume continues).
- Answers do not depend on placement or batching: seeds derive from the task, each actor seeds its
  process like the runner, and a task's requests are a batching group of their own.
"""
from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ensemble import ray_layout, stages
from ensemble.config import RunConfig
from ensemble.executor import DeadlineReached, Hooks, StageResult, StopRun, crashed
from ensemble.graph import Job
from ensemble.ray_config import INSTALL_HINT
from ensemble.ray_pool import Actor, Pool, State, death_errors
from ensemble.ray_workers import InductionJob, InferWork, SamplerRef
from ensemble.store import RunStore

HEALTH_EVERY_S = 2.0  # how often a waiting driver checks that the cluster can still run the stages
_WAIT_S = 1.0


class ClusterLost(StopRun):
    """The cluster can no longer run the stages left (no live node, or none that fits an actor)."""


def require_ray() -> Any:
    """The `ray` module, or a ValueError with one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


def serves_transduction(cfg: RunConfig) -> bool:
    """Whether `train` and `infer` run on separate actors (`ray.transduction_serving`: "auto" = when
    the inference backend serves saved adapters itself, i.e. lm.backend = vllm)."""
    mode = cfg.ray.transduction_serving
    return mode == "on" if mode != "auto" else not stages.searches_at_inference(cfg)


@dataclass
class _Flight:
    actor: Actor
    jobs: list[Job]
    t0: float
    sampler: Actor | None = None


@dataclass
class RayExecutor:
    """The `ensemble.executor.Executor` on a Ray cluster (see the module docstring). `ray` may be given
    (a test's fake); otherwise the real module, connected or started here."""

    cfg: RunConfig
    store: RunStore
    programs_file: Path | None
    hooks: Hooks
    ray: Any = None
    load_seconds: dict[str, float] = field(default_factory=dict)
    workers: int = 1

    def __post_init__(self) -> None:
        self.ray = self.ray or require_ray()
        rc = self.cfg.ray
        self._owns_ray = not self.ray.is_initialized()
        if self._owns_ray:
            kwargs: dict[str, Any] = {"address": rc.address or None, "log_to_driver": False, "logging_level": "warning"}
            if not rc.address:  # a cluster of our own on this machine
                kwargs.update(include_dashboard=False, num_cpus=rc.num_cpus or None)
            self.ray.init(**kwargs)
        try:
            self._local = stages.Solvers(self.cfg, self.store, self.programs_file)  # reads imports; loads nothing
            nodes = ray_layout.live_nodes(self.ray.nodes())
            self.hooks.log(f"ray: cluster of {len(nodes)} live node(s), {sum(n.cpus for n in nodes):g} CPUs, "
                           f"{sum(n.gpus for n in nodes):g} GPUs")
        except BaseException:
            self.close()
            raise
        self._pools: dict[str, Pool] = {}
        self._roles: dict[str, str] = {}  # stage -> role of the actors that run it
        self._layout: ray_layout.Layout | None = None
        self._queues: dict[str, list[Job]] = {}
        self._flights: dict[Any, _Flight] = {}
        self._results: deque[StageResult] = deque()
        self._tries: dict[tuple[str, str], int] = {}
        self._made = 0
        self._checked = 0.0
        self._classes: dict[str, Any] = {}

    # ---- phases ---------------------------------------------------------------------------------

    def open(self, phase: str, counts: Mapping[str, int]) -> None:
        served = phase == "transduction" and serves_transduction(self.cfg)
        layout = ray_layout.plan(self.cfg, phase, counts, ray_layout.live_nodes(self.ray.nodes()), served)
        self._layout = layout
        self._roles = {"induction": "induction", "train": "ttt" if served else "model",
                       "infer": "inference" if served else "model"}
        for role, n in layout.counts.items():
            if n:
                pool = Pool(self.ray, role, lambda name, role=role: self._actor(role, name), self.hooks.log,
                            death_limit=self.cfg.ray.max_retries + 2)
                pool.start(n, self._made + 1)
                self._made += n
                self._pools[role] = pool
        main = self._roles["train"] if phase == "transduction" else "induction"
        self.workers = max(1, layout.counts.get(main, 0))
        self.hooks.log("ray: starting " + ", ".join(f"{n} {r} actor(s) of {layout.resources[r]}"
                                                    for r, n in layout.counts.items() if n))

    def _actor(self, role: str, name: str) -> Any:
        rc, cfg = self.cfg.ray, self.cfg
        res = self._layout.resources[role]
        threads = ray_layout.actor_threads(cfg, res.cpus)
        opts: dict[str, Any] = {"num_cpus": res.cpus, "num_gpus": res.gpus}
        if role == "sampler":
            from ensemble.ray_sampling import SamplerWorker

            cls, args = SamplerWorker, (cfg.lm, rc.sample_batch_tasks, cfg.seed, threads, name)
            opts["max_concurrency"] = max(self._layout.counts.get("induction", 1), 1) + 1  # a call per induction actor
        else:
            from ensemble.ray_workers import StageWorker

            cls, args = StageWorker, (cfg, role, threads, name)
        if cls.__name__ not in self._classes:
            self._classes[cls.__name__] = self.ray.remote(max_restarts=-1, max_task_retries=0)(cls)
        return self._classes[cls.__name__].options(**opts).remote(*args)

    def release(self, phase: str) -> None:
        for pool in self._pools.values():
            for a in pool.up():
                if a.role == "sampler":
                    try:
                        calls = self.ray.get(a.handle.backend_calls.remote(), timeout=30)
                    except death_errors(self.ray) as e:  # died idle: nothing of the run is lost
                        self.hooks.log(f"[yellow]ray: {a.name} ({a.where}) is gone: {type(e).__name__}[/yellow]")
                        continue
                    self.hooks.log(f"ray: {a.name} sampled for {a.jobs} induction job(s) in {calls} backend call(s)")
                elif a.jobs:
                    self.hooks.log(f"ray: {a.name} ({a.where}) ran {a.jobs} job(s)")
            pool.close()
        self._pools.clear()

    def close(self) -> None:
        for pool in getattr(self, "_pools", {}).values():
            pool.close()
        if getattr(self, "_local", None) is not None:
            self._local.__exit__(None, None, None)
        if self._owns_ray:
            self.ray.shutdown()

    # ---- jobs -----------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        q = self._queues.setdefault(job.stage, [])
        q.append(job)
        if job.stage != "infer":  # largest first (stable): infer jobs keep the order their tasks trained in
            q.sort(key=lambda j: -j.task.cells)

    def next_result(self) -> StageResult | None:
        while not self._results:
            if not self._flights and not any(self._queues.values()):
                return None
            if self.hooks.expired():
                raise DeadlineReached("the time budget is spent")
            self._dispatch()
            if self._results:
                break
            refs = list(self._flights) + [r for p in self._pools.values() for r in p.probes()]
            ready, _ = self.ray.wait(refs, num_returns=1, timeout=_WAIT_S) if refs else ([], [])
            for ref in ready:
                self._collect(ref)
            self._health(force=not refs)  # nothing to wait on: what is queued may have no actor left
        return self._results.popleft()

    def _dispatch(self) -> None:
        for role, pool in self._pools.items():
            if role == "sampler":
                continue
            for actor in pool.idle():
                if not self._give(actor):
                    break
        busy = sum(len([a for a in p.actors if a.state is State.BUSY]) for r, p in self._pools.items() if r != "sampler")
        total = sum(len(p.actors) for r, p in self._pools.items() if r != "sampler")
        self.hooks.state(f"[{busy}/{total} actors busy, {sum(len(q) for q in self._queues.values())} queued]")

    def _give(self, actor: Actor) -> bool:
        """Hand `actor` its next job(s); False when there is nothing for its role now."""
        if actor.role == "induction":
            return self._give_induction(actor)
        infer, train = self._queues.get("infer", []), self._queues.get("train", [])
        if actor.role in ("model", "inference") and infer:
            if actor.role == "inference":
                size = self.cfg.ray.serve_batch_tasks
                flush = not train and not any(j.stage == "train" for f in self._flights.values() for j in f.jobs)
                if len(infer) < size and not flush:
                    return False
                jobs = self._prepared([infer.pop(0) for _ in range(min(size, len(infer)))])
            else:
                mine = next((j for j in infer if j.task.id in actor.holds), infer[0])
                infer.remove(mine)
                jobs = self._prepared([mine])
            if not jobs:
                return True  # dropped (the time budget): the actor is still free for what is next
            works = [InferWork(j.task, self._relative(j.trained), None if j.task.id in actor.holds else
                               self._adapter_files(j.trained), j.limits) for j in jobs]
            self._launch(actor, jobs, actor.handle.infer.remote(works))
            return True
        if actor.role in ("model", "ttt") and train:
            jobs = self._prepared([train.pop(0)])
            if jobs:
                self._launch(actor, jobs, actor.handle.train.remote(jobs[0].task, jobs[0].limits))
            return True
        return False

    def _prepared(self, jobs: list[Job]) -> list[Job]:
        """The jobs as they start (`hooks.prepare`: a time budget's limits), those dropped left out."""
        return [p for p in (self.hooks.prepare(j) for j in jobs) if p is not None]

    def _give_induction(self, actor: Actor) -> bool:
        queue = self._queues.get("induction", [])
        if not queue:
            return False
        sampler = None
        if self.cfg.induction.n_samples > 0:
            samplers = self._pools.get("sampler")
            up = samplers.up() if samplers is not None else []
            if not up:
                if samplers is not None and samplers.alive():
                    return False  # a sampler is (re)starting: the job waits for it
                self._give_up(queue.pop(0), "no sampler actor left in the cluster")
                return True
            sampler = min(up, key=lambda s: s.load)
            sampler.load += 1
        prepared = self._prepared([queue.pop(0)])
        if not prepared:
            if sampler is not None:
                sampler.load -= 1
            return True
        job = prepared[0]
        from ensemble.sample_log import SqliteSampleLog

        ref = None
        if sampler is not None:
            kind, model = sampler.info["identity"]
            ref = SamplerRef(sampler.handle, sampler.name, kind, model)
        work = InductionJob(job.task, self._local.imported(job.task.id),
                            tuple(SqliteSampleLog(self.store).task_records(job.task.id)), ref)
        gen = actor.handle.induction.options(num_returns="streaming").remote(work)
        self._launch(actor, [job], gen, sampler)
        return True

    def _launch(self, actor: Actor, jobs: list[Job], ref: Any, sampler: Actor | None = None) -> None:
        actor.state, actor.busy_with = State.BUSY, ",".join(j.task.id for j in jobs)
        for j in jobs:
            self.hooks.start(j.task.id, j.stage, actor.name)
        self._flights[ref] = _Flight(actor, jobs, time.perf_counter(), sampler)
        tries = max(self._tries.get(j.key, 0) for j in jobs)
        self.hooks.log(f"ray: {actor.name} ({actor.where}) <- {jobs[0].stage} {actor.busy_with}"
                       + (f" via {sampler.name}" if sampler is not None else "")
                       + (f" (retry {tries}/{self.cfg.ray.max_retries})" if tries else ""))

    def _relative(self, trained: Any) -> Any:
        """A TrainedTask whose adapter path is relative to RUN_DIR again (as actors resolve it)."""
        if trained is None or trained.adapter is None:
            return trained
        rel = Path(trained.adapter).resolve().relative_to(self.store.run_dir.resolve())
        return dataclasses.replace(trained, adapter=str(rel))

    def _adapter_files(self, trained: Any) -> dict[str, bytes] | None:
        if trained is None or trained.adapter is None:
            return None
        from transduction.train import adapter_files

        return adapter_files(trained.adapter)

    # ---- results and faults ---------------------------------------------------------------------

    def _collect(self, ref: Any) -> None:
        for pool in self._pools.values():
            actor = pool.probes().get(ref)
            if actor is not None:
                pool.on_probe(actor)
                self.load_seconds[actor.role] = max(self.load_seconds.get(actor.role, 0.0),
                                                    actor.info.get("load_seconds", 0.0))
                return
        f = self._flights.pop(ref)
        pool = self._pools[f.actor.role]
        try:
            if f.jobs[0].stage == "induction":
                if self._stream(ref, f):
                    return
            else:
                out = self.ray.get(ref)
                results = out if isinstance(out, list) else [out]
                assert len(results) == len(f.jobs), f"{f.actor.name}: {len(results)} results for {len(f.jobs)} jobs"
                for r in results:
                    if r.stage == "train":  # the actor keeps the adapter it trained last, no other
                        f.actor.holds = {r.task_id} if r.output is not None and r.adapter is not None else set()
                    self._results.append(r)
        except death_errors(self.ray) as e:
            pool.died(f.actor, e, f"{f.jobs[0].stage} {f.actor.busy_with}")
            for j in f.jobs:
                self._retry(j, f"{f.actor.name} died: {type(e).__name__}", time.perf_counter() - f.t0, f.actor.name)
            return
        pool.finished(f.actor)

    def _stream(self, gen: Any, f: _Flight) -> bool:
        """One item of an induction stream; True while the stage goes on (samples so far committed)."""
        try:
            item = self.ray.get(next(gen))
        except StopIteration:
            item = ("result", crashed(f.jobs[0].task.id, "induction", "the induction stream ended without a result",
                                      time.perf_counter() - f.t0, f.actor.name))
        if item[0] == "samples":
            self.hooks.samples(item[1])
            self._flights[gen] = f
            return True
        if f.sampler is not None:
            f.sampler.load -= 1
            f.sampler.jobs += item[0] == "result"
        if item[0] == "lost":  # its sampler died: Ray restarts it; the stage is retried, samples kept
            samplers = self._pools["sampler"]
            if f.sampler in samplers.actors and f.sampler.state is not State.RESTARTING:
                samplers.died(f.sampler, RuntimeError(item[2].failure.message), f"induction {f.jobs[0].task.id}")
            self._retry(f.jobs[0], item[2].failure.message, item[2].seconds, f.actor.name)
            return False
        self._results.append(item[1])
        return False

    def _give_up(self, job: Job, why: str) -> None:
        """Record `job` crashed without running it (started first, so the store has its row)."""
        self.hooks.start(job.task.id, job.stage, "none")
        self._results.append(crashed(job.task.id, job.stage, why, 0.0, "none"))

    def _retry(self, job: Job, why: str, seconds: float, worker: str) -> None:
        tries = self._tries.get(job.key, 0) + 1
        self._tries[job.key] = tries
        if tries <= self.cfg.ray.max_retries:
            self._queues.setdefault(job.stage, []).insert(0, job)
            return
        msg = f"its worker died {tries} time(s) (ray.max_retries={self.cfg.ray.max_retries}): {why}"
        self._results.append(crashed(job.task.id, job.stage, msg, seconds, worker))

    def _health(self, force: bool = False) -> None:
        """Every `HEALTH_EVERY_S` (or now, with `force`): stop at once when the cluster cannot run what is
        left (see the module docstring); give up queued jobs whose role has no actor left at all."""
        now = time.monotonic()
        if now - self._checked < HEALTH_EVERY_S and not force:
            return
        self._checked = now
        try:
            nodes = ray_layout.live_nodes(self.ray.nodes())
        except Exception as e:  # the cluster's control plane itself is gone
            raise ClusterLost(f"the Ray cluster does not answer: {type(e).__name__}: {e}") from e
        if not nodes:
            raise ClusterLost("the Ray cluster has no live node left")
        for pool in self._pools.values():
            pool.give_up_slow(self.cfg.ray.start_timeout_s)
        needed = {self._roles[s] for s, q in self._queues.items() if q}
        if self.cfg.induction.n_samples > 0 and "induction" in needed:
            needed.add("sampler")
        for role in sorted(needed):
            pool = self._pools.get(role)
            if pool is None or not pool.alive():
                for stage in [s for s, q in self._queues.items() if q and self._roles[s] == role]:
                    for job in self._queues.pop(stage):
                        self._give_up(job, f"no {role} actor left in the cluster")
                continue
            res = self._layout.resources[role]
            if not pool.up() and not ray_layout.fits([res], nodes):
                raise ClusterLost(f"no live node can host a {role} actor ({res}) any more, and none is up: "
                                  f"the cluster has {len(nodes)} live node(s)")
