"""Overlap between two task collections, by task id and by grid content.

`find_overlap(reference, candidates)`: candidate task id -> why it overlaps the reference tasks:
the same task id, or at least `MIN_SHARED_GRIDS` shared distinctive grids (>= 9 cells, >= 2
colours; demonstration grids and test inputs, never test outputs). One shared small grid is common
between unrelated tasks (a 3x3 with one coloured cell: 11 ARC-AGI-1 training tasks share exactly
one with the evaluation set); a copied or renamed task shares many. ARC-AGI-2 training contains
376 of the 400 ARC-AGI-1 evaluation task ids. Used by `arc-hybrid overlap A B` and by `finetune`,
which refuses training tasks found in the evaluation set.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arc_core.grid import Grid
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


def overlap_report(a: Sequence[Task], b: Sequence[Task]) -> dict[str, Any]:
    """{"overlap": ids of B found in A, "by_id": n, "by_content": n}; by_content counts B tasks
    with another id whose grids match an A task."""
    found = find_overlap(a, b)
    by_id = sum(1 for why in found.values() if why == SAME_ID)
    return {"overlap": sorted(found), "by_id": by_id, "by_content": len(found) - by_id}
