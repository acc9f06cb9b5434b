"""Executors hand back stage results as data and the runner commits them: failures keep their reason,
samples drawn on a worker land in the store's sample log, a crashed stage is a recorded failure."""
from __future__ import annotations

import pytest

from ensemble.executor import StageResult, crashed, execute
from ensemble.commit import commit_result
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
    """Samples drawn on a worker reach the store's log through the runner's sink as they arrive; a
    crashed stage is a recorded failure."""
    from ensemble.commit import sample_sink

    _, _, ds = synthetic_run
    tid = ds.ids()[0]
    with RunStore(tmp_path / "run") as store:
        store.add_tasks([ds.tasks[tid]])
        rec = SampleRecord(tid, "p", "s", 0, "def transform(g):\n    return g\n", "hf", "m", "barc")
        store.start_stage(tid, "induction", "induction-1")
        sample_sink(store)([rec])
        assert [(s["index"], s["text"]) for s in store.samples(tid)] == [(0, rec.text)]
        ok = execute(tid, "induction", lambda: StageOutput(note="x"))
        assert commit_result(store, ok, lambda s: None) is StageStatus.DONE
        store.start_stage(tid, "train", "model-3")
        logged: list[str] = []
        status = commit_result(store, crashed(tid, "train", "its worker died 2 time(s)", 1.0, "model-3"),
                               logged.append)
        assert status is StageStatus.FAILED
        row = store.stage(tid, "train")
        assert row["reason"] == FailureReason.CRASHED.value and "worker died" in row["error"]
        assert row["worker"] == "model-3" and row["crashes"] == 0  # a worker's death is no process crash
        assert logged and "crashed" in logged[0]


def test_a_remote_train_result_writes_its_adapter_under_the_run_dir(tmp_path, synthetic_run):
    """A `train` stage run elsewhere hands back its adapter's files; the commit writes them under
    RUN_DIR (record.json last) before the stage is recorded done."""
    from ensemble.executor import StageResult

    _, _, ds = synthetic_run
    tid = ds.ids()[0]
    with RunStore(tmp_path / "run") as store:
        store.add_tasks([ds.tasks[tid]])
        store.start_stage(tid, "train", "model-1")
        files = {"adapter_config.json": b"{}", "adapter_model.safetensors": b"weights", "record.json": b"{}"}
        out = StageOutput(result={"task_id": tid, "adapter": f"transduction/adapters/{tid}"})
        assert commit_result(store, StageResult(tid, "train", out, None, 1.0, "model-1", files), print) \
            is StageStatus.DONE
        written = tmp_path / "run" / "transduction" / "adapters" / tid
        assert {p.name: p.read_bytes() for p in written.iterdir()} == files
