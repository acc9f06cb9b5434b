"""Run transduction over a dataset into a run directory (what `arc-hybrid transduce` calls).

RUN_DIR layout:
  config.json                 the TransductionConfig used
  tasks.json                  the dataset name and its tasks without test outputs (arc_core.run_tasks)
  lm.json                     the LM settings inference runs with (backend, device, vLLM settings); a
                              resume with other settings is refused, as with config.json
  adapters/<task_id>/         peft adapter + record.json (reused on resume)
  results/<task_id>.json      TransductionResult.to_dict() (a task with a result is skipped on resume)
  candidates.json             {task_id: {test_index: [candidate, ...]}} ranked
  submission.json             Kaggle format, the top two candidates per test input
  score.json                  only when the dataset has known test outputs (reporting only)

Solvers see `Task` objects only; `Dataset.solutions` is read once at the end, for the score report.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_core.config import to_dict
from arc_core.files import write_json_atomic
from arc_core.grid import Grid
from arc_core.run_tasks import write_run_tasks
from arc_core.task import Dataset
from arc_lm.config import LMConfig
from transduction.config import TransductionConfig
from transduction.pipeline import (InferenceEngine, TransductionModel, TransductionResult, engine_for,
                                   train_shared, transduce_task)


@dataclass(frozen=True)
class RunSummary:
    n_tasks: int
    n_reused: int
    submission: Path
    score: dict[str, Any] | None      # arc_core.scoring ScoreReport.to_dict(), when solutions are known


def attempts_of(result: TransductionResult, n_test: int) -> list[tuple[Grid | None, Grid | None]]:
    """The top two candidates per test input (None where there are fewer)."""
    out = []
    for i in range(n_test):
        grids = [c.grid for c in result.candidates.get(i, [])[:2]]
        grids += [None] * (2 - len(grids))
        out.append((grids[0], grids[1]))
    return out


def _record_or_check(path: Path, current: dict, what: str) -> None:
    """Write `current` to `path`, or, on resume, refuse when it differs from what is there."""
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored != current:
            diff = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
            raise ValueError(f"{path.parent} holds a run with a different {what} (differs in: {', '.join(diff)}); "
                             "resume with the same settings or use another --out directory")
    write_json_atomic(path, current)


def transduce_dataset(dataset: Dataset, config: TransductionConfig, out_dir: str | Path,
                      model: TransductionModel | None = None, device: str = "auto",
                      log: Callable[[str], None] = lambda s: None, lm: LMConfig | None = None,
                      engine: InferenceEngine | None = None) -> RunSummary:
    """Transduce every task of `dataset` into `out_dir` (resumable); `lm` picks the inference backend
    (transduction.serving; None: hf on the training model)."""
    from arc_core.scoring import score
    from arc_core.submission import write_submission

    out = Path(out_dir)
    lm = lm if lm is not None else LMConfig(model=config.model, device=device)
    _record_or_check(out / "config.json", to_dict(config), "configuration")
    _record_or_check(out / "lm.json", to_dict(lm), "LM settings (lm.*: which backend inference runs on)")
    write_run_tasks(out, dataset)
    tm = model if model is not None else TransductionModel.load(config, device)
    engine = engine if engine is not None else engine_for(tm, config, lm)
    tasks = [dataset.tasks[t] for t in dataset.ids()]
    if config.train.mode == "shared":
        rec = train_shared(tasks, tm, config, out)
        log(f"shared adapter: {rec.n_examples} examples, {rec.seconds:.0f}s{' (reused)' if rec.reused else ''}")
    results: dict[str, TransductionResult] = {}
    reused = 0
    for i, task in enumerate(tasks, 1):
        path = out / "results" / f"{task.id}.json"
        if path.is_file():
            results[task.id] = TransductionResult.from_dict(json.loads(path.read_text()))
            reused += 1
            log(f"[{i}/{len(tasks)}] {task.id}: result reused")
            continue
        res = transduce_task(task, tm, engine, config, out)
        write_json_atomic(path, res.to_dict())
        results[task.id] = res
        n_ok = sum(p.grid is not None for p in res.predictions)
        log(f"[{i}/{len(tasks)}] {task.id}: {res.data.get('n_examples', 0)} pseudo-tasks, "
            f"{n_ok}/{len(res.predictions)} predictions parsed, "
            f"{', '.join(f'{k} {v:.1f}s' for k, v in res.seconds.items())}")
    write_json_atomic(out / "candidates.json", {
        tid: {str(k): [c.to_dict() for c in cs] for k, cs in r.candidates.items()}
        for tid, r in results.items()})
    attempts = {tid: attempts_of(r, dataset.tasks[tid].n_test) for tid, r in results.items()}
    sub = write_submission(out / "submission.json", attempts, dataset)
    report = None
    if all(tid in dataset.solutions for tid in results):  # reporting only: nothing above read them
        report = score(attempts, dataset).to_dict()
        write_json_atomic(out / "score.json", report)
    return RunSummary(len(tasks), reused, sub, report)
