"""The TTT data recipes by name (`data.recipe`): "dihedral" (transduction.data) and "marc" (the
released TTT paper code's data, transduction.marc_data). Both build on transduction.data; this
registry sits above them so neither imports the other's caller.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable

from arc_core.task import Task
from transduction.config import DataConfig
from transduction.data import TTTData, build_dihedral_data
from transduction.formats import PseudoTask
from transduction.marc_data import build_marc_data

LengthFn = Callable[[PseudoTask], int]
RECIPES: dict[str, Callable[[Task, DataConfig, LengthFn | None], TTTData]] = {
    "dihedral": build_dihedral_data,
    "marc": build_marc_data,
}


def build_ttt_data(task: Task, cfg: DataConfig, length_fn: LengthFn | None = None) -> TTTData:
    """The TTT pseudo-tasks of `task` by the recipe `cfg.recipe`. `length_fn` counts tokens."""
    if cfg.recipe not in RECIPES:
        close = difflib.get_close_matches(cfg.recipe, list(RECIPES), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(RECIPES)}"
        raise ValueError(f"unknown data.recipe {cfg.recipe!r} ({hint})")
    return RECIPES[cfg.recipe](task, cfg, length_fn)
