"""Contamination, made visible: which evaluated tasks a model's training saw (or saw the generator of).

`contamination(model, task_ids) -> ContaminationReport` finds the model's training provenance
without loading or merging any weights:
- an embedded adapter model (`smollm2-135m-arc`): the provenance shipped beside its adapter;
- a local model or adapter directory: its `training_provenance.json` (`arc-hybrid finetune` writes
  one into every directory it writes; arc_core.provenance);
- a published checkpoint this project knows (`PUBLISHED`): what its authors say it trained on;
- anything else: provenance unknown (the report says so; it is not a clean bill).
An evaluated task is *contaminated* when its id is among the tasks whose data or generators trained
the model: its score is not a held-out score. `transduce` and `plan` print `warning()` on stderr,
`transduce` writes the report into its run directory (`write_report`); the ensemble's `run` asks the
same question of each model it uses and keeps the reports in its run store (ensemble.contamination),
where `report` shows them (and any `contamination.json`, read by `read_report`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arc_core.files import write_json_atomic
from arc_core.provenance import TrainingProvenance, TrainingSource, contaminated, read_provenance

REPORT_FILE = "contamination.json"


def _marc_8b() -> TrainingProvenance:
    """TTT_METHOD §5: the paper's 8B model was fully fine-tuned on re-ARC tasks of the 400 ARC-AGI-1
    training tasks (plus LM-generated tasks and augmentations; the released placeholder data names
    some after evaluation tasks' descriptions, a question the authors have not settled)."""
    from arc_core.datasets import load_dataset

    ids = tuple(load_dataset("arc1/training").ids())
    source = TrainingSource("rearc", "re-ARC generators (Hodel 2024), per the TTT paper", ids, 0,
                            {"note": "plus LM-generated tasks whose seeds are not published in full"})
    return TrainingProvenance("meta-llama/Meta-Llama-3-8B-Instruct", "full", (source,), "", 0, 0,
                              {"source": "Akyurek et al. 2024, App. E (TTT_METHOD.md §5)"})


PUBLISHED = {"ekinakyurek/marc-8B-finetuned-llama3": _marc_8b}


@dataclass(frozen=True)
class ContaminationReport:
    """Which of the evaluated tasks the model's training saw, and where that knowledge came from."""

    model: str
    provenance: str | None            # where the provenance was read (None: unknown)
    n_evaluated: int
    tasks: dict[str, str] = field(default_factory=dict)  # contaminated task id -> why

    @property
    def known(self) -> bool:
        return self.provenance is not None

    def warning(self) -> str | None:
        """One line for stderr, or None when the evaluated tasks are held out (or nothing is known)."""
        if not self.tasks:
            return None
        ids = sorted(self.tasks)
        shown = " ".join(ids[:12]) + (f" ... (+{len(ids) - 12})" if len(ids) > 12 else "")
        return (f"warning: model {self.model} was trained on data of {len(ids)} of the {self.n_evaluated} evaluated "
                f"task(s), or on their generators (provenance: {self.provenance}); their scores are not held-out "
                f"scores: {shown}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContaminationReport:
        return cls(d["model"], d["provenance"], d["n_evaluated"], dict(d["tasks"]))


def model_provenance(model: str) -> tuple[TrainingProvenance | None, str | None]:
    """(provenance, where it was found) of a model name or path, without loading weights."""
    from arc_lm.merged import EMBEDDED_ADAPTERS, embedded_adapter_dir

    if model in EMBEDDED_ADAPTERS:
        directory = embedded_adapter_dir(model)
        return read_provenance(directory), f"{model} (shipped {directory.name}/training_provenance.json)"
    path = Path(model).expanduser()
    if path.exists():
        found = read_provenance(path)
        return found, (str(path) if found is not None else None)
    if model in PUBLISHED:
        prov = PUBLISHED[model]()
        return prov, f"published: {prov.extra['source']}"
    return None, None


def contamination(model: str, task_ids: list[str]) -> ContaminationReport:
    """The contamination of evaluating `model` on `task_ids` (see the module docstring)."""
    prov, where = model_provenance(model)
    return ContaminationReport(model, where if prov is not None else None, len(task_ids), contaminated(prov, task_ids))


def write_report(run_dir: str | Path, report: ContaminationReport) -> Path:
    return write_json_atomic(Path(run_dir) / REPORT_FILE, report.to_dict())


def read_report(run_dir: str | Path) -> ContaminationReport | None:
    """The contamination report a run directory holds, None when it has none."""
    path = Path(run_dir) / REPORT_FILE
    if not path.is_file():
        return None
    return ContaminationReport.from_dict(json.loads(path.read_text()))
