"""The Ray actor that runs the runner's stages (`ensemble.ray_exec` makes it remote) and its jobs, as data.

`StageWorker` keeps one role's resources loaded (`ensemble.stages.Solvers`) for task after task:
- *induction* (1 CPU): sandbox, extraction, verification, ranking; it samples through the sampler
  actor its job names (`ensemble.ray_sampling`), never a model of its own. `induction` is a streaming
  generator: the samples drawn reach the driver (and the store) as they are drawn, then the result;
- *model*: `train` and `infer` on one model (TTT, then inference on the adapter just trained);
- *ttt*: `train` only, when an inference engine elsewhere serves the adapters (vLLM);
- *inference*: `infer` only, several tasks per call (one `generate` and one `score` call for all).
Adapters travel as bytes: `train` returns the saved adapter's files with its result (the driver
writes them under RUN_DIR); `infer` gets them with the job unless this actor saved that adapter
itself, and writes them into its own scratch directory first, so nodes need no shared file system.

Nothing here writes the store: every method returns data. Each actor seeds its process as the runner
does (`arc_core.seeds.seed_everything`), so answers do not depend on placement.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import queue
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_core.seeds import seed_everything
from arc_core.task import Task

from ensemble import stages
from ensemble.config import RunConfig
from ensemble.executor import StageResult, execute


@dataclass(frozen=True)
class SamplerRef:
    """Which sampler actor an induction job samples with, and the backend identity it reports."""

    handle: Any
    name: str
    kind: str
    model: str


@dataclass(frozen=True)
class InductionJob:
    """One task's induction (the task without test outputs)."""

    task: Task
    imported: tuple[str, tuple[str, ...]] = ("", ())  # (import file hash, texts)
    samples: tuple[Any, ...] = ()  # the task's samples already in the store's log (not redrawn)
    sampler: SamplerRef | None = None


@dataclass(frozen=True)
class InferWork:
    """One task's `infer`: its TrainedTask (adapter path relative to RUN_DIR) and the adapter's files,
    None when the actor saved that adapter itself."""

    task: Task
    trained: Any
    files: dict[str, bytes] | None = None
    limits: Any = None  # transduction.limits.TaskLimits under a time budget


def adapter_digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()[:16]


class StageWorker:
    """A Ray actor of one role (see the module docstring)."""

    def __init__(self, cfg: RunConfig, role: str, threads: int, name: str) -> None:
        t0 = time.perf_counter()
        seed_everything(cfg.seed, threads, torch_too=role != "induction")  # induction actors hold no model
        self.role, self.name = role, name
        self.scratch = Path(tempfile.mkdtemp(prefix=f"arc-hybrid-{name}-"))  # this node's copy of RUN_DIR's adapters
        if role == "induction" and cfg.sandbox.concurrency == 0:  # fill the actor's CPU, not the machine
            cfg = dataclasses.replace(cfg, sandbox=dataclasses.replace(cfg.sandbox, concurrency=1))
        self.solvers = stages.Solvers(cfg, None, workdir=self.scratch / stages.ADAPTERS,
                                      remote_models=role in ("induction", "ttt", "inference"))
        for stage in {"induction": ("induction",), "model": ("train", "infer"), "ttt": ("train",),
                      "inference": ("infer",)}[role]:
            self.solvers.prepare(stage)
        self.load_seconds = time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        import ray

        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id()[:8], "load_seconds": self.load_seconds}

    def close(self) -> None:
        self.solvers.__exit__(None, None, None)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # ---- induction: a streaming generator -------------------------------------------------------
    def induction(self, job: InductionJob) -> Iterator[tuple]:
        """Yields ("samples", records) as samples are drawn, then ("result", StageResult), or, when the
        sampler died, ("lost", sampler name, StageResult of the failure)."""
        from induction.samples import MemorySampleLog

        from ensemble.ray_sampling import RemoteSampler

        drawn: queue.Queue = queue.Queue()

        class _Log(MemorySampleLog):  # every record the pipeline appends also goes to the driver
            def append(self, records: Sequence[Any]) -> None:
                super().append(records)
                drawn.put(list(records))

        log = _Log()
        MemorySampleLog.append(log, job.samples)
        s = job.sampler
        backend = RemoteSampler(s.handle, s.name, s.kind, s.model) if s is not None else None
        done: list[StageResult] = []
        worker = threading.Thread(target=lambda: done.append(execute(
            job.task.id, "induction", lambda: self.solvers.induction(job.task, log, job.imported, backend), self.name)))
        worker.start()
        while worker.is_alive() or not drawn.empty():
            try:
                yield ("samples", drawn.get(timeout=0.2))
            except queue.Empty:
                continue
        worker.join()
        if backend is not None and backend.lost:
            yield ("lost", backend.worker, done[0])
            return
        yield ("result", done[0])

    # ---- transduction ---------------------------------------------------------------------------
    def train(self, task: Task, limits: Any = None) -> StageResult:
        """TTT of a task; its adapter's files travel with the result (written under RUN_DIR by the driver).
        Only the adapter trained last stays on this node (for an `infer` of that task here): at paper size
        an adapter is over a gigabyte, and the driver keeps every one under RUN_DIR."""
        adapters = self.scratch / stages.ADAPTERS / "adapters"
        for old in adapters.iterdir() if adapters.is_dir() else ():
            if old.name != task.id:
                shutil.rmtree(old, ignore_errors=True)
        result = execute(task.id, "train", lambda: self.solvers.train(task, limits), self.name)
        rel = (result.output.result or {}).get("adapter") if result.output is not None else None
        if rel is None:
            return result
        from transduction.train import adapter_files

        return dataclasses.replace(result, adapter=adapter_files(self.scratch / rel))

    def infer(self, works: Sequence[InferWork]) -> list[StageResult]:
        """`infer` of the given tasks in one serving call; if that fails, each task alone (its own
        failure). Per-task seconds of the shared call are its time split evenly. Adapters received
        for the call are deleted after it."""
        # One directory per content: an engine that caches adapters by path never serves a stale one.
        # (The digest reads every adapter file, over a GB at paper size: computed once per task.)
        served = [None if w.files is None else self.scratch / "served" / f"{w.task.id}-{adapter_digest(w.files)}"
                  for w in works]
        try:
            return self._infer(works, [self._resolve(w, path) for w, path in zip(works, served)])
        finally:
            for path in served:
                if path is not None:
                    shutil.rmtree(path, ignore_errors=True)

    def _infer(self, works: Sequence[InferWork], local: list[Any]) -> list[StageResult]:
        if len(works) > 1:
            t0 = time.perf_counter()
            try:
                outs = self.solvers.infer_many([w.task for w in works], local, [w.limits for w in works])
            except Exception:  # not swallowed: each task is redone alone and keeps its own failure
                outs = None
            if outs is not None:
                share = (time.perf_counter() - t0) / len(works)
                return [StageResult(w.task.id, "infer", o, None, share, self.name) for w, o in zip(works, outs)]
        return [execute(w.task.id, "infer", lambda w=w, t=t: self.solvers.infer(w.task, t, w.limits), self.name)
                for w, t in zip(works, local)]

    def _resolve(self, w: InferWork, path: Path | None) -> Any:
        """The TrainedTask with its adapter at a path on this node: `path`, where its received files
        go (None: saved here by this actor's own `train`)."""
        trained = w.trained
        if trained.adapter is None:
            return trained
        if path is None:
            return dataclasses.replace(trained, adapter=str(self.scratch / trained.adapter))
        from transduction.train import write_adapter_files

        if not (path / "record.json").is_file():
            write_adapter_files(w.files, path)
        return dataclasses.replace(trained, adapter=str(path))
