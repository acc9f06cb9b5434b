"""The run summary: scores, which source solved what, time per stage, failures by reason.

Everything is computed from the run store; this module and the report are the only readers of
`Dataset.solutions` in the ensemble (scoring), never the solvers.

"Solved by induction / transduction" asks, per source, whether that source's own top-2
candidates would have solved every test input of the task (each source scored on its own);
"both" counts tasks both sources solve. The final score is the submitted attempts' score.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.table import Table

from arc_core.candidates import Source
from arc_core.grid import Grid
from arc_core.scoring import ScoreReport, score
from arc_core.task import Dataset

from ensemble.policies import attempts_tuple
from ensemble.store import STAGES, RunStore


def _known(store: RunStore, dataset: Dataset) -> list[str]:
    return [tid for tid in store.task_ids() if tid in dataset.solutions and tid in dataset.tasks]


def submitted_attempts(store: RunStore, dataset: Dataset, task_ids: list[str]) -> dict[str, list]:
    """Each task's two attempts per test input as submitted (one store read per task)."""
    out = {}
    for tid in task_ids:
        stored = store.attempts(tid)
        out[tid] = [attempts_tuple([a for a in stored if a.test_index == i]) for i in range(dataset.tasks[tid].n_test)]
    return out


def score_run(store: RunStore, dataset: Dataset, task_ids: list[str] | None = None,
              attempts: dict[str, list] | None = None) -> ScoreReport | None:
    """Score the submitted attempts of the tasks in the store (or of `task_ids` among them) with
    `arc_core.scoring`; None when no solution is known. `attempts`: `submitted_attempts` already read."""
    ids = [t for t in _known(store, dataset) if task_ids is None or t in task_ids]
    if not ids:
        return None
    attempts = attempts or {}
    attempts = {**attempts, **submitted_attempts(store, dataset, [t for t in ids if t not in attempts])}
    return score({tid: attempts[tid] for tid in ids}, dataset, ids)


def source_top2(store: RunStore, task_id: str, n_test: int, source: Source, verified_only: bool) -> list[list[Grid]]:
    """One source's two best distinct grids per test input."""
    out: list[list[Grid]] = [[] for _ in range(n_test)]
    for cand, verified in store.candidates(task_id, source):
        if verified_only and not verified:
            continue
        slot = out[cand.test_index]
        if len(slot) < 2 and cand.grid not in slot:
            slot.append(cand.grid)
    return out


def solved_by_source(store: RunStore, dataset: Dataset, task_id: str) -> dict[str, bool]:
    truth = dataset.solutions[task_id]
    res = {}
    for src in (Source.INDUCTION, Source.TRANSDUCTION):
        top = source_top2(store, task_id, len(truth), src, verified_only=False)
        res[src.value] = all(t in grids for t, grids in zip(truth, top))
    return res


@dataclass
class RunSummary:
    tasks: int
    finished: int
    known: int
    score: ScoreReport | None
    solved_by: Counter = field(default_factory=Counter)     # induction / transduction / both
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_counts: dict[str, Counter] = field(default_factory=dict)  # stage -> status -> n
    failures: Counter = field(default_factory=Counter)      # (stage, reason) -> n
    per_source_candidates: Counter = field(default_factory=Counter)
    verified_programs: int = 0
    skipped_ttt: list[str] = field(default_factory=list)
    load_seconds: dict[str, float] = field(default_factory=dict)  # model/sandbox loading, last invocation
    budget: dict | None = None  # the last invocation's time budget (ensemble.timebudget summary), if any

    def to_dict(self) -> dict:
        return {
            "tasks": self.tasks, "finished": self.finished, "tasks_with_solutions": self.known,
            "score": self.score.to_dict() if self.score else None,
            "solved_by": dict(self.solved_by), "stage_seconds": self.stage_seconds,
            "stage_counts": {k: dict(v) for k, v in self.stage_counts.items()},
            "failures": [{"stage": s, "reason": r, "count": n} for (s, r), n in sorted(self.failures.items())],
            "candidates": dict(self.per_source_candidates), "verified_programs": self.verified_programs,
            "skipped_ttt": self.skipped_ttt, "load_seconds": self.load_seconds, "budget": self.budget,
        }


def summarise(store: RunStore, dataset: Dataset) -> RunSummary:
    ids = store.task_ids()
    known = _known(store, dataset)
    s = RunSummary(tasks=len(ids), finished=sum(store.task_status(t)[0] == "done" for t in ids),
                   known=len(known), score=score_run(store, dataset))
    for tid in known:
        by = solved_by_source(store, dataset, tid)
        for src, ok in by.items():
            s.solved_by[src] += ok
        s.solved_by["both"] += all(by.values())
    for row in store.stages():
        st = row["stage"]
        s.stage_seconds[st] = s.stage_seconds.get(st, 0.0) + (row["seconds"] or 0.0)
        s.stage_counts.setdefault(st, Counter())[row["status"]] += 1
        if row["status"] == "failed":
            s.failures[(st, row["reason"])] += 1
        if st == "train" and row["status"] == "skipped":
            s.skipped_ttt.append(row["task_id"])
    for src, n in store.db.execute("SELECT source, COUNT(*) FROM candidates GROUP BY source"):
        s.per_source_candidates[src] = n
    s.load_seconds = store.get_meta("load_seconds", {}) or {}
    s.budget = store.get_meta("budget")
    s.verified_programs = store.db.execute("SELECT COUNT(*) FROM programs WHERE status = 'verified'").fetchone()[0]
    return s


def summary_table(s: RunSummary, title: str = "arc-hybrid run") -> Table:
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("tasks (finished)", f"{s.tasks} ({s.finished})")
    if s.score is not None:
        t.add_row("Kaggle score", f"{s.score.kaggle_score:g} / {s.score.tasks} ({100 * s.score.kaggle_fraction:.1f}%)")
        t.add_row("strict solved", f"{s.score.strict_solved} / {s.score.tasks}")
        for key in ("induction", "transduction", "both"):
            t.add_row(f"tasks fully solved by {key} (its top 2)", str(s.solved_by.get(key, 0)))
    else:
        t.add_row("score", "no known solutions")
    t.add_row("verified programs", str(s.verified_programs))
    for src in ("induction", "transduction"):
        t.add_row(f"{src} candidates", str(s.per_source_candidates.get(src, 0)))
    for st in STAGES:
        if st in s.stage_seconds:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(s.stage_counts[st].items()))
            t.add_row(f"time {st}", f"{s.stage_seconds[st]:.1f} s ({counts})")
    for st, sec in s.load_seconds.items():
        t.add_row(f"time loading {st} resources", f"{sec:.1f} s")
    if s.budget:
        t.add_row("time budget (margin)", f"{s.budget['seconds']:.0f} s ({s.budget['margin_s']:.0f} s), "
                                          f"{s.budget['elapsed_s']:.0f} s used")
        t.add_row("tasks cut by the time budget", str(len(s.budget.get("cuts") or {})))
    if s.skipped_ttt:
        t.add_row("TTT skipped (verified)", ", ".join(s.skipped_ttt))
    if s.failures:
        for (st, reason), n in sorted(s.failures.items()):
            t.add_row(f"failed {st}: {reason}", str(n))
    else:
        t.add_row("failures", "0")
    return t
