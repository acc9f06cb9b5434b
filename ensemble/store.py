"""The run store: one SQLite database (stdlib `sqlite3`, WAL mode) in RUN_DIR holding everything a
run computes, so reports and the CLI read from it and nothing lives only in memory.

Contract:
- Induction's raw samples go to `sample_log` as they are drawn (see `ensemble.sample_log`), outside
  any stage transaction, so a stage redone after a crash never resamples what exists.
- A stage of a task (`induction`, `train`, `infer`, `ensemble`: the runner's stage graph,
  `ensemble.graph`) is *started* (its `starts` counter of attempts incremented and the worker it went
  to recorded, committed at once) and later *finished* or *failed* in ONE transaction that also
  replaces every row the stage owns (candidates, programs, TTT stats, votes, attempts). A crash
  between the two leaves the stage `running`; the runner redoes such a stage from scratch, so a
  partly written stage is never read as a result.
- Attempts and process deaths are counted apart: `starts` counts every attempt (a Ray retry after a
  worker died included), `crashes` the times the run process itself died while the stage ran in it
  (`recover`, at the start of every invocation). A stage stopped from outside (a deadline, a lost
  cluster) is `interrupted`: redone on resume, never counted as a crash.
- `starts` and `finished_at` let a test prove that resuming recomputed nothing finished.
- Failures are data: `status='failed'` with a `FailureReason` and the error text.

Rows are JSON where their shape belongs to another package (`result_json`, per-pair records).
"""
from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.candidates import Candidate, Source
from arc_core.datasets import parse_task
from arc_core.grid import Grid
from arc_core.run_tasks import task_json
from arc_core.task import Task

from ensemble.policies import FinalAttempt

DB_NAME = "run.sqlite"
STAGES = ("induction", "train", "infer", "ensemble")
LOCAL = "local"  # the `worker` of a stage that runs in the run process itself


class FailureReason(str, enum.Enum):
    EXCEPTION = "exception"          # the stage raised
    OUT_OF_MEMORY = "out-of-memory"  # MemoryError or a torch out-of-memory error
    INVALID_RESULT = "invalid-result"  # the solver returned something that does not fit its contract
    CRASHED = "crashed"              # the process died inside the stage repeatedly (OOM killer, kill -9)


class StageStatus(str, enum.Enum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # stopped from outside (deadline, cluster lost, the run process died)


@dataclass
class StageOutput:
    """What a finished stage writes, all in one transaction. Lists of plain JSON-able dicts."""

    candidates: list[tuple[Candidate, bool]] = field(default_factory=list)  # (candidate, verified)
    programs: list[dict] = field(default_factory=list)   # {program_id, status, multiplicity, source, pairs, tests, round}
    ttt: dict | None = None                               # {examples, tokens, seconds, loss_curve, ...}
    votes: dict[int, Any] = field(default_factory=dict)   # test index -> vote table (JSON)
    attempts: list[FinalAttempt] = field(default_factory=list)
    result: dict | None = None                            # the solver's own to_dict(), kept whole
    note: str = ""                                        # e.g. why a stage was skipped


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, position INTEGER NOT NULL, n_test INTEGER NOT NULL, task_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stages (
    task_id TEXT NOT NULL, stage TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, error TEXT,
    started_at REAL, finished_at REAL, seconds REAL, starts INTEGER NOT NULL DEFAULT 0,
    note TEXT, result_json TEXT, crashes INTEGER NOT NULL DEFAULT 0, worker TEXT,
    PRIMARY KEY (task_id, stage));
CREATE TABLE IF NOT EXISTS candidates (
    task_id TEXT NOT NULL, source TEXT NOT NULL, test_index INTEGER NOT NULL, rank INTEGER NOT NULL,
    grid TEXT NOT NULL, weight REAL, score REAL, provenance TEXT NOT NULL, verified INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS programs (
    task_id TEXT NOT NULL, program_id TEXT NOT NULL, status TEXT NOT NULL, multiplicity INTEGER,
    source TEXT, round INTEGER, pairs_json TEXT NOT NULL, tests_json TEXT NOT NULL,
    PRIMARY KEY (task_id, program_id));
CREATE TABLE IF NOT EXISTS sample_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, task_id TEXT NOT NULL,
    prompt_hash TEXT NOT NULL, settings_hash TEXT NOT NULL, idx INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ttt (
    task_id TEXT PRIMARY KEY, examples INTEGER, tokens INTEGER, seconds REAL, loss_curve TEXT, json TEXT);
CREATE TABLE IF NOT EXISTS votes (task_id TEXT NOT NULL, test_index INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    task_id TEXT NOT NULL, test_index INTEGER NOT NULL, attempt INTEGER NOT NULL, grid TEXT NOT NULL,
    source TEXT NOT NULL, branch TEXT NOT NULL, candidate_rank INTEGER, provenance TEXT NOT NULL,
    PRIMARY KEY (task_id, test_index, attempt));
CREATE INDEX IF NOT EXISTS candidates_task ON candidates (task_id, source);
CREATE INDEX IF NOT EXISTS sample_log_task ON sample_log (task_id, prompt_hash, settings_hash);
"""

# Rows each stage owns (deleted and rewritten when the stage finishes).
_OWNED = {
    "induction": (("candidates", "source = 'induction'"), ("programs", "1")),
    "train": (("ttt", "1"),),
    "infer": (("candidates", "source = 'transduction'"), ("votes", "1")),
    "ensemble": (("attempts", "1"),),
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False)


class RunStore:
    """Read/write access to RUN_DIR/run.sqlite. One writer (the runner); readers at any time."""

    def __init__(self, run_dir: str | Path, create: bool = True, in_memory: bool = False) -> None:
        """`in_memory`: a throw-away store for RUN_DIR, written nowhere (`ensemble.rundir` fills one
        from an `induce`/`transduce` directory so every view reads runs through this class)."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"{self.run_dir}: no run store ({DB_NAME}); is this a RUN_DIR made by `arc-hybrid run`?")
        if not in_memory:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:" if in_memory else self.path, timeout=30.0, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._check_layout()

    def _check_layout(self) -> None:
        """Refuse a store written by an arc-hybrid whose stages were different (one `transduction` stage
        before `train` and `infer`): its rows would be read as other stages' or not at all."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(stages)")}
        for name, decl in (("crashes", "INTEGER NOT NULL DEFAULT 0"), ("worker", "TEXT")):
            if name not in columns:  # a store from before these columns (induction-only runs read fine)
                self.db.execute(f"ALTER TABLE stages ADD COLUMN {name} {decl}")
        old = sorted({r[0] for r in self.db.execute("SELECT DISTINCT stage FROM stages")} - set(STAGES))
        if old:
            raise ValueError(f"{self.run_dir}: run store written by an older arc-hybrid (stage(s) {', '.join(old)}; "
                             f"this version has {', '.join(STAGES)}); use a new --out directory")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ---- meta and tasks -------------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, _dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def add_tasks(self, tasks: Sequence[Task]) -> None:
        """Register tasks (what solvers see: no test outputs) in run order; existing ones keep their
        place and state."""
        with self.transaction() as db:
            start = db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM tasks").fetchone()[0]
            for k, t in enumerate(tasks):
                db.execute("INSERT OR IGNORE INTO tasks VALUES (?, ?, ?, ?)",
                           (t.id, start + k, t.n_test, _dumps(task_json(t))))

    def task(self, task_id: str) -> Task:
        row = self.db.execute("SELECT task_json FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            raise KeyError(f"task {task_id} is not in this run ({self.run_dir})")
        task, _ = parse_task(json.loads(row[0]), task_id, str(self.path))
        return task

    def task_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT task_id FROM tasks ORDER BY position")]

    def n_test(self, task_id: str) -> int:
        row = self.db.execute("SELECT n_test FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            raise KeyError(f"task {task_id} is not in this run ({self.run_dir})")
        return int(row[0])

    # ---- stages ---------------------------------------------------------------------------------

    def stage(self, task_id: str, stage: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM stages WHERE task_id = ? AND stage = ?", (task_id, stage)).fetchone()

    def stage_status(self, task_id: str, stage: str) -> StageStatus | None:
        row = self.stage(task_id, stage)
        return StageStatus(row["status"]) if row else None

    def stages(self, task_id: str | None = None) -> list[sqlite3.Row]:
        if task_id is None:
            return list(self.db.execute("SELECT * FROM stages"))
        return list(self.db.execute("SELECT * FROM stages WHERE task_id = ?", (task_id,)))

    def start_stage(self, task_id: str, stage: str, worker: str = LOCAL) -> None:
        """One more attempt of a stage, on `worker` (LOCAL: in the run process itself)."""
        assert stage in STAGES, stage
        with self.transaction() as db:
            db.execute(
                "INSERT INTO stages (task_id, stage, status, started_at, starts, worker) "
                "VALUES (?, ?, 'running', ?, 1, ?) "
                "ON CONFLICT (task_id, stage) DO UPDATE SET status = 'running', reason = NULL, error = NULL, "
                "started_at = excluded.started_at, finished_at = NULL, seconds = NULL, starts = starts + 1, "
                "worker = excluded.worker",
                (task_id, stage, time.time(), worker),
            )

    def interrupt_running(self, why: str) -> None:
        """Every running stage stopped from outside (the run itself stops): redone by the next
        invocation, not counted as a crash."""
        with self.transaction() as db:
            db.execute("UPDATE stages SET status = 'interrupted', note = ? WHERE status = 'running'", (why,))

    def recover(self, max_crashes: int, retry_failed: bool) -> list[tuple[str, str]]:
        """At the start of an invocation, every `running` stage was left by a run process that died. One
        that ran in that process (worker LOCAL) counts a crash: at `max_crashes` it is recorded failed
        (`crashed`) unless `retry_failed`; the rest become `interrupted` (redone). Returns the stages
        recorded failed."""
        failed = []
        for row in self.db.execute("SELECT * FROM stages WHERE status = 'running'").fetchall():
            key = (row["task_id"], row["stage"])
            crashes = row["crashes"] + (1 if row["worker"] in (None, LOCAL) else 0)
            with self.transaction() as db:
                db.execute("UPDATE stages SET crashes = ?, status = 'interrupted', note = ? WHERE task_id = ? "
                           "AND stage = ?", (crashes, "the run process stopped during this stage", *key))
            if crashes >= max_crashes and not retry_failed:
                self.fail_stage(*key, FailureReason.CRASHED,
                                f"the run process died during this stage {crashes} times", 0.0)
                failed.append(key)
        return failed

    def finish_stage(self, task_id: str, stage: str, out: StageOutput, seconds: float,
                     status: StageStatus = StageStatus.DONE) -> None:
        """Replace the stage's rows with `out` and mark it done (or skipped), atomically."""
        with self.transaction() as db:
            self._clear_owned(db, task_id, stage)
            for cand, verified in out.candidates:
                db.execute("INSERT INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (task_id, cand.source.value, cand.test_index, cand.rank, _dumps(cand.grid.to_list()),
                            cand.weight, cand.score, _dumps(list(cand.provenance)), int(verified)))
            for p in out.programs:
                db.execute("INSERT OR REPLACE INTO programs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (task_id, p["program_id"], p["status"], p.get("multiplicity"), p.get("source"),
                            p.get("round"), _dumps(p.get("pairs", [])), _dumps(p.get("tests", []))))
            if out.ttt is not None:
                t = out.ttt
                db.execute("INSERT INTO ttt VALUES (?, ?, ?, ?, ?, ?)",
                           (task_id, t.get("examples"), t.get("tokens"), t.get("seconds"),
                            _dumps(t.get("loss_curve", [])), _dumps(t)))
            for i, table in sorted(out.votes.items()):
                db.execute("INSERT INTO votes VALUES (?, ?, ?)", (task_id, i, _dumps(table)))
            for a in out.attempts:
                db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (task_id, a.test_index, a.attempt, _dumps(a.grid.to_list()), a.source.value,
                            a.branch, a.candidate_rank, _dumps(list(a.provenance))))
            db.execute("UPDATE stages SET status = ?, finished_at = ?, seconds = ?, note = ?, result_json = ? "
                       "WHERE task_id = ? AND stage = ?",
                       (status.value, time.time(), seconds, out.note or None,
                        _dumps(out.result) if out.result is not None else None, task_id, stage))

    def fail_stage(self, task_id: str, stage: str, reason: FailureReason, error: str, seconds: float) -> None:
        with self.transaction() as db:
            self._clear_owned(db, task_id, stage)
            db.execute("UPDATE stages SET status = 'failed', reason = ?, error = ?, finished_at = ?, seconds = ? "
                       "WHERE task_id = ? AND stage = ?", (reason.value, error, time.time(), seconds, task_id, stage))

    @staticmethod
    def _clear_owned(db: sqlite3.Connection, task_id: str, stage: str) -> None:
        for table, cond in _OWNED[stage]:
            db.execute(f"DELETE FROM {table} WHERE task_id = ? AND {cond}", (task_id,))

    def task_status(self, task_id: str) -> tuple[str, str | None]:
        """('done'|'failed'|'running'|'pending', first failure reason or None)."""
        rows = {r["stage"]: r for r in self.stages(task_id)}
        failed = [rows[s] for s in STAGES if s in rows and rows[s]["status"] == "failed"]
        if failed:
            return "failed", failed[0]["reason"]
        ens = rows.get("ensemble")
        if ens is not None and ens["status"] == "done":
            return "done", None
        return ("running" if rows else "pending"), None

    # ---- reading results ------------------------------------------------------------------------

    def candidates(self, task_id: str, source: Source | None = None) -> list[tuple[Candidate, bool]]:
        q = "SELECT * FROM candidates WHERE task_id = ?"
        args: list[Any] = [task_id]
        if source is not None:
            q += " AND source = ?"
            args.append(source.value)
        out = []
        for r in self.db.execute(q + " ORDER BY source, test_index, rank", args):
            cand = Candidate(task_id, r["test_index"], Grid.parse(json.loads(r["grid"]), "store"),
                             Source(r["source"]), r["rank"], r["weight"], r["score"], tuple(json.loads(r["provenance"])))
            out.append((cand, bool(r["verified"])))
        return out

    def attempts(self, task_id: str) -> list[FinalAttempt]:
        return [
            FinalAttempt(task_id, r["test_index"], r["attempt"], Grid.parse(json.loads(r["grid"]), "store"),
                         Source(r["source"]), r["branch"], r["candidate_rank"], tuple(json.loads(r["provenance"])))
            for r in self.db.execute("SELECT * FROM attempts WHERE task_id = ? ORDER BY test_index, attempt", (task_id,))
        ]

    def programs(self, task_id: str | None = None, status: str | None = None) -> list[dict]:
        q, args = "SELECT * FROM programs WHERE 1", []
        if task_id is not None:
            q, args = q + " AND task_id = ?", args + [task_id]
        if status is not None:
            q, args = q + " AND status = ?", args + [status]
        rows = self.db.execute(q + " ORDER BY task_id, multiplicity DESC, program_id", args)
        return [{**dict(r), "pairs": json.loads(r["pairs_json"]), "tests": json.loads(r["tests_json"])} for r in rows]

    def samples(self, task_id: str) -> list[dict]:
        """Raw induction samples of a task (the sample log), in the order they were drawn."""
        return [json.loads(r[0]) for r in self.db.execute(
            "SELECT json FROM sample_log WHERE task_id = ? ORDER BY seq", (task_id,))]

    def ttt(self, task_id: str) -> dict | None:
        row = self.db.execute("SELECT json FROM ttt WHERE task_id = ?", (task_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def votes(self, task_id: str) -> dict[int, Any]:
        return {r[0]: json.loads(r[1]) for r in self.db.execute(
            "SELECT test_index, json FROM votes WHERE task_id = ? ORDER BY test_index", (task_id,))}

    def result(self, task_id: str, stage: str) -> dict | None:
        row = self.stage(task_id, stage)
        return json.loads(row["result_json"]) if row and row["result_json"] else None

    def all_attempts(self) -> Mapping[str, list[FinalAttempt]]:
        return {tid: self.attempts(tid) for tid in self.task_ids()}
