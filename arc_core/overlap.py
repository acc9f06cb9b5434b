"""Overlap between two task collections, by task id and by grid content.

`find_overlap(reference, candidates)`: candidate task id -> why it overlaps the reference tasks:
the same task id, or at least `MIN_SHARED_GRIDS` shared distinctive grids (>= 9 cells, >= 2
colours; demonstration grids and test inputs, never test outputs). One shared small grid is common
between unrelated tasks (a 3x3 with one coloured cell: 11 ARC-AGI-1 training tasks share exactly
one with the evaluation set); a copied or renamed task shares many. ARC-AGI-2 training contains
376 of the 400 ARC-AGI-1 evaluation task ids. Used by `arc-hybrid overlap A B` and by `finetune`,
which refuses training tasks found in the evaluation set.

`load_reference(A)` also reads a fine-tuned model's training provenance (arc_core.provenance: a
model directory holding `training_provenance.json`, or that file): its training datasets are
loaded by name to compare grids where they still load, and every task id the provenance names
(dataset tasks, re-ARC generators) counts as overlap "by provenance" (`overlap_report(..., trained)`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arc_core.datasets import load_dataset
from arc_core.grid import Grid
from arc_core.provenance import PROVENANCE_FILE, read_provenance
from arc_core.task import Task

MIN_SHARED_GRIDS = 2
SAME_ID = "same task id"


def distinctive(g: Grid) -> bool:
    """Grids worth comparing: tiny or single-colour grids recur across unrelated tasks."""
    return g.height * g.width >= 9 and len({v for row in g.rows for v in row}) >= 2


def find_overlap(reference: Sequence[Task], candidates: Sequence[Task]) -> dict[str, str]:
    """Candidate task id -> why it overlaps the reference tasks (same id, or shared grids)."""
    ids = {t.id for t in reference}
    owner: dict[Grid, str] = {}
    for t in reference:
        for g in t.all_grids():
            if distinctive(g):
                owner.setdefault(g, t.id)
    out = {}
    for t in candidates:
        if t.id in ids:
            out[t.id] = SAME_ID
            continue
        shared = [owner[g] for g in dict.fromkeys(t.all_grids()) if g in owner]
        if len(shared) >= MIN_SHARED_GRIDS:
            out[t.id] = f"shares {len(shared)} grids with task(s) {', '.join(dict.fromkeys(shared))}"
    return out


def overlap_report(a: Sequence[Task], b: Sequence[Task], trained: dict[str, str] | None = None) -> dict[str, Any]:
    """{"overlap": ids of B found in A, "by_id": n, "by_content": n, "by_provenance": n}; by_content
    counts B tasks with another id whose grids match an A task; by_provenance, B tasks found only
    because A's training provenance names their id (`trained`: id -> why)."""
    found = find_overlap(a, b)
    by_id = sum(1 for why in found.values() if why == SAME_ID)
    by_content = len(found) - by_id
    for t in b:
        if trained and t.id in trained and t.id not in found:
            found[t.id] = trained[t.id]
    return {"overlap": sorted(found), "by_id": by_id, "by_content": by_content,
            "by_provenance": len(found) - by_id - by_content, "why": dict(sorted(found.items()))}


def load_reference(name: str) -> tuple[list[Task], dict[str, str], str]:
    """(tasks, trained ids -> why, description) of `overlap`'s A: a dataset name or path, or a model
    directory / provenance file (see the module docstring)."""
    path = Path(name)
    provenance = (read_provenance(path) if (path.is_dir() and (path / PROVENANCE_FILE).is_file())
                  or path.name == PROVENANCE_FILE else None)
    if provenance is None:
        ds = load_dataset(name)
        return [ds.tasks[t] for t in ds.ids()], {}, f"dataset {ds.name}"
    tasks: list[Task] = []
    for source in provenance.sources:
        if source.kind != "dataset":
            continue
        try:
            ds = load_dataset(source.name)
        except (ValueError, OSError):  # a training dataset no longer at hand: its ids still count
            continue
        tasks += [ds.tasks[t] for t in source.task_ids if t in ds.tasks]
    return tasks, provenance.trained_ids(), f"the training data of {name} ({provenance.base_model}, {provenance.method})"
