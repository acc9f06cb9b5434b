"""One reader for every kind of run directory: `run`, `induce` and `transduce`.

`open_run(RUN_DIR)` returns a `RunStore` and a `Dataset` of the run's tasks, whatever wrote the
directory, so `task`, `programs` and `report` have one code path:
- a `run` directory has `run.sqlite`: opened as it is;
- an `induce` or `transduce` directory (`tasks.json`, `config.json`, `results/<id>.json`) is loaded
  into a throw-away in-memory store through the same adapters the runner uses
  (`ensemble.stages.induction_output` / `transduction_train_output` and `infer_output`), with each task's submitted
  attempts = its top two candidates, as in that directory's `submission.json`. Nothing is written
  into the directory.
The known test outputs come from re-loading the run's dataset, only to mark correctness, and only
for tasks that dataset still holds unchanged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from arc_core.candidates import Candidate
from arc_core.datasets import load_dataset
from arc_core.run_tasks import TASKS_FILE, read_run_tasks
from arc_core.task import Dataset, Task

from ensemble.policies import FinalAttempt
from ensemble.stages import induction_output, infer_output, transduction_train_output
from ensemble.store import DB_NAME, RunStore, StageOutput


def open_run(run_dir: str | Path) -> tuple[RunStore, Dataset]:
    """The run's store and a Dataset of its tasks, with solutions when its dataset still loads."""
    run_dir = Path(run_dir)
    if (run_dir / DB_NAME).is_file():
        store = RunStore(run_dir, create=False)
    elif (run_dir / TASKS_FILE).is_file():
        store = load_solver_dir(run_dir)
    else:
        raise FileNotFoundError(f"{run_dir}: not a run directory (no {DB_NAME} from `arc-hybrid run`, no {TASKS_FILE} "
                                "from `arc-hybrid induce` or `transduce`)")
    tasks = {tid: store.task(tid) for tid in store.task_ids()}
    name = store.get_meta("dataset") or str(run_dir)
    return store, Dataset(name, tasks, _solutions(name, tasks))


def _solutions(name: str, tasks: dict[str, Task]) -> dict:
    try:
        full = load_dataset(name)
    except (FileNotFoundError, ValueError) as e:
        print(f"arc-hybrid: note: dataset {name} does not load ({e}); showing no correctness", file=sys.stderr)
        return {}
    return {tid: full.solutions[tid] for tid in tasks if tid in full.solutions and full.tasks.get(tid) == tasks[tid]}


def solver_kind(run_dir: Path) -> str:
    """'induction' for an `induce` directory, 'transduction' for a `transduce` one (by its config)."""
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    return "induction" if isinstance(config, dict) and "induction" in config else "transduction"


def load_solver_dir(run_dir: Path) -> RunStore:
    """An in-memory RunStore holding an `induce`/`transduce` directory's tasks and results."""
    name, tasks = read_run_tasks(run_dir)
    kind = solver_kind(run_dir)
    store = RunStore(run_dir, in_memory=True)
    store.add_tasks(list(tasks.values()))
    store.set_meta("dataset", name)
    store.set_meta("config", json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    for tid, task in tasks.items():
        path = run_dir / "results" / f"{tid}.json"
        if not path.is_file():
            continue  # not reached yet: the task shows as pending
        outputs = _stage_outputs(kind, task, json.loads(path.read_text(encoding="utf-8")))
        for stage, out, seconds in outputs:
            store.start_stage(tid, stage)
            store.finish_stage(tid, stage, out, seconds=seconds)
        cands = [c for _, out, _ in outputs for c, _ in out.candidates]
        store.start_stage(tid, "ensemble")
        store.finish_stage(tid, "ensemble", StageOutput(attempts=top_two(task, cands, kind)), seconds=0.0)
    return store


def _stage_outputs(kind: str, task: Task, result: dict[str, Any]) -> list[tuple[str, StageOutput, float]]:
    """A solver directory's result of a task as the run's stages (name, output, seconds): `induction`,
    or `train` and `infer`."""
    if kind == "induction":
        from induction.pipeline import InductionResult

        out = induction_output(task, InductionResult.from_dict(result))
        return [("induction", out, _seconds(result.get("timings")))]
    from transduction.pipeline import TransductionResult

    res = TransductionResult.from_dict(result)
    times = result.get("seconds") or {}
    train_s = {k: v for k, v in times.items() if k in ("data", "train")}
    return [("train", transduction_train_output(res), _seconds(train_s)),
            ("infer", infer_output(task, res), _seconds({k: v for k, v in times.items() if k not in train_s}))]


def _seconds(times: dict[str, Any] | None) -> float:
    """The total of a result's per-part timings (numbers only)."""
    return float(sum(v for v in (times or {}).values() if isinstance(v, (int, float))))


def top_two(task: Task, candidates: list[Candidate], kind: str) -> list[FinalAttempt]:
    """A solver directory's submitted attempts: the top two candidates per test input."""
    out = []
    for i in range(task.n_test):
        ranked = sorted((c for c in candidates if c.test_index == i), key=lambda c: c.rank)[:2]
        out += [FinalAttempt(task.id, i, k, c.grid, c.source, f"{kind}:top-2", c.rank, c.provenance)
                for k, c in enumerate(ranked, start=1)]
    return out
