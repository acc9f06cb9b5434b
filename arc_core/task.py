"""Tasks and datasets.

A `Task` carries only what a solver may see: its id, demonstration pairs and test *inputs*.
Test outputs live apart in `Dataset.solutions`, keyed by task id, so a solver handed a Task cannot
reach them by accident; only scoring and reports read `Dataset.solutions`.

Task ids name files in run directories (`results/<id>.json`, `adapters/<id>/`), so every id is
checked once, where a Task or Dataset is built (`check_task_id`): a non-empty printable string of at
most 128 characters, with no path separator, NUL or control character, not `.`/`..`, not starting
with `.` and without surrounding whitespace. Ids from a file (`../../x`, `/abs/x`) are refused
there with the file named (arc_core/datasets.py), so nothing downstream can write outside a run.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from arc_core.grid import Grid

MAX_TASK_ID_CHARS = 128


def check_task_id(task_id: object, where: str = "") -> str:
    """`task_id` when it is safe as a file name; ValueError naming it (and `where`) otherwise."""
    at = f"{where}: " if where else ""
    if not isinstance(task_id, str):
        raise ValueError(f"{at}task id {task_id!r} is not a string")
    problem = None
    if not task_id:
        problem = "is empty"
    elif len(task_id) > MAX_TASK_ID_CHARS:
        problem = f"is longer than {MAX_TASK_ID_CHARS} characters"
    elif "/" in task_id or "\\" in task_id:
        problem = "holds a path separator"
    elif "\0" in task_id or not task_id.isprintable():
        problem = "holds a NUL or control character"
    elif task_id.startswith("."):
        problem = "starts with '.' (a relative path or hidden file)"
    elif task_id != task_id.strip():
        problem = "has leading or trailing whitespace"
    if problem:
        shown = task_id if len(task_id) <= 80 else task_id[:80] + "..."
        raise ValueError(f"{at}task id {shown!r} {problem}; task ids name files in run directories")
    return task_id


@dataclass(frozen=True, slots=True)
class Pair:
    """One demonstration: an input grid and its output grid."""

    input: Grid
    output: Grid


@dataclass(frozen=True, slots=True)
class Task:
    """What a solver sees of an ARC task. Never holds test outputs."""

    id: str
    train: tuple[Pair, ...]
    test_inputs: tuple[Grid, ...]

    def __post_init__(self) -> None:
        check_task_id(self.id)
        if not self.train:
            raise ValueError(f"task {self.id}: has no demonstration pairs")
        if not self.test_inputs:
            raise ValueError(f"task {self.id}: has no test inputs")

    @property
    def n_test(self) -> int:
        return len(self.test_inputs)

    def all_grids(self) -> tuple[Grid, ...]:
        """Every grid a solver may see: demonstration inputs and outputs, then test inputs."""
        demo = tuple(g for p in self.train for g in (p.input, p.output))
        return demo + self.test_inputs

    @property
    def cells(self) -> int:
        """Cells in every grid a solver sees: the task's size, which its prompt length (and so the
        cost of most solver stages) grows with. Schedulers order work by it, largest first."""
        return sum(g.height * g.width for g in self.all_grids())


@dataclass(frozen=True)
class Dataset:
    """Named collection of tasks plus, separately, the known test outputs.

    `solutions[task_id]` has one grid per test input of that task. A task id absent from
    `solutions` means its answers are unknown (e.g. a Kaggle test file).
    """

    name: str
    tasks: Mapping[str, Task]
    solutions: Mapping[str, tuple[Grid, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tid, task in self.tasks.items():
            check_task_id(tid, f"dataset {self.name}")
            if tid != task.id:
                raise ValueError(f"dataset {self.name}: task {task.id!r} is filed under the id {tid!r}")
        for tid, sols in self.solutions.items():
            if tid not in self.tasks:
                raise ValueError(f"dataset {self.name}: solutions for unknown task {tid}")
            n = self.tasks[tid].n_test
            if len(sols) != n:
                raise ValueError(
                    f"dataset {self.name}: task {tid} has {n} test inputs but {len(sols)} solutions"
                )

    def __len__(self) -> int:
        return len(self.tasks)

    def ids(self) -> list[str]:
        """Task ids in a stable (sorted) order."""
        return sorted(self.tasks)

    def select(self, ids: list[str] | None = None, limit: int | None = None) -> Dataset:
        """Sub-dataset of the given ids (in that order) or the first `limit` sorted ids."""
        if ids is not None:
            missing = [i for i in ids if i not in self.tasks]
            if missing:
                raise KeyError(f"dataset {self.name}: unknown task id(s) {', '.join(missing[:5])}")
            chosen = list(dict.fromkeys(ids))
        else:
            chosen = self.ids()
        if limit is not None:
            chosen = chosen[:limit]
        return Dataset(
            self.name,
            {i: self.tasks[i] for i in chosen},
            {i: self.solutions[i] for i in chosen if i in self.solutions},
        )
