"""Kaggle submission files: `{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}`.

The writer emits an entry for every test input of every task of the dataset given, in test order,
filling a missing attempt with the placeholder grid `[[0]]` (Kaggle rejects files with gaps).
The reader validates strictly and returns `{task_id: [Attempts, ...]}` ready for
`scoring.score`; any defect is one `ValueError` naming the file, task id and JSON path.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from arc_core.files import write_json_atomic
from arc_core.grid import Grid
from arc_core.scoring import MAX_ATTEMPTS, PLACEHOLDER, Attempts
from arc_core.task import Dataset

_KEYS = ("attempt_1", "attempt_2")


def submission_dict(attempts: Mapping[str, Sequence[Sequence[Grid | None]]], dataset: Dataset) -> dict:
    """The submission as a JSON-ready dict covering every task and test input of `dataset`."""
    stray = [t for t in attempts if t not in dataset.tasks]
    if stray:
        raise ValueError(f"attempts for task(s) not in dataset {dataset.name}: {', '.join(stray[:5])}")
    out: dict[str, list[dict[str, list[list[int]]]]] = {}
    for tid in dataset.ids():
        n = dataset.tasks[tid].n_test
        tries = list(attempts.get(tid, []))
        if len(tries) > n:
            raise ValueError(f"task {tid}: {len(tries)} attempt entries but the task has {n} test input(s)")
        tries += [()] * (n - len(tries))
        entries = []
        for i, pair in enumerate(tries):
            if len(pair) > MAX_ATTEMPTS:
                raise ValueError(f"task {tid}: test[{i}] has {len(pair)} attempts; a submission holds {MAX_ATTEMPTS}")
            grids = list(pair) + [None] * (MAX_ATTEMPTS - len(pair))
            entries.append({key: (g if g is not None else PLACEHOLDER).to_list() for key, g in zip(_KEYS, grids)})
        out[tid] = entries
    return out


def write_submission(
    path: str | Path, attempts: Mapping[str, Sequence[Sequence[Grid | None]]], dataset: Dataset
) -> Path:
    """Write the submission atomically (temporary file, then rename); returns the path."""
    return write_json_atomic(path, submission_dict(attempts, dataset), indent=None)


def read_submission(path: str | Path) -> dict[str, list[Attempts]]:
    """Read and validate a submission file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such submission file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    return parse_submission(data, str(path))


def parse_submission(data: object, where: str = "submission") -> dict[str, list[Attempts]]:
    """Validate a decoded submission object."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object mapping task ids to lists of attempts")
    if not data:
        raise ValueError(f"{where}: contains no tasks")
    out: dict[str, list[Attempts]] = {}
    for tid, entries in data.items():
        at = f"{where}: task {tid}"
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{at}: expected a non-empty list with one entry per test input")
        parsed: list[Attempts] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"{at}: [{i}]: expected an object with 'attempt_1' and 'attempt_2'")
            for key in _KEYS:
                if key not in entry:
                    raise ValueError(f"{at}: [{i}]: missing {key!r}")
            extra = sorted(set(entry) - set(_KEYS))
            if extra:
                raise ValueError(f"{at}: [{i}]: unexpected key {extra[0]!r}")
            a1, a2 = (Grid.parse(entry[key], f"{at}: [{i}].{key}") for key in _KEYS)
            parsed.append((a1, a2))
        out[tid] = parsed
    return out
