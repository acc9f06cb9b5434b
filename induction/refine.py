"""Refinement (opt-in): show the model its best wrong programs with their failures, ask for fixes.

A round picks the `refine_programs` best non-verified programs not fed back before (by mean
demonstration cell accuracy, then multiplicity, then sampling order; programs that crashed on
everything come last but may still be chosen, with their exception shown), builds for each a
prompt = task prompt + the program as the model's answer + up to `refine_max_failures` failing
demonstrations (expected vs produced grid, or the error), and samples `refine_samples` responses
per program through the same sample log (so refinements are never resampled either). Each sample
is recorded with its round and the parent program id.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from arc_core.task import Task
from induction.config import InductionConfig
from induction.dedupe import Program
from induction.prompts import Chat, Failure, refinement_messages
from induction.sample import sample_task
from induction.samples import SampleLog, SampleRecord
from induction.verify import Verification


def pick_for_refinement(
    programs: Sequence[Program],
    verifications: Sequence[Verification],
    already_fed: Collection[str],
    k: int,
) -> list[tuple[Program, Verification]]:
    """The k most promising non-verified programs not fed back before."""
    by_id = {p.id: p for p in programs}
    pool = [(by_id[v.program_id], v) for v in verifications if not v.verified and v.program_id not in already_fed]
    pool.sort(key=lambda pv: (-pv[1].mean_accuracy, -pv[0].multiplicity, pv[0].first_seen))
    return pool[:k]


def failures_of(task: Task, verification: Verification, limit: int) -> list[Failure]:
    """The failing demonstrations of a program, at most `limit`, in example order."""
    out = []
    for i, (pair, check) in enumerate(zip(task.train, verification.train), start=1):
        if check.exact:
            continue
        if check.output is not None:
            error = None
        elif check.error_type:
            error = f"{check.error_type}: {check.error}" if check.error else check.error_type
        else:
            error = check.error or check.status
        out.append(Failure(i, pair.output, check.output, error))
        if len(out) == limit:
            break
    return out


def refine_round(
    task: Task,
    base: Chat,
    round_no: int,
    programs: Sequence[Program],
    verifications: Sequence[Verification],
    already_fed: set[str],
    backend: Any,
    config: InductionConfig,
    log: SampleLog,
) -> list[SampleRecord]:
    """One refinement round; returns its samples (new or from the log). Updates `already_fed`."""
    records: list[SampleRecord] = []
    for program, verification in pick_for_refinement(programs, verifications, already_fed, config.refine_programs):
        already_fed.add(program.id)
        failures = failures_of(task, verification, config.refine_max_failures)
        messages = refinement_messages(base, program.source, failures, config.prompt_format)
        records += sample_task(task.id, messages, config.refine_samples, backend, config, log,
                               prompt_format=config.prompt_format, round=round_no, parent=program.id)
    return records
