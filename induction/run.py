"""Induction over a dataset into a run directory (what `arc-hybrid induce` calls).

RUN_DIR layout (JSON everywhere, one writer):
- `config.json`        the resolved settings (induction, lm, sandbox sections);
- `tasks.json`         the dataset name and its tasks without test outputs (`arc_core.run_tasks`);
- `samples.jsonl`      the sample log: every raw response with prompt hash, backend, model, settings,
                       token counts (a rerun with the same settings samples nothing new);
- `results/<id>.json`  one `InductionResult.to_dict()` per task (samples' outcomes, programs,
                       per-pair verification, candidates);
- `programs.jsonl`     one line per distinct program: task, id, multiplicity, round, verified, source;
- `candidates.json`    ranked candidates per task and test index;
- `submission.json`    Kaggle format (top two candidates, `[[0]]` placeholders where none);
- `summary.json`       counts per task, `--programs` lines rejected (line number and reason) and task
                       ids not in the dataset, and, when the dataset's solutions are known, the score
                       (`arc_core.scoring`, equal to `arc-hybrid score` on `submission.json`).
Solutions are read only for that score, after every task has been solved.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.config import to_dict
from arc_core.files import write_json_atomic
from arc_core.run_tasks import write_run_tasks
from arc_core.scoring import score
from arc_core.submission import write_submission
from arc_core.task import Dataset
from arc_lm.config import LMConfig
from induction.config import InductionConfig
from induction.pipeline import InductionResult, induce_task
from induction.prepare import prepare
from induction.samples import JsonlSampleLog, ProgramImport, read_program_file
from sandbox import Sandbox, SandboxConfig


@dataclass(frozen=True)
class InduceSettings:
    """Everything `induce` needs: `--set induction.n_samples=4 lm.model=... sandbox.timeout_s=2`."""

    induction: InductionConfig = field(default_factory=InductionConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def sandbox_config(self) -> SandboxConfig:
        """The sandbox config with the induction prelude (if any) as its `common` module."""
        prelude = self.induction.prelude_path
        if prelude is None:
            return self.sandbox
        if not Path(prelude).is_file():
            raise FileNotFoundError(f"induction.prelude_path: no such file {prelude}")
        return dataclasses.replace(self.sandbox, prelude_path=prelude)


def _program_rows(result: InductionResult) -> list[dict[str, Any]]:
    checks = {v.program_id: v for v in result.verifications}
    return [
        {"task_id": result.task_id, "program_id": p.id, "multiplicity": p.multiplicity, "round": p.round,
         "verified": checks[p.id].verified, "status": checks[p.id].status,
         "train_exact": [c.exact for c in checks[p.id].train], "source": p.source}
        for p in result.programs
    ]


def induce_dataset(
    dataset: Dataset,
    settings: InduceSettings,
    out_dir: str | Path,
    programs_file: str | Path | None = None,
    backend: Any | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run induction on every task of `dataset`, writing RUN_DIR; returns the summary dict.

    `backend`: an already-loaded arc_lm backend; by default one is loaded from `settings.lm`
    when `induction.n_samples > 0` (with `n_samples = 0` only imported programs are verified).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "config.json", to_dict(settings))
    write_run_tasks(out, dataset)
    config = settings.induction
    loaded = read_program_file(programs_file) if programs_file is not None else ProgramImport("", {})
    file_hash, imported = loaded.file_hash, loaded.texts
    unknown_import_ids = sorted(t for t in imported if t not in dataset.tasks)
    # Before the model and the sandbox: the workers fork from a process holding neither.
    prepared = prepare((t for tid in dataset.ids() for t in imported.get(tid, ())), config.max_response_chars,
                       config.workers)
    if backend is None and config.n_samples > 0:
        from arc_lm import load_backend

        backend = load_backend(settings.lm)
    log = JsonlSampleLog(out / "samples.jsonl")
    results: dict[str, InductionResult] = {}
    with Sandbox(settings.sandbox_config()) as sandbox:
        for n, task_id in enumerate(dataset.ids(), start=1):
            task = dataset.tasks[task_id]
            result = induce_task(task, backend, sandbox, config, log,
                                 imported=imported.get(task_id, ()), import_hash=file_hash, prepared=prepared)
            results[task_id] = result
            write_json_atomic(out / "results" / f"{task_id}.json", result.to_dict())
            if progress is not None:
                c = result.counts()
                progress(f"[{n}/{len(dataset)}] {task_id}: {c['samples']} samples, {c['programs']} programs, "
                         f"{c['verified']} verified")
    return _write_outputs(out, dataset, results, unknown_import_ids, loaded.rejected)


def _write_outputs(out: Path, dataset: Dataset, results: dict[str, InductionResult],
                   unknown_import_ids: list[str], rejected: tuple[tuple[int, str], ...]) -> dict[str, Any]:
    with open(out / "programs.jsonl", "w", encoding="utf-8") as f:
        for result in results.values():
            for row in _program_rows(result):
                f.write(json.dumps(row) + "\n")
    write_json_atomic(out / "candidates.json", {
        tid: {str(i): [c.to_dict() for c in cs] for i, cs in r.candidates.items()}
        for tid, r in results.items()
    })
    attempts = {
        tid: [tuple(c.grid for c in r.candidates.get(i, [])[:2]) for i in range(dataset.tasks[tid].n_test)]
        for tid, r in results.items()
    }
    write_submission(out / "submission.json", attempts, dataset)
    summary: dict[str, Any] = {
        "dataset": dataset.name,
        "tasks": {tid: r.counts() for tid, r in results.items()},
        "tasks_with_verified_program": sum(bool(r.verified_ids) for r in results.values()),
        "import_task_ids_not_in_dataset": unknown_import_ids,
        "import_rejected_lines": [{"line": n, "reason": why} for n, why in rejected],
    }
    known = [tid for tid in results if tid in dataset.solutions]
    if known:
        summary["score"] = score({t: attempts[t] for t in known}, dataset, known).to_dict()
    write_json_atomic(out / "summary.json", summary)
    return summary
