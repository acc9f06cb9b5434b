"""Where a stage runs: in this process (`LocalExecutor`) or on a Ray cluster (`ensemble.ray_exec`).

An executor only *executes* the runner's stage graph (`ensemble.graph`): the runner decides what is
ready and what is skipped, owns the store, resume and failure recording. The protocol:
`open(phase, counts)` loads what a phase needs; `submit(job)` queues a ready stage of a task;
`next_result()` runs or waits for one and returns its `StageResult` (None once nothing is queued
or running); `release(phase)` frees the phase's resources; `close()` everything. The executor calls
`hooks.start(task_id, stage, worker)` just before an attempt of a stage begins (a stage resubmitted
after its worker died starts again: the store counts attempts) and hands induction samples drawn
elsewhere to `hooks.samples` as they arrive, so the runner, the only writer of the store, commits
them at once.

A `StageResult` is plain data: the stage's `StageOutput` or its failure (reason and text), plus, for
a `train` stage run elsewhere, the adapter's files for the runner to write under RUN_DIR.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ensemble import stages
from ensemble.graph import PRIORITY, Job
from ensemble.store import LOCAL, FailureReason, StageOutput


class StopRun(RuntimeError):
    """The executor cannot go on (e.g. its cluster is lost): the run stops, keeping what it has; the
    stages in flight are recorded interrupted and a resume continues them."""


class DeadlineReached(StopRun):
    """The run's time budget is spent (`ensemble.timebudget`): it ends as planned, keeping what it has."""


@dataclass(frozen=True)
class StageFailure:
    reason: FailureReason
    message: str  # "ExcType: text"
    detail: str   # the end of the traceback


@dataclass(frozen=True)
class StageResult:
    """A finished stage of one task, as data: exactly one of `output` and `failure` is set.
    `adapter`: a `train` stage's saved adapter as files (`transduction.train.adapter_files`), when it
    was trained where RUN_DIR is not (the runner writes it there)."""

    task_id: str
    stage: str
    output: StageOutput | None
    failure: StageFailure | None
    seconds: float
    worker: str = LOCAL
    adapter: dict[str, bytes] | None = None

    def __post_init__(self) -> None:
        assert (self.output is None) != (self.failure is None), "exactly one of output and failure"


@dataclass(frozen=True)
class Hooks:
    """What an executor reports to the runner as it goes."""

    start: Callable[[str, str, str], None]        # (task id, stage, worker): an attempt begins
    samples: Callable[[Sequence[Any]], None] = lambda records: None  # induction samples drawn elsewhere
    state: Callable[[str], None] = lambda line: None  # a short state line for the progress bar
    log: Callable[[str], None] = lambda line: None
    prepare: Callable[[Job], Job | None] = lambda job: job  # just before dispatch: its limits, or None (drop it)
    expired: Callable[[], bool] = lambda: False   # past the time budget: stop what still runs


def failure_reason(e: BaseException) -> FailureReason:
    if isinstance(e, MemoryError) or type(e).__name__ in ("OutOfMemoryError", "OutOfMemoryException"):
        return FailureReason.OUT_OF_MEMORY
    if isinstance(e, RuntimeError) and ("can't allocate memory" in str(e) or "out of memory" in str(e).lower()):
        return FailureReason.OUT_OF_MEMORY  # torch's CPU allocator raises a plain RuntimeError
    if isinstance(e, stages.InvalidResultError):
        return FailureReason.INVALID_RESULT
    return FailureReason.EXCEPTION


def capture(fn: Callable[[], Any]) -> tuple[Any, StageFailure | None, float]:
    """(value, None, seconds) of `fn()`, or (None, its failure, seconds): an exception (MemoryError
    included) becomes a `StageFailure`. KeyboardInterrupt is not caught."""
    t0 = time.perf_counter()
    try:
        return fn(), None, time.perf_counter() - t0
    except Exception as e:
        detail = "".join(traceback.format_exception(e)[-6:])
        return None, StageFailure(failure_reason(e), f"{type(e).__name__}: {e}", detail), time.perf_counter() - t0


def execute(task_id: str, stage: str, fn: Callable[[], StageOutput], worker: str = LOCAL) -> StageResult:
    """Run one stage function (`capture`) into a `StageResult`."""
    out, failure, seconds = capture(fn)
    return StageResult(task_id, stage, out, failure, seconds, worker)


def crashed(task_id: str, stage: str, message: str, seconds: float, worker: str) -> StageResult:
    """The result of a stage whose worker died every time it was tried."""
    return StageResult(task_id, stage, None, StageFailure(FailureReason.CRASHED, message, ""), seconds, worker)


def run_job(solvers: stages.Solvers, job: Job) -> StageOutput:
    """Run `job` on `solvers` (in whichever process holds them)."""
    if job.stage == "induction":
        return solvers.induction(job.task)
    if job.stage == "train":
        return solvers.train(job.task, job.limits)
    if job.stage == "infer":
        return solvers.infer(job.task, job.trained, job.limits)
    raise ValueError(f"unknown stage {job.stage!r}")


class Executor(Protocol):
    load_seconds: dict[str, float]
    workers: int  # stages of the open phase that run at once

    def open(self, phase: str, counts: Mapping[str, int]) -> None:
        """Load what `phase` needs for `counts[stage]` tasks of each of its stages."""

    def submit(self, job: Job) -> None:
        """Queue a ready stage of a task."""

    def next_result(self) -> StageResult | None:
        """The next finished stage (waiting for one), or None when nothing is queued or running."""

    def release(self, phase: str) -> None:
        """Free what `phase` held."""

    def close(self) -> None:
        """Free everything."""


@dataclass
class LocalExecutor:
    """Stages one after another in this process, on `stages.Solvers`: of the queued jobs, the one of
    the latest stage first (`graph.PRIORITY`), then in submission order."""

    solvers: stages.Solvers
    hooks: Hooks
    load_seconds: dict[str, float] = field(init=False)
    workers: int = 1
    _queue: list[Job] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.load_seconds = self.solvers.load_seconds

    def open(self, phase: str, counts: Mapping[str, int]) -> None:
        for stage, n in counts.items():
            if n:
                self.solvers.prepare(stage)

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def next_result(self) -> StageResult | None:
        while self._queue:
            job = max(self._queue, key=lambda j: PRIORITY[j.stage])  # first of the highest priority
            self._queue.remove(job)
            if self.hooks.expired():
                raise DeadlineReached("the time budget is spent")
            ready = self.hooks.prepare(job)
            if ready is not None:
                return self._run(ready)
        return None

    def _run(self, job: Job) -> StageResult:
        self.hooks.state(f"{job.stage} {job.task.id}")
        self.hooks.start(job.task.id, job.stage, LOCAL)
        return execute(job.task.id, job.stage, lambda: run_job(self.solvers, job))

    def release(self, phase: str) -> None:
        self.solvers.release(phase)

    def close(self) -> None:
        self.solvers.__exit__(None, None, None)
