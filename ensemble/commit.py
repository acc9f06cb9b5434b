"""The driver's writes: a stage's result into the store (one transaction) and, for a `train` stage run
elsewhere, its adapter under RUN_DIR; induction samples drawn elsewhere into the sample log. The
runner (and the ensemble stage) are the only callers: one writer of the store and of RUN_DIR.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ensemble import graph
from ensemble.executor import StageResult, execute
from ensemble.store import RunStore, StageOutput, StageStatus


def commit_result(store: RunStore, result: StageResult, log: Callable[[str], None]) -> StageStatus:
    """Write a stage's result (from this process or a worker) to the store in one transaction; a
    `train` stage's adapter trained elsewhere is written under RUN_DIR first."""
    task_id, stage = result.task_id, result.stage
    if result.failure is not None:
        f = result.failure
        store.fail_stage(task_id, stage, f.reason, f"{f.message}\n{f.detail}", result.seconds)
        log(f"[red]task {task_id}: {stage} failed ({f.reason.value}): {f.message}[/red]")
        return StageStatus.FAILED
    assert result.output is not None
    if result.adapter is not None:
        from transduction.train import write_adapter_files

        rel = (result.output.result or {}).get("adapter")
        assert rel, f"{task_id}: adapter files without an adapter path"
        write_adapter_files(result.adapter, store.run_dir / rel)
    status = StageStatus.SKIPPED if result.output.note.startswith(graph.SKIP_PREFIX) else StageStatus.DONE
    store.finish_stage(task_id, stage, result.output, result.seconds, status)
    return status


def run_stage(store: RunStore, task_id: str, stage: str, fn: Callable[[], StageOutput],
              log: Callable[[str], None]) -> StageStatus:
    """Start, run and commit one stage in this process; failures become data."""
    store.start_stage(task_id, stage)
    return commit_result(store, execute(task_id, stage, fn), log)


def sample_sink(store: RunStore) -> Callable[[Sequence[Any]], None]:
    """Where induction samples drawn on a worker go as they arrive: the store's sample log."""
    def sink(records) -> None:
        from ensemble.sample_log import SqliteSampleLog

        SqliteSampleLog(store).append(records)
    return sink
