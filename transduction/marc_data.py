"""Recipe "marc": the TTT data of the TTT paper's released code (ekinakyurek/marc, ttt/preprocess.py).

Per base pseudo-task: the plain task plus the 23 augmenters of `MARC_AUGMENTERS` (6 dihedral
symmetries, 4 mirror-concatenations, a random cyclic translation, 3 size doublings, 6
dihedral-then-upscale chains, 3 tilings), each applied to every grid; results with a grid over 30x30
are dropped. Every survivor also gets one copy with a colour permutation that sends used colours to
unused ones first (0 fixed; `ColourMap.prefer_unused`) and a shuffled demonstration order.
Duplicates (same grids) are dropped. Pseudo-tasks over `data.max_tokens` are dropped.

Cap (`data.max_examples`, 250 in the paper): leave-one-out pseudo-tasks first; when there are more,
a seeded shuffle and truncation; when fewer, a top-up with leave-two-out pseudo-tasks in seeded
order (for K = 2 these have zero demonstrations, as in marc). With small grids this gives 48 x K
leave-one-out examples (K=2: 96 + 96 leave-two-out = 192; K=3: 144 + 106 = 250; K>=6: 250 of
leave-one-out only).

Differences from marc, all deliberate: the order is seeded and deterministic (marc iterates Python
sets, whose order depends on the process's hash seed); the translation shift is drawn once per
pseudo-task for inputs and once for outputs and taken modulo min(4, side) (marc draws in
[0, min(4, side)) per grid shape); lengths are checked lazily, in the order examples are taken, so
`n_too_long` counts only examples that were looked at. The recipe's augmenter list is fixed:
`data.dihedral`, `data.training_only` and `data.copies` apply to recipe "dihedral" only;
`permute_colours` / `shuffle_demos` switch the copy's two parts (off: marc's --no_transform ablation).
Test outputs never enter: the input is a `Task`.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import numpy as np

from arc_core.grid import Grid, GridError
from arc_core.task import Pair, Task
from arc_core.transforms import DIHEDRAL, TRAINING_ONLY, ArrayFn, ColourMap, translate
from transduction.config import DataConfig
from transduction.data import Base, TTTData, leave_one_out, leave_two_out, permutes_colours, task_seed
from transduction.formats import PseudoTask

# marc's get_augmenters(basic, size, chain, repeat) in its order, by our transform names.
MARC_AUGMENTERS: tuple[str, ...] = (
    "rot90", "rot270", "rot180", "flipud", "fliplr",
    "reflect_up", "reflect_left", "reflect_down", "reflect_right", "translate", "transpose",
    "upscale2", "height2", "width2",
    "rot90_upscale2", "rot270_upscale2", "rot180_upscale2", "flipud_upscale2", "fliplr_upscale2",
    "transpose_upscale2",
    "tile_v2", "tile_h2", "tile_2x2",
)
assert all(n in DIHEDRAL or n in TRAINING_ONLY or n == "translate" for n in MARC_AUGMENTERS)


def _grid_fns(name: str, rng: np.random.Generator) -> tuple[ArrayFn, ArrayFn]:
    """(function for input grids, function for output grids) of one augmenter."""
    if name == "translate":
        shifts = [int(v) for v in rng.integers(0, 4, size=4)]
        return partial(translate, shift=(shifts[0], shifts[1])), partial(translate, shift=(shifts[2], shifts[3]))
    fn = DIHEDRAL[name].forward if name in DIHEDRAL else TRAINING_ONLY[name]
    return fn, fn


def _augmented(base: Base, name: str, rng: np.random.Generator) -> PseudoTask:
    """`base` through one augmenter (GridError when a grid leaves 1..30 x 1..30)."""
    if name == "identity":
        return PseudoTask(base.demos, base.query.input, base.query.output, f"{base.name}|identity")
    f_in, f_out = _grid_fns(name, rng)

    def t(g: Grid, f: ArrayFn) -> Grid:
        return Grid.from_array(f(g.to_array()), f"{name}(grid)")

    demos = tuple(Pair(t(p.input, f_in), t(p.output, f_out)) for p in base.demos)
    return PseudoTask(demos, t(base.query.input, f_in), t(base.query.output, f_out), f"{base.name}|{name}")


def _permuted_copy(pt: PseudoTask, rng: np.random.Generator, colours: bool, shuffle: bool) -> PseudoTask:
    """Colours permuted (unused colours first, 0 fixed) and demonstrations shuffled."""
    parts = [pt.name]
    cmap = ColourMap.identity()
    if colours:
        cmap = ColourMap.prefer_unused(rng, set().union(*(itertools.chain.from_iterable(g.rows) for g in pt.grids())))
        parts.append(cmap.name)

    def c(g: Grid) -> Grid:
        return Grid.from_array(cmap.apply_array(g.to_array()), "colours(grid)")

    demos = [Pair(c(p.input), c(p.output)) for p in pt.demos]
    if shuffle and len(demos) > 1:
        order = [int(i) for i in rng.permutation(len(demos))]
        demos = [demos[i] for i in order]
        parts.append("order:" + ",".join(map(str, order)))
    assert pt.query_output is not None
    return PseudoTask(tuple(demos), c(pt.query_input), c(pt.query_output), "+".join(parts))


def augmented_set(bases: Sequence[Base], cfg: DataConfig, rng: np.random.Generator,
                  stats: dict[str, int]) -> list[PseudoTask]:
    """Every base x (identity + MARC_AUGMENTERS), then one permuted copy of each; deduplicated."""
    seen: dict[tuple, None] = {}
    plain: list[PseudoTask] = []

    def add(pt: PseudoTask, into: list[PseudoTask]) -> None:
        key = (len(pt.demos), pt.grids())
        if key in seen:
            stats["n_duplicates"] += 1
            return
        seen[key] = None
        into.append(pt)

    for base in bases:
        for name in ("identity", *MARC_AUGMENTERS):
            stats["n_candidates"] += 1
            try:
                add(_augmented(base, name, rng), plain)
            except GridError:
                stats["n_too_large"] += 1
    copies: list[PseudoTask] = []
    if cfg.permute_colours or cfg.shuffle_demos:
        for pt in plain:
            stats["n_candidates"] += 1
            add(_permuted_copy(pt, rng, cfg.permute_colours, cfg.shuffle_demos), copies)
    return plain + copies


def _take(pool: Iterable[PseudoTask], n: int, cfg: DataConfig, length_fn: Callable[[PseudoTask], int] | None,
          stats: dict[str, int]) -> list[PseudoTask]:
    """The first `n` pseudo-tasks of `pool` within the token limit."""
    out: list[PseudoTask] = []
    for pt in pool:
        if len(out) >= n:
            break
        if length_fn is not None and length_fn(pt) > cfg.max_tokens:
            stats["n_too_long"] += 1
            continue
        out.append(pt)
    return out


def build_marc_data(task: Task, cfg: DataConfig, length_fn: Callable[[PseudoTask], int] | None = None) -> TTTData:
    """Recipe "marc" (see the module docstring)."""
    cfg = dataclasses.replace(cfg, permute_colours=permutes_colours(task, cfg))  # "auto" decided per task
    rng = np.random.default_rng(task_seed(cfg.seed, task.id + "/marc"))
    stats = {"n_candidates": 0, "n_too_large": 0, "n_too_long": 0, "n_duplicates": 0}
    loo = augmented_set(leave_one_out(task.train), cfg, rng, stats)
    if len(loo) > cfg.max_examples:
        loo = [loo[int(i)] for i in rng.permutation(len(loo))]
    kept = _take(loo, cfg.max_examples, cfg, length_fn, stats)
    if len(kept) < cfg.max_examples and cfg.leave_two_out:
        lto = augmented_set(leave_two_out(task.train, allow_empty=True), cfg, rng, stats)
        lto = [lto[int(i)] for i in rng.permutation(len(lto))]
        kept += _take(lto, cfg.max_examples - len(kept), cfg, length_fn, stats)
    return TTTData(task.id, tuple(kept), **stats)
