"""Invertible grid transforms, each defined beside its exact inverse, in one table.

- `DIHEDRAL`: the 8 symmetries of the square, by stable name (used in logs and vote tables).
- `ColourMap`: a permutation of the 10 colours (optionally keeping 0 fixed) and its inverse.
- `Augmentation`: dihedral x colour map x demonstration order, applied consistently to every grid
  of a task (`augment_task`) or of a single grid (`apply` / `invert`).
- `TRAINING_ONLY`: non-invertible transforms (upscaling, tiling) for making *training* data only;
  they have no inverse and are kept out of every table an inverse is looked up in.

All functions are pure; randomness comes only from an explicit `np.random.Generator`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from arc_core.grid import Grid
from arc_core.task import Pair, Task

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Dihedral:
    """A symmetry of the square with its inverse, by name."""

    name: str
    forward: ArrayFn
    inverse_name: str


def _antitranspose(a: np.ndarray) -> np.ndarray:
    return np.rot90(a, 2).T


# name -> (forward, name of its inverse). The table is the single source of truth.
DIHEDRAL: dict[str, Dihedral] = {
    d.name: d
    for d in (
        Dihedral("identity", lambda a: a, "identity"),
        Dihedral("rot90", lambda a: np.rot90(a, 1), "rot270"),
        Dihedral("rot180", lambda a: np.rot90(a, 2), "rot180"),
        Dihedral("rot270", lambda a: np.rot90(a, 3), "rot90"),
        Dihedral("flipud", np.flipud, "flipud"),
        Dihedral("fliplr", np.fliplr, "fliplr"),
        Dihedral("transpose", lambda a: a.T, "transpose"),
        Dihedral("antitranspose", _antitranspose, "antitranspose"),
    )
}

# The transforms used for augmented inference in the TTT paper (identity + 5).
PAPER_INFERENCE_TRANSFORMS: tuple[str, ...] = ("identity", "transpose", "flipud", "fliplr", "rot90", "rot180")


def dihedral(name: str) -> Dihedral:
    try:
        return DIHEDRAL[name]
    except KeyError:
        raise ValueError(f"unknown dihedral transform {name!r}; known: {', '.join(DIHEDRAL)}") from None


def apply_dihedral(name: str, grid: Grid) -> Grid:
    return Grid.from_array(dihedral(name).forward(grid.to_array()), f"{name}(grid)")


def invert_dihedral(name: str, grid: Grid) -> Grid:
    return apply_dihedral(dihedral(name).inverse_name, grid)


@dataclass(frozen=True)
class ColourMap:
    """A permutation of colours 0..9: colour c becomes perm[c]."""

    perm: tuple[int, ...]

    def __post_init__(self) -> None:
        if sorted(self.perm) != list(range(10)):
            raise ValueError(f"colour map {self.perm} is not a permutation of 0..9")

    @classmethod
    def identity(cls) -> ColourMap:
        return cls(tuple(range(10)))

    @classmethod
    def random(cls, rng: np.random.Generator, keep_zero: bool = True) -> ColourMap:
        """A uniformly random permutation (of 1..9 only when keep_zero)."""
        if keep_zero:
            return cls((0, *(int(c) for c in rng.permutation(np.arange(1, 10)))))
        return cls(tuple(int(c) for c in rng.permutation(10)))

    def inverse(self) -> ColourMap:
        inv = [0] * 10
        for src, dst in enumerate(self.perm):
            inv[dst] = src
        return ColourMap(tuple(inv))

    def is_identity(self) -> bool:
        return self.perm == tuple(range(10))

    def apply_array(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(self.perm, dtype=a.dtype)[a]

    @property
    def name(self) -> str:
        return "colours:" + "".join(map(str, self.perm))


@dataclass(frozen=True)
class Augmentation:
    """dihedral ∘ colour map, plus an optional demonstration order; invertible on grids.

    `apply` maps a grid into the augmented frame (colours first, then geometry); `invert` maps an
    answer produced in that frame back. `order` permutes demonstration pairs in `augment_task`.
    """

    dihedral: str = "identity"
    colours: ColourMap = ColourMap.identity()
    order: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        dihedral(self.dihedral)  # validates the name

    @property
    def name(self) -> str:
        parts = [self.dihedral]
        if not self.colours.is_identity():
            parts.append(self.colours.name)
        if self.order is not None:
            parts.append("order:" + ",".join(map(str, self.order)))
        return "+".join(parts)

    def apply(self, grid: Grid) -> Grid:
        a = self.colours.apply_array(grid.to_array())
        return Grid.from_array(DIHEDRAL[self.dihedral].forward(a), f"{self.name}(grid)")

    def invert(self, grid: Grid) -> Grid:
        a = DIHEDRAL[DIHEDRAL[self.dihedral].inverse_name].forward(grid.to_array())
        return Grid.from_array(self.colours.inverse().apply_array(a), f"inverse {self.name}(grid)")

    def apply_pairs(self, pairs: Sequence[Pair]) -> tuple[Pair, ...]:
        """Augment demonstration pairs: every grid the same way, then reorder."""
        out = [Pair(self.apply(p.input), self.apply(p.output)) for p in pairs]
        if self.order is not None:
            if sorted(self.order) != list(range(len(out))):
                raise ValueError(f"order {self.order} is not a permutation of {len(out)} pairs")
            out = [out[i] for i in self.order]
        return tuple(out)

    def invert_pairs(self, pairs: Sequence[Pair]) -> tuple[Pair, ...]:
        """Exact inverse of `apply_pairs`: restore the original order, then invert every grid."""
        pairs = list(pairs)
        if self.order is not None:
            if sorted(self.order) != list(range(len(pairs))):
                raise ValueError(f"order {self.order} is not a permutation of {len(pairs)} pairs")
            restored: list[Pair | None] = [None] * len(pairs)
            for new_pos, old_pos in enumerate(self.order):
                restored[old_pos] = pairs[new_pos]
            pairs = restored  # type: ignore[assignment]
        return tuple(Pair(self.invert(p.input), self.invert(p.output)) for p in pairs)


def augment_task(task: Task, aug: Augmentation) -> Task:
    """The task as seen through `aug`: all demonstrations and test inputs transformed alike."""
    return Task(task.id, aug.apply_pairs(task.train), tuple(aug.apply(g) for g in task.test_inputs))


# ---- non-invertible, training-data-only transforms ---------------------------------------------
# Applied to every grid of a pseudo-task alike; results over 30x30 must be dropped by the caller
# (Grid.from_array raises GridError for them). Never offered where an inverse is needed.
TRAINING_ONLY: dict[str, ArrayFn] = {
    "upscale2": lambda a: np.kron(a, np.ones((2, 2), dtype=a.dtype)),
    "tile_h2": lambda a: np.tile(a, (1, 2)),
    "tile_v2": lambda a: np.tile(a, (2, 1)),
    "tile_2x2": lambda a: np.tile(a, (2, 2)),
}


def apply_training_only(name: str, grid: Grid) -> Grid:
    try:
        fn = TRAINING_ONLY[name]
    except KeyError:
        raise ValueError(f"unknown training-only transform {name!r}; known: {', '.join(TRAINING_ONLY)}") from None
    return Grid.from_array(fn(grid.to_array()), f"{name}(grid)")
