"""TTT data: leave-one-out pseudo-tasks of a task's demonstrations x augmentations, capped.

Two recipes (`data.recipe`): "dihedral", described here, and "marc", the released TTT paper code's
data (transduction.marc_data). Recipe "dihedral":

For a task with K demonstrations, each demonstration in turn becomes the query of a pseudo-task
whose demonstrations are the other K-1 (K = 1: one zero-demo pseudo-task). Each base pseudo-task is
crossed with every transform (the dihedral group, plus optional non-invertible training-only ones)
and `copies` copies; copy 0 is the plain transform, later copies also get a random colour
permutation keeping 0 (`permute_colours`; "auto": only for tasks whose demonstration outputs add no
colour, see `permutes_colours`) and/or a random demonstration order. One augmentation is applied to every
grid of a pseudo-task. The candidates are visited in a seeded random order; pseudo-tasks with a
grid over 30x30, over the token limit, or duplicating an earlier one are dropped, until the cap.
Below the cap, leave-two-out pseudo-tasks top the set up (TTT_METHOD §2.2 item 8).

Determinism: one `np.random.Generator` seeded from (seed, task id) via SHA-256, draws in a fixed
order, duplicates detected by dict membership only — same seed, byte-identical data (`digest`).
Test outputs never enter: the input is a `Task`, which does not carry them, and colour maps are drawn
without looking at any grid.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from arc_core.grid import Grid, GridError
from arc_core.seeds import derive_seed
from arc_core.task import Pair, Task
from arc_core.transforms import DIHEDRAL, TRAINING_ONLY, ColourMap
from transduction.config import DataConfig
from transduction.formats import PseudoTask


def task_seed(seed: int, key: str) -> int:
    """A 64-bit seed from (seed, key) that does not depend on Python's hash randomisation."""
    return derive_seed(seed, key, bits=64)


@dataclass(frozen=True)
class Base:
    """An un-augmented pseudo-task: demonstrations and a query pair taken from the task."""

    name: str
    demos: tuple[Pair, ...]
    query: Pair


def leave_one_out(pairs: Sequence[Pair]) -> list[Base]:
    if len(pairs) == 1:
        return [Base("direct0", (), pairs[0])]
    return [Base(f"loo{i}", tuple(p for j, p in enumerate(pairs) if j != i), pairs[i])
            for i in range(len(pairs))]


def leave_two_out(pairs: Sequence[Pair], allow_empty: bool = False) -> list[Base]:
    """Query i, demonstrations without i and j (ordered pairs i != j): K >= 3 only, or K >= 2 with
    `allow_empty` (zero-demo pseudo-tasks for K = 2, as marc's top-up makes them)."""
    if len(pairs) < (2 if allow_empty else 3):
        return []
    return [Base(f"lto{i},{j}", tuple(p for k, p in enumerate(pairs) if k not in (i, j)), pairs[i])
            for i in range(len(pairs)) for j in range(len(pairs)) if i != j]


def transform_grid(grid: Grid, transform: str, colours: ColourMap) -> Grid:
    """Colours first, then a dihedral or training-only transform. Raises GridError over 30x30."""
    a = colours.apply_array(grid.to_array())
    fn = DIHEDRAL[transform].forward if transform in DIHEDRAL else TRAINING_ONLY[transform]
    return Grid.from_array(fn(a), f"{transform}(grid)")


def augment(base: Base, transform: str, colours: ColourMap, order: tuple[int, ...] | None) -> PseudoTask:
    """`base` with every grid transformed alike and demonstrations reordered."""
    def t(g: Grid) -> Grid:
        return transform_grid(g, transform, colours)

    demos = [Pair(t(p.input), t(p.output)) for p in base.demos]
    if order is not None:
        demos = [demos[i] for i in order]
    parts = [transform]
    if not colours.is_identity():
        parts.append(colours.name)
    if order is not None:
        parts.append("order:" + ",".join(map(str, order)))
    return PseudoTask(tuple(demos), t(base.query.input), t(base.query.output), f"{base.name}|{'+'.join(parts)}")


@dataclass(frozen=True)
class TTTData:
    """A task's TTT pseudo-tasks and what was dropped on the way."""

    task_id: str
    examples: tuple[PseudoTask, ...]
    n_candidates: int = 0
    n_too_large: int = 0
    n_too_long: int = 0
    n_duplicates: int = 0

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the examples (names and grids, in order)."""
        blob = json.dumps([pseudo_task_to_dict(pt) for pt in self.examples], separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def breakdown(self) -> dict[str, int]:
        """Examples by origin: leave-one-out, leave-two-out, and augmented (any transform but the
        identity, a colour permutation or a demo shuffle), read from the example names."""
        out = {"leave_one_out": 0, "leave_two_out": 0, "augmented": 0}
        for pt in self.examples:
            base, _, how = pt.name.partition("|")
            out["leave_two_out" if base.startswith("lto") else "leave_one_out"] += 1
            out["augmented"] += how != "identity"
        return out

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "examples": [pseudo_task_to_dict(p) for p in self.examples],
                "n_candidates": self.n_candidates, "n_too_large": self.n_too_large,
                "n_too_long": self.n_too_long, "n_duplicates": self.n_duplicates}

    @classmethod
    def from_dict(cls, d: dict) -> TTTData:
        return cls(d["task_id"], tuple(pseudo_task_from_dict(x) for x in d["examples"]), d["n_candidates"],
                   d["n_too_large"], d["n_too_long"], d["n_duplicates"])


def pseudo_task_to_dict(pt: PseudoTask) -> dict:
    return {"name": pt.name, "demos": [[p.input.to_list(), p.output.to_list()] for p in pt.demos],
            "query_input": pt.query_input.to_list(),
            "query_output": pt.query_output.to_list() if pt.query_output is not None else None}


def pseudo_task_from_dict(d: dict) -> PseudoTask:
    out = d.get("query_output")
    return PseudoTask(tuple(Pair(Grid.parse(i), Grid.parse(o)) for i, o in d["demos"]),
                      Grid.parse(d["query_input"]), Grid.parse(out) if out is not None else None, d["name"])


def introduces_colours(task: Task) -> bool:
    """Whether some demonstration's output has a non-zero colour that its input lacks: the rule then
    names fixed colours (a colour map, "mark the uniform rows 5"), which a colour permutation of
    the whole pseudo-task would turn into something to infer from the demonstrations in context."""
    return any(set(np.unique(p.output.to_array()).tolist()) - set(np.unique(p.input.to_array()).tolist()) - {0}
               for p in task.train)


def permutes_colours(task: Task, cfg: DataConfig) -> bool:
    """`data.permute_colours` for this task: "auto" permutes only tasks that introduce no colour.
    Reads demonstrations only (a `Task` holds no test output)."""
    if cfg.permute_colours == "auto":
        return not introduces_colours(task)
    return bool(cfg.permute_colours)


def build_dihedral_data(task: Task, cfg: DataConfig,
                        length_fn: Callable[[PseudoTask], int] | None = None) -> TTTData:
    """Recipe "dihedral": the pseudo-tasks described in the module docstring."""
    rng = np.random.default_rng(task_seed(cfg.seed, task.id))
    permute = permutes_colours(task, cfg)
    transforms = (*cfg.dihedral, *cfg.training_only)
    kept: list[PseudoTask] = []
    seen: dict[tuple, None] = {}
    stats = {"n_candidates": 0, "n_too_large": 0, "n_too_long": 0, "n_duplicates": 0}
    stages = [leave_one_out(task.train)] + ([leave_two_out(task.train)] if cfg.leave_two_out else [])
    for bases in stages:
        combos = [(b, t, c) for b in bases for t in transforms for c in range(cfg.copies)]
        for idx in rng.permutation(len(combos)):
            if len(kept) >= cfg.max_examples:
                break
            base, transform, copy = combos[int(idx)]
            colours = ColourMap.random(rng, keep_zero=True) if copy > 0 and permute else ColourMap.identity()
            order = None
            if copy > 0 and cfg.shuffle_demos and len(base.demos) > 1:
                order = tuple(int(i) for i in rng.permutation(len(base.demos)))
            stats["n_candidates"] += 1
            try:
                pt = augment(base, transform, colours, order)
            except GridError:
                stats["n_too_large"] += 1
                continue
            key = (len(pt.demos), pt.grids())
            if key in seen:
                stats["n_duplicates"] += 1
                continue
            seen[key] = None
            if length_fn is not None and length_fn(pt) > cfg.max_tokens:
                stats["n_too_long"] += 1
                continue
            kept.append(pt)
    return TTTData(task.id, tuple(kept), **stats)
