"""The Ray actors' classes (`ensemble.ray_exec` makes them remote) and the jobs they take, as data.

- `StageWorker`: one solver stage's resources, loaded once, for task after task. Three roles:
  an *induction actor* (1 CPU: sandbox, extraction, verification, ranking; it samples through the
  `RemoteSampler` its job names, never a model of its own), a *model actor* (transduction as in a
  local run: TTT, inference and scoring on the training model) and a *TTT actor* (transduction whose
  adapters an inference actor serves: TTT, query plan and DFS, returning a `TrainedTask`).
- `InferenceWorker`: the serving backend (vLLM; `ray.transduction_serving=on` also serves through
  an HF backend) loaded once; it finishes several trained tasks per call with
  `transduction.pipeline.finish_tasks` (one `generate` and one `score` call for all of them).
- Sampler actors: `ensemble.ray_sampling`.

Nothing here writes the store: every method returns data (`StageResult`, `TrainedTask`) for the
driver. Each actor seeds its process like the runner does, so answers do not depend on placement.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_core.task import Task

from ensemble import stages
from ensemble.config import RunConfig
from ensemble.executor import StageResult, capture, execute

def serves_transduction(cfg: RunConfig) -> bool:
    """Whether transduction on Ray splits into TTT actors and inference actors (`ray.transduction_serving`:
    "auto" = when its inference backend serves saved adapters, i.e. lm.backend = vllm)."""
    mode = cfg.ray.transduction_serving
    if mode != "auto":
        return mode == "on"
    from transduction.serving import inference_lm

    return inference_lm(cfg.lm, cfg.transduction).backend != "hf"


def actor_info(name: str, load_seconds: float) -> dict[str, Any]:
    import ray

    return {"name": name, "host": socket.gethostname(), "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id()[:8], "load_seconds": load_seconds}


@dataclass(frozen=True)
class SamplerRef:
    """Which sampler actor an induction job samples with, and the backend identity it reports."""

    handle: Any
    name: str
    kind: str
    model: str


@dataclass(frozen=True)
class Job:
    """What a worker needs for one stage of one task (the task without test outputs)."""

    task: Task
    imported: tuple[str, tuple[str, ...]] = ("", ())  # (import file hash, texts) for induction
    samples: tuple[Any, ...] = ()  # the task's induction samples already in the store's log
    carried: tuple[Any, ...] = ()  # samples an earlier try drew, not yet in the store: reused, returned
    sampler: SamplerRef | None = None


class StageWorker:
    """A Ray actor: an induction, model or TTT actor (see the module docstring)."""

    def __init__(self, cfg: RunConfig, stage: str, workdir: str, threads: int, name: str,
                 remote_models: bool) -> None:
        from ensemble.runner import seed_everything

        t0 = time.perf_counter()
        seed_everything(cfg.seed, threads, torch_too=stage == "transduction")  # induction actors hold no model
        self.stage, self.name = stage, name
        self.solvers = stages.Solvers(cfg, None, workdir=Path(workdir), remote_models=remote_models)
        self.solvers.prepare(stage)
        self.load_seconds = time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        return actor_info(self.name, self.load_seconds)

    def run(self, job: Job) -> StageResult:
        if self.stage == "transduction":
            return execute(job.task.id, self.stage, lambda: self.solvers.transduction(job.task), self.name)
        from induction.samples import MemorySampleLog

        from ensemble.ray_sampling import RemoteSampler

        log = MemorySampleLog()
        log.append(job.samples + job.carried)
        known = {r.key for r in job.samples}
        s = job.sampler
        backend = RemoteSampler(s.handle, s.name, s.kind, s.model) if s is not None else None
        result = execute(job.task.id, self.stage,
                         lambda: self.solvers.induction(job.task, log, job.imported, backend), self.name,
                         lambda: [r for r in log.task_records(job.task.id) if r.key not in known])
        if backend is not None and backend.lost:
            return dataclasses.replace(result, lost=backend.worker)
        return result

    def train(self, job: Job) -> Any:
        """A TTT actor's step: the task's `TrainedTask`, or the `StageResult` of its failure."""
        trained, failure, seconds = capture(lambda: self.solvers.transduction_train(job.task))
        if failure is None:
            return trained
        return StageResult(job.task.id, self.stage, None, failure, seconds, (), self.name)


class InferenceWorker:
    """A Ray actor holding the serving backend and the tokenizer of `transduction.model`."""

    def __init__(self, cfg: RunConfig, threads: int, name: str) -> None:
        from arc_lm.backends import load_backend
        from arc_lm.models import load_tokenizer
        from transduction.serving import inference_lm

        from ensemble.runner import seed_everything

        t0 = time.perf_counter()
        seed_everything(cfg.seed, threads)
        self.cfg, self.name = cfg, name
        self.backend = load_backend(inference_lm(cfg.lm, cfg.transduction))
        self.tokenizer = load_tokenizer(cfg.transduction.model)
        self.batches: list[list[str]] = []  # task ids of each call, for the log and tests
        self.load_seconds = time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        return actor_info(self.name, self.load_seconds)

    def run(self, trained: Sequence[Any]) -> list[StageResult]:
        """Finish `trained` tasks in one serving call; if that fails, each task alone (own failure)."""
        from transduction.pipeline import finish_tasks

        self.batches.append([t.task.id for t in trained])
        if len(trained) == 1:
            return [self._one(trained[0])]
        t0 = time.perf_counter()
        try:
            results = finish_tasks(trained, self.backend, self.tokenizer, self.cfg.transduction)
        except Exception:  # not swallowed: each task is redone alone and keeps its own failure
            return [self._one(t) for t in trained]
        share = (time.perf_counter() - t0) / len(trained)
        return [dataclasses.replace(execute(t.task.id, "transduction", lambda t=t, r=r: stages.transduction_output(t.task, r),
                                            self.name), seconds=share) for t, r in zip(trained, results)]

    def _one(self, t: Any) -> StageResult:
        from transduction.pipeline import finish_tasks

        return execute(t.task.id, "transduction", lambda: stages.transduction_output(
            t.task, finish_tasks([t], self.backend, self.tokenizer, self.cfg.transduction)[0]), self.name)

    def calls(self) -> list[list[str]]:
        return list(self.batches)
