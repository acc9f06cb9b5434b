"""Score attempts against a dataset's known test outputs.

`Attempts` are up to two grids (None = no attempt) for one test input; a task's attempts are a
list with one `Attempts` per test input, in order. An absent attempt is scored as what a
submission file holds in its place, the placeholder grid `[[0]]` (Kaggle rejects gaps), so a score
computed in memory always equals `arc-hybrid score` on the submission written from the same
attempts (a task whose true output is `[[0]]` is solved by the placeholder in both). Every
printed, summarised and reported score goes through `score`/`score_task`. Two measures:
- Kaggle: per task, the fraction of its test inputs solved by either attempt; summed over tasks
  (`kaggle_score`), also given as a fraction of the tasks scored (`kaggle_fraction`).
- strict: a task counts only when every one of its test inputs is solved (`strict_solved`).

The denominator is always the tasks asked for (`task_ids`, by default the tasks that have
attempts), never the whole dataset. This module and reports are the only readers of
`Dataset.solutions`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from arc_core.grid import Grid, grids_equal
from arc_core.task import Dataset

Attempts = tuple[Grid | None, Grid | None]
MAX_ATTEMPTS = 2
PLACEHOLDER = Grid(((0,),))  # what a submission holds where there is no attempt


@dataclass(frozen=True)
class TaskScore:
    """One task's result: which test inputs were solved, and by which attempt (1-based, 0 = none)."""

    task_id: str
    solved_by: tuple[int, ...]

    @property
    def n_test(self) -> int:
        return len(self.solved_by)

    @property
    def n_solved(self) -> int:
        return sum(1 for s in self.solved_by if s)

    @property
    def fraction(self) -> float:
        return self.n_solved / self.n_test

    @property
    def strict(self) -> bool:
        return self.n_solved == self.n_test


@dataclass(frozen=True)
class ScoreReport:
    """Both measures over the tasks asked for, plus the per-task detail."""

    task_scores: tuple[TaskScore, ...]

    @property
    def tasks(self) -> int:
        return len(self.task_scores)

    @property
    def kaggle_score(self) -> float:
        return sum(t.fraction for t in self.task_scores)

    @property
    def kaggle_fraction(self) -> float:
        return self.kaggle_score / self.tasks if self.tasks else 0.0

    @property
    def strict_solved(self) -> int:
        return sum(1 for t in self.task_scores if t.strict)

    @property
    def per_task(self) -> dict[str, float]:
        return {t.task_id: t.fraction for t in self.task_scores}

    def to_dict(self) -> dict:
        """A JSON-serialisable summary (the `score --json` output)."""
        return {
            "tasks": self.tasks,
            "kaggle_score": self.kaggle_score,
            "kaggle_fraction": self.kaggle_fraction,
            "strict_solved": self.strict_solved,
            "test_inputs": sum(t.n_test for t in self.task_scores),
            "test_inputs_solved": sum(t.n_solved for t in self.task_scores),
            "per_task": self.per_task,
            "solved_by": {t.task_id: list(t.solved_by) for t in self.task_scores},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    def summary(self) -> str:
        """Two human-readable lines."""
        n = self.tasks
        pct = 100.0 * self.kaggle_fraction
        return (
            f"kaggle: {self.kaggle_score:g} / {n} tasks ({pct:.2f}%)\n"
            f"strict: {self.strict_solved} / {n} tasks fully solved"
        )


def score_task(task_id: str, attempts: Sequence[Sequence[Grid | None]], dataset: Dataset) -> TaskScore:
    """Score one task's attempts (one entry per test input) against its known outputs."""
    if task_id not in dataset.tasks:
        raise KeyError(f"task {task_id} is not in dataset {dataset.name}")
    if task_id not in dataset.solutions:
        raise ValueError(f"task {task_id}: dataset {dataset.name} has no known test outputs for it")
    truth = dataset.solutions[task_id]
    if len(attempts) != len(truth):
        raise ValueError(
            f"task {task_id}: {len(attempts)} attempt entries but the task has {len(truth)} test input(s)"
        )
    solved_by = []
    for i, (tries, answer) in enumerate(zip(attempts, truth)):
        if len(tries) > MAX_ATTEMPTS:
            raise ValueError(f"task {task_id}: test[{i}] has {len(tries)} attempts; at most {MAX_ATTEMPTS} count")
        padded = [_as_grid(g, task_id, i, k) for k, g in enumerate(tries)] + [None] * (MAX_ATTEMPTS - len(tries))
        hit = next((k + 1 for k, g in enumerate(padded) if grids_equal(PLACEHOLDER if g is None else g, answer)), 0)
        solved_by.append(hit)
    return TaskScore(task_id, tuple(solved_by))


def score(
    attempts: Mapping[str, Sequence[Sequence[Grid | None]]],
    dataset: Dataset,
    task_ids: Iterable[str] | None = None,
) -> ScoreReport:
    """Score `attempts` on the tasks asked for.

    `task_ids`: the tasks the run was asked to solve (default: the keys of `attempts`). A task
    asked for but without attempts scores 0; attempts for a task not asked for are an error, so
    nothing is silently dropped.
    """
    ids = list(dict.fromkeys(task_ids)) if task_ids is not None else list(attempts)
    stray = [t for t in attempts if t not in set(ids)]
    if stray:
        raise ValueError(f"attempts given for task(s) not asked for: {', '.join(stray[:5])}")
    scores = []
    for tid in ids:
        tries = attempts.get(tid)
        if tries is None:
            if tid not in dataset.solutions:
                score_task(tid, [], dataset)  # raises the unknown-task / no-solutions error
            tries = [(None, None)] * len(dataset.solutions[tid])
        scores.append(score_task(tid, tries, dataset))
    return ScoreReport(tuple(scores))


def _as_grid(g: object, task_id: str, test_index: int, k: int) -> Grid | None:
    if g is None or isinstance(g, Grid):
        return g
    raise TypeError(f"task {task_id}: test[{test_index}] attempt {k + 1} is a {type(g).__name__}, expected a Grid or None")
