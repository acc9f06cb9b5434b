"""The stage graph of a run: which stages a task goes through, what each needs, and which to skip.

Per task: `induction` (sample or import programs, verify them), the transduction side as two stages,
`train` (TTT data and a fresh LoRA adapter, saved) and `infer` (query plan, greedy and DFS
candidates, scoring, selection; it serves the adapter `train` saved), and `ensemble` (attempts from
both sides). Stages that share loaded resources form a *phase*: induction's (the LM and the sandbox),
then transduction's (the base model, for training and inference). The runner (`ensemble.runner`)
runs phase after phase, freeing one phase's resources before the next loads its own, and inside a
phase hands every stage to the executor as soon as what it needs is committed: a task's `infer` right
after its `train`, so answers arrive while other tasks still train. Local and Ray runs execute this
same graph (`ensemble.executor`, `ensemble.ray_exec`); only where a stage runs differs.

Skips are decided here, by the runner, before anything is dispatched: with
`ensemble.skip_ttt_when_verified`, a task whose every test input already has a verified program
skips `train` and `infer`; an `infer` whose `train` was skipped is skipped with it. An `infer` whose
`train` failed is not run (the task's transduction side failed; `--retry-failed` redoes both).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arc_core.candidates import Source
from arc_core.task import Task

from ensemble.config import RunConfig
from ensemble.store import RunStore, StageOutput, StageStatus

PHASES: dict[str, tuple[str, ...]] = {"induction": ("induction",), "transduction": ("train", "infer")}
STAGE_ORDER = tuple(s for stages in PHASES.values() for s in stages)
NEEDS = {"infer": "train"}  # a stage -> the stage of the same task it reads
# Dispatch preference inside a phase: later stages first, so a trained task is finished before
# another starts training (answers early; the adapter is still at hand).
PRIORITY = {"induction": 0, "train": 0, "infer": 1}
SKIP_PREFIX = "skipped"


@dataclass(frozen=True)
class Job:
    """One stage of one task, ready to run: `trained` is the `infer` stage's input (the task's
    `transduction.pipeline.TrainedTask`, adapter path resolved under RUN_DIR); `limits` are set just
    before dispatch when the run has a time budget."""

    task: Task
    stage: str
    trained: Any = None
    limits: Any = None  # transduction.limits.TaskLimits under a time budget (ensemble.timebudget)

    @property
    def key(self) -> tuple[str, str]:
        return self.task.id, self.stage


def enabled_phases(cfg: RunConfig) -> list[str]:
    return [p for p in PHASES if getattr(cfg.ensemble, p)]


def last_stage(cfg: RunConfig) -> str:
    """The stage after which a task's solver work is complete (its ensemble can be made)."""
    return PHASES[enabled_phases(cfg)[-1]][-1]


def needs_run(store: RunStore, task_id: str, stage: str, retry_failed: bool) -> bool:
    """Whether `stage` of a task is still to do: never run, interrupted, or failed with `retry_failed`
    (`RunStore.recover` already turned stages left running by a dead process into one of these)."""
    status = store.stage_status(task_id, stage)
    if status in (StageStatus.DONE, StageStatus.SKIPPED):
        return False
    if status is StageStatus.FAILED:
        return retry_failed
    return True


def all_tests_verified(store: RunStore, task: Task) -> bool:
    """Whether induction committed a verified-program answer for every test input of `task`."""
    have = {c.test_index for c, verified in store.candidates(task.id, Source.INDUCTION) if verified}
    return have == set(range(task.n_test))


def skip_reason(cfg: RunConfig, store: RunStore, job: Job) -> str | None:
    """Why `job` is skipped (a `StageOutput.note`), or None when it runs."""
    if job.stage == "train" and cfg.ensemble.skip_ttt_when_verified and cfg.ensemble.induction \
            and all_tests_verified(store, job.task):
        return f"{SKIP_PREFIX}: every test input has a verified-program answer"
    if job.stage == "infer" and store.stage_status(job.task.id, "train") is StageStatus.SKIPPED:
        return f"{SKIP_PREFIX}: its train stage was skipped"
    return None


def skipped_output(reason: str) -> StageOutput:
    assert reason.startswith(SKIP_PREFIX), reason
    return StageOutput(note=reason)


def blocked(store: RunStore, job: Job) -> bool:
    """Whether what `job` needs failed (it then does not run; see the module docstring)."""
    need = NEEDS.get(job.stage)
    return need is not None and store.stage_status(job.task.id, need) is StageStatus.FAILED
