"""Executors hand back stage results as data and the runner commits them: failures keep their reason,
samples drawn on a worker land in the store's sample log, a crashed stage is a recorded failure."""
from __future__ import annotations

import pytest

from ensemble.executor import StageResult, crashed, execute
from ensemble.runner import commit_result
from ensemble.store import FailureReason, RunStore, StageOutput, StageStatus
from induction.samples import SampleRecord


def _raise(exc: BaseException):
    def fn() -> StageOutput:
        raise exc
    return fn


@pytest.mark.parametrize("exc, reason", [
    (MemoryError(), FailureReason.OUT_OF_MEMORY),
    (RuntimeError("CUDA out of memory"), FailureReason.OUT_OF_MEMORY),
    (ValueError("bad"), FailureReason.EXCEPTION),
])
def test_execute_turns_exceptions_into_failures(exc, reason):
    r = execute("t1", "induction", _raise(exc), worker="w1")
    assert r.output is None and r.failure is not None
    assert r.failure.reason is reason and r.failure.message.startswith(type(exc).__name__)
    assert r.worker == "w1" and r.seconds >= 0


def test_result_needs_exactly_one_of_output_and_failure():
    with pytest.raises(AssertionError):
        StageResult("t1", "induction", None, None, 0.0)


def test_commit_writes_remote_samples_and_failures(tmp_path, synthetic_run):
    _, _, ds = synthetic_run
    tid = ds.ids()[0]
    with RunStore(tmp_path / "run") as store:
        store.add_tasks([ds.tasks[tid]])
        rec = SampleRecord(tid, "p", "s", 0, "def transform(g):\n    return g\n", "hf", "m", "barc")
        store.start_stage(tid, "induction")
        ok = execute(tid, "induction", lambda: StageOutput(note="x"), samples=lambda: [rec])
        assert commit_result(store, ok, lambda s: None) is StageStatus.DONE
        assert [(s["index"], s["text"]) for s in store.samples(tid)] == [(0, rec.text)]
        store.start_stage(tid, "transduction")
        logged: list[str] = []
        status = commit_result(store, crashed(tid, "transduction", "its worker died 2 time(s)", 1.0, "model-3"),
                               logged.append)
        assert status is StageStatus.FAILED
        row = store.stage(tid, "transduction")
        assert row["reason"] == FailureReason.CRASHED.value and "worker died" in row["error"]
        assert logged and "crashed" in logged[0]
