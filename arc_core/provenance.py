"""Training provenance of a fine-tuned model, and which evaluated tasks it makes suspect.

A model directory written by `arc-hybrid finetune` (the merged model, the adapter, or both) holds
`training_provenance.json` (`PROVENANCE_FILE`): the base model, the method, and one
`TrainingSource` per training source: a dataset (the task ids it trained on) or a task generator
family such as re-ARC (the ids of the tasks whose generators produced the data: re-ARC generators
are named by the ARC-AGI-1 training task they imitate). `contaminated(provenance, task_ids)` says
which evaluated task ids are among them and why: a score on such a task is not a held-out score.

This module only reads and writes the file format (arc_core imports nothing above it);
`transduction.provenance` resolves a model name to its directory, and `arc_core.overlap` reads the
file for `arc-hybrid overlap MODEL_DIR B`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arc_core.files import write_json_atomic

PROVENANCE_FILE = "training_provenance.json"
FORMAT = 1
KINDS = ("dataset", "rearc")


@dataclass(frozen=True)
class TrainingSource:
    """One source of training data and the task ids whose data or generators it used."""

    kind: str                       # "dataset" or "rearc"
    name: str                       # dataset name/path, or the generator package and version
    task_ids: tuple[str, ...]       # dataset: its task ids; rearc: the generators' task ids
    n_tasks: int                    # training tasks taken from this source
    details: dict[str, Any] = field(default_factory=dict)  # seeds, spec, counts, digests

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"training source kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.n_tasks < 0:
            raise ValueError(f"training source {self.name}: n_tasks must be >= 0, got {self.n_tasks}")

    def reason(self) -> str:
        return (f"its re-ARC generator made training data ({self.name})" if self.kind == "rearc"
                else f"it is a training task of the model (dataset {self.name})")


@dataclass(frozen=True)
class TrainingProvenance:
    """What trained a model (see the module docstring)."""

    base_model: str
    method: str                     # "lora" or "full"
    sources: tuple[TrainingSource, ...]
    data_digest: str                # SHA-256 of the fine-tuning examples, in training order
    n_examples: int
    n_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)  # config, record, what else the writer knows

    def trained_ids(self) -> dict[str, str]:
        """Task id -> why it is not held out from this model (the first source that names it)."""
        out: dict[str, str] = {}
        for s in self.sources:
            for tid in s.task_ids:
                out.setdefault(tid, s.reason())
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = FORMAT
        d["sources"] = [{**asdict(s), "task_ids": list(s.task_ids)} for s in self.sources]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "provenance") -> TrainingProvenance:
        if d.get("format") != FORMAT:
            raise ValueError(f"{where}: unknown provenance format {d.get('format')!r} (expected {FORMAT})")
        try:
            sources = tuple(TrainingSource(s["kind"], s["name"], tuple(s["task_ids"]), s["n_tasks"],
                                           s.get("details", {})) for s in d["sources"])
            return cls(d["base_model"], d["method"], sources, d["data_digest"], d["n_examples"], d["n_tokens"],
                       d.get("extra", {}))
        except (KeyError, TypeError) as e:
            raise ValueError(f"{where}: malformed training provenance ({type(e).__name__}: {e})") from e


def write_provenance(directory: str | Path, provenance: TrainingProvenance) -> Path:
    return write_json_atomic(Path(directory) / PROVENANCE_FILE, provenance.to_dict())


def read_provenance(path: str | Path) -> TrainingProvenance | None:
    """The provenance in a model directory (or the file itself); None when there is none."""
    p = Path(path)
    if p.is_dir():
        p = p / PROVENANCE_FILE
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from e
    return TrainingProvenance.from_dict(data, str(p))


def contaminated(provenance: TrainingProvenance | None, task_ids: Iterable[str]) -> dict[str, str]:
    """Evaluated task id -> why the model's training saw it or its generator (none: {})."""
    if provenance is None:
        return {}
    trained = provenance.trained_ids()
    return {tid: trained[tid] for tid in task_ids if tid in trained}
