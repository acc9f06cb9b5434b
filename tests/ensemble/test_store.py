"""The run store: atomic stage commits, redo after a crash, failures as data, the sample log, and
the summary computed from it."""
from __future__ import annotations

import sqlite3

import pytest

from arc_core.candidates import Candidate, Source
from arc_core.grid import Grid
from ensemble.store import FailureReason, RunStore, StageOutput, StageStatus
from ensemble.summary import summarise, summary_table


def _cand(tid, rank, k):
    return Candidate(tid, 0, Grid(((k,),)), Source.INDUCTION, rank, 1.0, None, ("p",))


def test_wal_mode_and_reopen(tmp_path):
    with RunStore(tmp_path) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s.set_meta("x", {"a": [1, 2]})
    with RunStore(tmp_path, create=False) as s:
        assert s.get_meta("x") == {"a": [1, 2]}
    with pytest.raises(FileNotFoundError, match="no run store"):
        RunStore(tmp_path / "nope", create=False)


def test_stage_commit_replaces_rows_and_counts_starts(tmp_path):
    with RunStore(tmp_path) as s:
        s.start_stage("t", "induction")
        assert s.stage_status("t", "induction") is StageStatus.RUNNING
        s.finish_stage("t", "induction", StageOutput(candidates=[(_cand("t", 0, 1), True), (_cand("t", 1, 2), True)],
                                                     programs=[{"program_id": "p", "status": "verified", "pairs": [], "tests": []}]), 1.0)
        first = s.stage("t", "induction")
        assert first["status"] == "done" and first["starts"] == 1 and first["finished_at"] is not None
        # Redo (e.g. --retry-failed): the old rows are replaced, never duplicated.
        s.start_stage("t", "induction")
        s.finish_stage("t", "induction", StageOutput(candidates=[(_cand("t", 0, 3), True)]), 1.0)
        assert [c.grid for c, _ in s.candidates("t")] == [Grid(((3,),))]
        assert s.programs("t") == []
        assert s.stage("t", "induction")["starts"] == 2


def test_failed_commit_leaves_stage_running(tmp_path, monkeypatch):
    """A crash inside the finishing transaction rolls everything back: no half-written stage."""
    with RunStore(tmp_path) as s:
        s.start_stage("t", "induction")
        bad = StageOutput(candidates=[(_cand("t", 0, 1), True)],
                          programs=[{"program_id": "p", "status": "verified", "pairs": object(), "tests": []}])
        with pytest.raises(TypeError):
            s.finish_stage("t", "induction", bad, 1.0)
        assert s.stage_status("t", "induction") is StageStatus.RUNNING
        assert s.candidates("t") == []


def test_failure_is_recorded_with_reason(tmp_path):
    with RunStore(tmp_path) as s:
        s.start_stage("t", "train")
        s.fail_stage("t", "train", FailureReason.OUT_OF_MEMORY, "MemoryError", 0.1)
        row = s.stage("t", "train")
        assert (row["status"], row["reason"]) == ("failed", "out-of-memory")
        assert s.task_status("t") == ("failed", "out-of-memory")


def test_readers_see_only_committed_stages(tmp_path):
    with RunStore(tmp_path) as writer:
        writer.start_stage("t", "induction")
        with writer.transaction() as db:
            db.execute("INSERT INTO candidates VALUES ('t', 'induction', 0, 0, '[[1]]', 1, NULL, '[]', 1)")
            reader = sqlite3.connect(writer.path)
            assert reader.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] == 0
            reader.close()


def test_sample_log_protocol(tmp_path):
    samples = pytest.importorskip("induction.samples")
    from ensemble.sample_log import SqliteSampleLog

    with RunStore(tmp_path) as s:
        log = SqliteSampleLog(s)
        recs = [samples.SampleRecord("t", "ph", "sh", i, f"text {i}", "hf", "m", "compact") for i in range(3)]
        log.append(recs[:2])
        assert sorted(log.existing("t", "ph", "sh")) == [0, 1]
        assert log.existing("t", "ph", "other") == {}
        with pytest.raises(ValueError, match="already in the log"):
            log.append(recs[1:])
        assert len(log) == 2  # the failed append was rolled back as a whole
        log.append(recs[2:])
    with RunStore(tmp_path) as s:  # durable
        assert [r.text for r in SqliteSampleLog(s).task_records("t")] == ["text 0", "text 1", "text 2"]
        assert s.samples("t")[0]["text"] == "text 0"


def test_summary_of_synthetic_run(synthetic_run):
    _, store, ds = synthetic_run
    s = summarise(store, ds)
    assert s.tasks == 3 and s.finished == 2 and s.known == 3
    assert s.score.kaggle_score == 2 and s.score.strict_solved == 2
    assert (s.solved_by["induction"], s.solved_by["transduction"], s.solved_by["both"]) == (1, 1, 0)
    assert dict(s.failures) == {("train", "out-of-memory"): 1}
    assert s.verified_programs == 1
    assert s.stage_seconds["induction"] == pytest.approx(4.5)
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(summary_table(s))
    text = console.export_text()
    assert "Kaggle score" in text and "out-of-memory" in text
