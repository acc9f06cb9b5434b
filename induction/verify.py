"""Run distinct programs in the sandbox and check them against the demonstrations.

One `ProgramJob` per program carries the demonstration inputs followed by the test inputs, so each
program costs one fork. The sandbox gets sources and input grids only; the comparison with the
expected demonstration outputs happens here, in the orchestrator, on validated `Grid`s. Test
outputs are never known here (a `Task` has none).

Per demonstration pair: status (an `ExecStatus` value), the produced grid, exact match, cell
accuracy when shapes agree, exception type and message. Verified = exact on every demonstration.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from arc_core.grid import Grid
from arc_core.task import Task
from induction.dedupe import Program


class Executor(Protocol):
    """What verification needs of `sandbox.Sandbox`: `.run(jobs) -> results`, same order."""

    def run(self, jobs: Sequence[Any]) -> list[Any]: ...


def _status(value: Any) -> str:
    return str(getattr(value, "value", value))


def _grid_dict(grid: Grid | None) -> list[list[int]] | None:
    return None if grid is None else grid.to_list()


def _grid_from(obj: Any) -> Grid | None:
    return None if obj is None else Grid.parse(obj, "stored grid")


def cell_accuracy(produced: Grid, expected: Grid) -> float | None:
    """Fraction of equal cells, or None when the shapes differ."""
    if produced.shape != expected.shape:
        return None
    same = sum(a == b for pr, er in zip(produced.rows, expected.rows) for a, b in zip(pr, er))
    return same / (expected.height * expected.width)


@dataclass(frozen=True)
class PairCheck:
    """A program on one demonstration."""

    status: str
    output: Grid | None
    exact: bool
    cell_accuracy: float | None
    error_type: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "output": _grid_dict(self.output), "exact": self.exact,
                "cell_accuracy": self.cell_accuracy, "error_type": self.error_type, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PairCheck:
        return cls(d["status"], _grid_from(d["output"]), bool(d["exact"]), d["cell_accuracy"],
                   d.get("error_type"), d.get("error"))


@dataclass(frozen=True)
class Prediction:
    """A program on one test input (no expected output here, by construction)."""

    status: str
    output: Grid | None
    error_type: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "output": _grid_dict(self.output), "error_type": self.error_type,
                "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prediction:
        return cls(d["status"], _grid_from(d["output"]), d.get("error_type"), d.get("error"))


@dataclass(frozen=True)
class Verification:
    """One program on all demonstrations and test inputs of a task."""

    program_id: str
    status: str  # the program-level status reported by the sandbox
    train: tuple[PairCheck, ...]
    test: tuple[Prediction, ...]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    error: str | None = None

    @property
    def verified(self) -> bool:
        return bool(self.train) and all(p.exact for p in self.train)

    @property
    def mean_accuracy(self) -> float:
        """Mean demo cell accuracy, a shape mismatch or failure counting 0."""
        return sum(p.cell_accuracy or 0.0 for p in self.train) / max(1, len(self.train))

    def to_dict(self) -> dict[str, Any]:
        return {"program_id": self.program_id, "status": self.status, "verified": self.verified,
                "train": [p.to_dict() for p in self.train], "test": [t.to_dict() for t in self.test],
                "wall_s": self.wall_s, "cpu_s": self.cpu_s, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verification:
        return cls(d["program_id"], d["status"], tuple(PairCheck.from_dict(p) for p in d["train"]),
                   tuple(Prediction.from_dict(t) for t in d["test"]), float(d.get("wall_s", 0.0)),
                   float(d.get("cpu_s", 0.0)), d.get("error"))


def _grid_results(result: Any, n: int) -> list[tuple[str, Grid | None, str | None, str | None]]:
    """(status, output, error_type, error) per input; inputs the sandbox did not reach inherit
    the program-level status and error (e.g. a syntax error or a timeout before them)."""
    rows = [(_status(g.status), g.output, g.error_type, g.error) for g in result.grids[:n]]
    missing = (_status(result.status), None, None, result.error or "not run: program failed earlier")
    return rows + [missing] * (n - len(rows))


def check(task: Task, result: Any) -> Verification:
    """Turn one sandbox `ProgramResult` (demo inputs then test inputs) into a Verification."""
    n_train, n_test = len(task.train), len(task.test_inputs)
    rows = _grid_results(result, n_train + n_test)
    train = []
    for pair, (status, output, error_type, error) in zip(task.train, rows[:n_train]):
        accuracy = None if output is None else cell_accuracy(output, pair.output)
        exact = output is not None and output == pair.output
        train.append(PairCheck(status, output, exact, accuracy, error_type, error))
    test = [Prediction(s, o, et, e) for s, o, et, e in rows[n_train:]]
    return Verification(result.program_id, _status(result.status), tuple(train), tuple(test),
                        float(getattr(result, "wall_s", 0.0) or 0.0), float(getattr(result, "cpu_s", 0.0) or 0.0),
                        result.error)


def make_job(task: Task, program_id: str, source: str) -> Any:
    from sandbox import ProgramJob

    inputs = tuple(p.input for p in task.train) + tuple(task.test_inputs)
    return ProgramJob(program_id=program_id, source=source, inputs=inputs)


def verify_programs(task: Task, programs: Sequence[Program], executor: Executor) -> list[Verification]:
    """Run every program once (one job each) and check it; results in `programs` order."""
    if not programs:
        return []
    jobs = [make_job(task, p.id, p.source) for p in programs]
    results = executor.run(jobs)
    if len(results) != len(jobs):
        raise RuntimeError(f"sandbox returned {len(results)} results for {len(jobs)} jobs")
    out = []
    for program, result in zip(programs, results):
        if result.program_id != program.id:
            raise RuntimeError(f"sandbox result for {result.program_id} where {program.id} was expected")
        out.append(check(task, result))
    return out
