"""Invertible grid transforms, each defined beside its exact inverse, in one table.

- `DIHEDRAL`: the 8 symmetries of the square, by stable name (used in logs and vote tables).
- `ColourMap`: a permutation of the 10 colours (optionally keeping 0 fixed) and its inverse.
- `Augmentation`: dihedral x colour map x demonstration order, applied consistently to every grid
  of a task (`augment_task`) or of a single grid (`apply` / `invert`).
- `TRAINING_ONLY`: non-invertible transforms (mirror-concatenation, upscaling, dihedral-then-upscale,
  tiling) and `translate` for making *training* data only; they have no inverse and are kept out of
  every table an inverse is looked up in.

All functions are pure; randomness comes only from an explicit `np.random.Generator`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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

    @classmethod
    def prefer_unused(cls, rng: np.random.Generator, used: Iterable[int]) -> ColourMap:
        """0 fixed; the used colours 1..9 (in random order) go to random unused colours while any are
        left, then to the used ones (the preference of marc's PermuteColors); a bijection on 1..9."""
        used_sorted = sorted({int(c) for c in used} - {0})
        free = [c for c in range(1, 10) if c not in used_sorted]
        sources = [used_sorted[i] for i in rng.permutation(len(used_sorted))] + \
                  [free[i] for i in rng.permutation(len(free))]
        targets = [free[i] for i in rng.permutation(len(free))] + \
                  [used_sorted[i] for i in rng.permutation(len(used_sorted))]
        perm = list(range(10))
        for src, dst in zip(sources, targets):
            perm[src] = dst
        return cls(tuple(perm))

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
# (Grid.from_array raises GridError for them). Never offered where an inverse is needed. Every entry
# changes the grid's size. The set follows the TTT paper's released augmenters (ekinakyurek/marc,
# arclib/augmenters.py and ttt/preprocess.py get_augmenters): mirror-concatenations, size doubling,
# dihedral-then-upscale chains and tilings.
def upscale2(a: np.ndarray) -> np.ndarray:
    """Every cell becomes a 2x2 block (marc IncreaseResolution(2))."""
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


def height2(a: np.ndarray) -> np.ndarray:
    """Every row repeated twice (marc IncreaseHeight(2))."""
    return np.repeat(a, 2, axis=0)


def width2(a: np.ndarray) -> np.ndarray:
    """Every column repeated twice (marc IncreaseWidth(2))."""
    return np.repeat(a, 2, axis=1)


def reflect_down(a: np.ndarray) -> np.ndarray:
    """The grid with its upside-down mirror below it (marc Reflect(0, reverse=False))."""
    return np.concatenate((a, np.flipud(a)), axis=0)


def reflect_up(a: np.ndarray) -> np.ndarray:
    """The grid with its upside-down mirror above it (marc Reflect(0, reverse=True))."""
    return np.concatenate((np.flipud(a), a), axis=0)


def reflect_right(a: np.ndarray) -> np.ndarray:
    """The grid with its left-right mirror to its right (marc Reflect(1, reverse=False))."""
    return np.concatenate((a, np.fliplr(a)), axis=1)


def reflect_left(a: np.ndarray) -> np.ndarray:
    """The grid with its left-right mirror to its left (marc Reflect(1, reverse=True))."""
    return np.concatenate((np.fliplr(a), a), axis=1)


def tile_v2(a: np.ndarray) -> np.ndarray:
    """Two copies stacked vertically (marc Repeat(0, 2))."""
    return np.tile(a, (2, 1))


def tile_h2(a: np.ndarray) -> np.ndarray:
    """Two copies side by side (marc Repeat(1, 2))."""
    return np.tile(a, (1, 2))


def tile_2x2(a: np.ndarray) -> np.ndarray:
    """A 2x2 tiling (marc Repeat(2, 2))."""
    return np.tile(a, (2, 2))


def _then_upscale2(name: str) -> ArrayFn:
    forward = DIHEDRAL[name].forward

    def chained(a: np.ndarray) -> np.ndarray:
        return upscale2(forward(a))

    chained.__doc__ = f"{name}, then every cell a 2x2 block (marc Chain([..., IncreaseResolution(2)]))."
    return chained


TRAINING_ONLY: dict[str, ArrayFn] = {
    "upscale2": upscale2,
    "height2": height2,
    "width2": width2,
    "reflect_down": reflect_down,
    "reflect_up": reflect_up,
    "reflect_right": reflect_right,
    "reflect_left": reflect_left,
    "tile_v2": tile_v2,
    "tile_h2": tile_h2,
    "tile_2x2": tile_2x2,
    **{f"{d}_upscale2": _then_upscale2(d) for d in ("rot90", "rot270", "rot180", "flipud", "fliplr", "transpose")},
}


def translate(a: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """A cyclic shift by (rows, cols), each taken modulo min(4, side) (marc RandomTranslateXY, whose
    shifts are drawn in [0, min(4, side))). Training data only: marc draws different shifts for inputs
    and outputs, so it makes a new rule rather than a symmetry, and it has no inverse in any table."""
    dy, dx = shift
    return np.roll(a, (dy % min(4, a.shape[0]), dx % min(4, a.shape[1])), axis=(0, 1))


def apply_training_only(name: str, grid: Grid) -> Grid:
    try:
        fn = TRAINING_ONLY[name]
    except KeyError:
        raise ValueError(f"unknown training-only transform {name!r}; known: {', '.join(TRAINING_ONLY)}") from None
    return Grid.from_array(fn(grid.to_array()), f"{name}(grid)")
