"""`SandboxConfig`: the limits and layers of one sandbox, validated once at construction."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

# Packages every zygote imports, each with its whole package tree (sandbox/inside/imports.py),
# before forking. A child can open no file, so a program can import exactly these, what they
# pulled in, its lane's tier (below) and the prelude (as `common`); anything else is a clear
# per-program ModuleNotFoundError. numpy (every lazily imported part too, e.g. numpy.ma for
# np.unique; numpy.testing, which the package tree walk skips like every test suite, is named
# explicitly) and the computational standard library.
DEFAULT_MODULES = (
    "numpy", "numpy.testing",
    "abc", "array", "bisect", "cmath", "collections", "contextlib", "copy", "copyreg", "dataclasses",
    "datetime", "decimal", "difflib", "enum", "fractions", "functools", "graphlib", "hashlib", "heapq",
    "inspect", "io", "itertools", "json", "keyword", "math", "numbers", "operator", "pprint", "queue",
    "random", "re", "reprlib", "statistics", "string", "struct", "textwrap", "time", "traceback",
    "types", "typing", "unicodedata", "warnings", "weakref",
)
# Extra zygotes for programs that name these packages (sandbox/lanes.py): scipy.ndimage alone
# (BARC's helper library and most object-finding code), then the parts of scipy ARC code uses.
# Each costs fork time only for the programs that run in it.
DEFAULT_MODULE_TIERS = (
    ("scipy.ndimage",),
    ("scipy.ndimage", "scipy.signal", "scipy.spatial", "scipy.optimize", "scipy.sparse", "scipy.linalg",
     "scipy.special", "scipy.stats", "scipy.interpolate", "scipy.fft", "scipy.cluster", "scipy.constants",
     "scipy.integrate"),
)
_TRISTATE = ("auto", "on", "off")


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and isolation layers for running untrusted `transform(grid)` programs.

    timeout_s:   wall-clock limit per program, covering all its grids (SIGKILL at the deadline).
    memory_mb:   address space a child may add to the zygote's (RLIMIT_AS = zygote VmSize + this).
    concurrency: children in flight at once; 0 = number of CPU cores.
    prelude_path: optional Python file importable as `common` in programs, loaded in each zygote
                 after it confined itself, with the sibling modules its imports name
                 (sandbox/prelude.py); it may import what programs may import.
    bwrap:       "auto" uses bubblewrap when it works here, "on" requires it, "off" skips it.
    landlock:    "auto" uses Landlock when the kernel has it, "on" requires it, "off" skips it.
    empty_root:  the zygote's (and so every child's) filesystem view: "auto" chroots into an empty
                 directory where this process can (root, or a user namespace), "on" requires it,
                 "off" skips it (seccomp still denies every path syscall; sandbox/inside/jail.py).
    mode:        "fork" = one fresh child per program; "fast" = reused workers as a pre-filter
                 whose accepted results are re-run in fork mode (see `Sandbox.run`).
    seed:        base seed; each program gets random/np.random seeded from (seed, source).
    modules:     packages every zygote pre-imports with their whole trees (tests and tools
                 excepted); with what they import, the lane's tier and the prelude, the only
                 modules programs can import (children cannot open files).
    module_tiers: extra packages, one zygote per tier, started on first use; a program runs in
                 the first tier holding every tier package it (or the prelude) names, or in the
                 base zygote when it names none (see sandbox/lanes.py). () = one zygote.
    fast_reuse:  programs per fast-mode worker before it is replaced.
    watchdog_s:  replace a zygote that reports nothing for this long while work is pending
                 (None = timeout_s + 10).
    start_timeout_s: longest a zygote may take to start (imports, then loading the prelude);
                 past it, starting fails with a SandboxError that says which phase hung.
    """

    timeout_s: float = 2.0
    memory_mb: int = 1024
    concurrency: int = 0
    prelude_path: str | None = None
    bwrap: str = "auto"
    landlock: str = "auto"
    empty_root: str = "auto"
    mode: str = "fork"
    seed: int = 0
    modules: tuple[str, ...] = field(default=DEFAULT_MODULES)
    module_tiers: tuple[tuple[str, ...], ...] = field(default=DEFAULT_MODULE_TIERS)
    fast_reuse: int = 50
    watchdog_s: float | None = None
    start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not 0.05 <= self.timeout_s <= 3600:
            raise ValueError(f"timeout_s={self.timeout_s!r}: expected seconds in 0.05..3600")
        if not 16 <= self.memory_mb <= 1 << 20:
            raise ValueError(f"memory_mb={self.memory_mb!r}: expected 16..1048576 MiB")
        if not 0 <= self.concurrency <= 256:
            raise ValueError(f"concurrency={self.concurrency!r}: expected 0 (= cores) .. 256")
        for name in ("bwrap", "landlock", "empty_root"):
            if getattr(self, name) not in _TRISTATE:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected one of {_TRISTATE}")
        if self.mode not in ("fork", "fast"):
            raise ValueError(f"mode={self.mode!r}: expected 'fork' or 'fast'")
        if self.prelude_path is not None and os.path.isdir(self.prelude_path):
            raise ValueError(f"prelude_path={self.prelude_path!r} is a directory; expected a Python file "
                             "(e.g. common.py)")
        if self.prelude_path is not None and not os.path.isfile(self.prelude_path):
            raise ValueError(f"prelude_path={self.prelude_path!r}: no such file")
        if not _dotted_names(self.modules):
            raise ValueError(f"modules={self.modules!r}: expected a tuple of dotted module names")
        if not isinstance(self.module_tiers, tuple) or not all(
                _dotted_names(t) and t for t in self.module_tiers):
            raise ValueError(f"module_tiers={self.module_tiers!r}: expected a tuple of non-empty tuples of "
                             "dotted module names")
        if not 1 <= self.fast_reuse <= 10_000:
            raise ValueError(f"fast_reuse={self.fast_reuse!r}: expected 1..10000")
        if not 1.0 <= self.start_timeout_s <= 3600:
            raise ValueError(f"start_timeout_s={self.start_timeout_s!r}: expected seconds in 1..3600")
        if self.watchdog_s is not None and not 0.5 <= self.watchdog_s <= 86_400:
            raise ValueError(f"watchdog_s={self.watchdog_s!r}: expected None or 0.5..86400 seconds")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed={self.seed!r}: expected an int")

    @property
    def workers(self) -> int:
        return self.concurrency or os.cpu_count() or 1

    @property
    def cpu_limit_s(self) -> int:
        """RLIMIT_CPU backstop per child (whole seconds, soft == hard, so the kernel SIGKILLs)."""
        return int(self.timeout_s) + 2

    @property
    def watchdog(self) -> float:
        return self.watchdog_s if self.watchdog_s is not None else self.timeout_s + 10.0


def _dotted_names(names: object) -> bool:
    return isinstance(names, tuple) and all(
        isinstance(m, str) and all(p.isidentifier() for p in m.split(".")) for m in names)
