"""`induce_task`: prompt -> sample -> extract -> dedupe -> verify (-> refine) -> rank, for one task.

Reads top to bottom like a recipe. Every sample goes through the sample log (nothing resampled);
imported texts (`imported`) join the model's samples and go through exactly the same extraction,
de-duplication and verification. The result records, per sample, why it gave no program (or which
program it gave), every distinct program with its multiplicity and round, every verification, and
the ranked candidates per test input. `InductionResult.to_dict/from_dict` round-trip through JSON.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arc_core.candidates import Candidate
from arc_core.task import Task
from induction.config import InductionConfig
from induction.dedupe import ExtractedCode, Program, dedupe
from induction.extract import Extraction, extract_program
from induction.prepare import Prepared
from induction.prompts import build_prompt
from induction.rank import rank_candidates
from induction.refine import refine_round
from induction.sample import sample_task
from induction.samples import SampleLog, SampleRecord, import_samples
from induction.verify import Executor, Verification, verify_programs


@dataclass(frozen=True)
class SampleOutcome:
    """What one sample yielded: a program id, or the reason it yielded none."""

    key: str
    round: int
    source: str
    program_id: str | None
    method: str | None
    reason: str | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleOutcome:
        return cls(**d)


@dataclass(frozen=True)
class InductionResult:
    task_id: str
    samples: tuple[SampleOutcome, ...]
    programs: tuple[Program, ...]
    verifications: tuple[Verification, ...]
    candidates: dict[int, list[Candidate]]
    near_miss: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def verified_ids(self) -> list[str]:
        return [v.program_id for v in self.verifications if v.verified]

    def counts(self) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for s in self.samples:
            if s.reason is not None:
                reasons[s.reason] = reasons.get(s.reason, 0) + 1
        return {"samples": len(self.samples), "with_program": sum(s.program_id is not None for s in self.samples),
                "programs": len(self.programs), "verified": len(self.verified_ids),
                **{f"no_program:{k}": v for k, v in sorted(reasons.items())}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "samples": [s.to_dict() for s in self.samples],
            "programs": [p.to_dict() for p in self.programs],
            "verifications": [v.to_dict() for v in self.verifications],
            "candidates": {str(i): [c.to_dict() for c in cs] for i, cs in self.candidates.items()},
            "near_miss": self.near_miss,
            "timings": dict(self.timings),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InductionResult:
        return cls(
            d["task_id"],
            tuple(SampleOutcome.from_dict(s) for s in d["samples"]),
            tuple(Program.from_dict(p) for p in d["programs"]),
            tuple(Verification.from_dict(v) for v in d["verifications"]),
            {int(i): [Candidate.from_dict(c) for c in cs] for i, cs in d["candidates"].items()},
            bool(d.get("near_miss", False)),
            dict(d.get("timings", {})),
        )


def _extract_all(records: Sequence[SampleRecord], max_chars: int,
                 known: Mapping[str, Extraction]) -> tuple[list[ExtractedCode], list[dict[str, Any]]]:
    codes, rows = [], []
    seen: dict[str, Extraction] = {}  # identical responses are common: extract each text once
    for r in records:
        e = known.get(r.text) or seen.get(r.text)
        if e is None:
            e = seen[r.text] = extract_program(r.text, max_chars)
        rows.append({"key": r.key, "round": r.round, "source": r.source, "method": e.method,
                     "reason": e.reason.value if e.reason else None, "detail": e.detail})
        if e.code is not None:
            codes.append(ExtractedCode(r.key, e.code, r.round))
    return codes, rows


def _outcomes(rows: list[dict[str, Any]], programs: Sequence[Program]) -> tuple[SampleOutcome, ...]:
    owner = {key: p.id for p in programs for key in p.sample_keys}
    return tuple(SampleOutcome(program_id=owner.get(r["key"]), **r) for r in rows)


def induce_task(
    task: Task,
    backend: Any | None,
    sandbox: Executor,
    config: InductionConfig,
    log: SampleLog,
    imported: Sequence[str] = (),
    import_hash: str = "",
    prepared: Prepared | None = None,
) -> InductionResult:
    """Run induction on one task. `backend=None` uses only `imported` texts (no sampling).
    `prepared`: extractions and normal forms computed ahead (`induction.prepare`, large imports)."""
    prepared = prepared or Prepared()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = build_prompt(task, config.prompt_format)
    records: list[SampleRecord] = []
    if backend is not None and config.n_samples:
        records += sample_task(task.id, base, config.n_samples, backend, config, log,
                               prompt_format=config.prompt_format)
    if imported:
        if not import_hash:
            raise ValueError("imported samples need the import file's hash (import_hash)")
        records += import_samples(task.id, imported, import_hash, log)
    timings["sample"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    codes, rows = _extract_all(records, config.max_response_chars, prepared.extractions)
    programs = dedupe(codes, prepared.normal_forms)
    timings["extract"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    verifications = {v.program_id: v for v in verify_programs(task, programs, sandbox)}
    timings["verify"] = time.perf_counter() - t0

    fed: set[str] = set()
    rounds = config.refine_rounds if backend is not None else 0
    for round_no in range(1, rounds + 1):
        if config.stop_when_verified and any(v.verified for v in verifications.values()):
            break
        t0 = time.perf_counter()
        new = refine_round(task, base, round_no, programs, [verifications[p.id] for p in programs], fed,
                           backend, config, log)
        timings["refine"] = timings.get("refine", 0.0) + time.perf_counter() - t0
        if not new:
            break
        new_codes, new_rows = _extract_all(new, config.max_response_chars, prepared.extractions)
        codes += new_codes
        rows += new_rows
        programs = dedupe(codes, prepared.normal_forms)
        fresh = [p for p in programs if p.id not in verifications]
        t0 = time.perf_counter()
        verifications.update({v.program_id: v for v in verify_programs(task, fresh, sandbox)})
        timings["verify"] += time.perf_counter() - t0

    ordered = tuple(verifications[p.id] for p in programs)
    t0 = time.perf_counter()
    candidates, near_miss = rank_candidates(task, programs, ordered, config)
    timings["rank"] = time.perf_counter() - t0
    return InductionResult(task.id, _outcomes(rows, programs), tuple(programs), ordered, candidates,
                           near_miss, timings)
