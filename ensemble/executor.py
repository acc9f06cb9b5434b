"""Where a solver stage runs: in this process (`LocalExecutor`) or on a cluster (`ensemble.ray_exec`).

An executor only *executes*: the runner owns the stage logic, the store, resume and failure
recording. `Executor.run(stage, tasks, start, state)` calls `start(task_id)` just before a task's
stage begins (the runner marks it started in the store; a stage resubmitted after its worker died is
started again, so `starts` counts every attempt) and yields `(task, StageResult)` as stages end, in
any order. A `StageResult` is plain data: the stage's `StageOutput` or the failure (reason and
text), plus any induction samples drawn on a remote worker, for the runner, the only writer of the
store, to commit.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from arc_core.task import Task

from ensemble import stages
from ensemble.store import FailureReason, StageOutput

StartFn = Callable[[str], None]   # task id -> None (mark the stage started)
StateFn = Callable[[str], None]   # a short state line for the progress bar


@dataclass(frozen=True)
class StageFailure:
    reason: FailureReason
    message: str  # "ExcType: text"
    detail: str   # the end of the traceback


@dataclass(frozen=True)
class StageResult:
    """A finished stage of one task, as data: exactly one of `output` and `failure` is set."""

    task_id: str
    stage: str
    output: StageOutput | None
    failure: StageFailure | None
    seconds: float
    samples: tuple[Any, ...] = ()  # induction SampleRecords drawn remotely, for the store's sample log
    worker: str = "local"
    lost: str = ""  # a remote resource the stage used (a sampler actor) died: the executor retries it

    def __post_init__(self) -> None:
        assert (self.output is None) != (self.failure is None), "exactly one of output and failure"


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


def execute(task_id: str, stage: str, fn: Callable[[], StageOutput], worker: str = "local",
            samples: Callable[[], Sequence[Any]] = tuple) -> StageResult:
    """Run one stage function (`capture`) into a `StageResult`."""
    out, failure, seconds = capture(fn)
    return StageResult(task_id, stage, out, failure, seconds, tuple(samples()), worker)


def crashed(task_id: str, stage: str, message: str, seconds: float, worker: str) -> StageResult:
    """The result of a stage whose worker died every time it was tried."""
    return StageResult(task_id, stage, None, StageFailure(FailureReason.CRASHED, message, ""), seconds, (), worker)


class Executor(Protocol):
    load_seconds: dict[str, float]

    def prepare(self, stage: str, n_tasks: int) -> None:
        """Load what `stage` needs (models, sandboxes) for `n_tasks` tasks, before the first."""

    def run(self, stage: str, tasks: Sequence[Task], start: StartFn, state: StateFn) -> Iterator[tuple[Task, StageResult]]:
        """Execute `stage` for each task; yield results as they end."""

    def release(self, stage: str) -> None:
        """Free what `stage` held."""

    def close(self) -> None:
        """Free everything."""


@dataclass
class LocalExecutor:
    """Today's run: one task after another in this process, on `stages.Solvers`."""

    solvers: stages.Solvers
    load_seconds: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        self.load_seconds = self.solvers.load_seconds

    def prepare(self, stage: str, n_tasks: int) -> None:
        self.solvers.prepare(stage)

    def run(self, stage: str, tasks: Sequence[Task], start: StartFn, state: StateFn) -> Iterator[tuple[Task, StageResult]]:
        fn = getattr(self.solvers, stage)
        for task in tasks:
            state(task.id)
            start(task.id)
            yield task, execute(task.id, stage, lambda task=task: fn(task))

    def release(self, stage: str) -> None:
        self.solvers.release(stage)

    def close(self) -> None:
        self.solvers.__exit__(None, None, None)
