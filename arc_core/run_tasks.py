"""The tasks a run directory was made for, stored with it so the directory reads on its own.

`RUN_DIR/tasks.json` = `{"dataset": NAME, "tasks": {task_id: {"train": [...], "test": [{"input"}]}}}`
in run order: what the solvers saw, never a test output. `induce` and `transduce` write it; the
ensemble's run-directory reader uses it to show and report a run, and re-loads the named dataset
only to mark correctness (and only when that dataset still holds the same tasks).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arc_core.datasets import parse_task
from arc_core.files import write_json_atomic
from arc_core.task import Dataset, Task

TASKS_FILE = "tasks.json"


def task_json(task: Task) -> dict[str, Any]:
    """A task as the JSON object datasets use, without test outputs."""
    return {"train": [{"input": p.input.to_list(), "output": p.output.to_list()} for p in task.train],
            "test": [{"input": g.to_list()} for g in task.test_inputs]}


def write_run_tasks(run_dir: str | Path, dataset: Dataset) -> Path:
    """Write RUN_DIR/tasks.json for the dataset's tasks (in `dataset.ids()` order)."""
    return write_json_atomic(Path(run_dir) / TASKS_FILE, {
        "dataset": dataset.name, "tasks": {tid: task_json(dataset.tasks[tid]) for tid in dataset.ids()}})


def read_run_tasks(run_dir: str | Path) -> tuple[str, dict[str, Task]]:
    """(dataset name, {task_id: Task}) from RUN_DIR/tasks.json."""
    path = Path(run_dir) / TASKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {TASKS_FILE} (directories written before it existed cannot be read; "
                                "rerun the command into a new --out)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        raise ValueError(f"{path}: expected an object with 'dataset' and 'tasks'")
    tasks = {tid: parse_task(obj, tid, str(path))[0] for tid, obj in data["tasks"].items()}
    return str(data.get("dataset") or run_dir), tasks
