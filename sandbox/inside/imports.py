"""Pre-import whole package trees in the zygote, so children need no file access to import.

A confined child can open no file at all (seccomp denies every path-based open; see
sandbox/seccomp_policy.py), so every module a program may import must already be in `sys.modules`
when the zygote forks. Packages import many submodules lazily (`np.unique(grid)` imports
`numpy.ma`; `scipy.ndimage` imports `scipy.special` parts on first use), so importing the top
package is not enough: `preimport` walks each requested package's directory tree and imports
every submodule, except test suites, build tooling and command-line tools (`SKIP_PARTS`), which
no `transform(grid)` needs and which would pull in pytest, unittest or distutils.

What a program may import is then exactly `sys.modules` at fork time (plus the prelude's own
modules, sandbox/inside/prelude.py); `ImportGuard` turns anything else into a clear
ModuleNotFoundError. The walk is deterministic (sorted listings). It lists only the directories of
installed packages, never the prelude's.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time

# Last dotted component of submodules never imported by the walk.
SKIP_PARTS = frozenset({
    "tests", "testing", "conftest", "setup", "__main__", "f2py", "distutils", "_distutils",
    "_pyinstaller", "_examples", "benchmarks", "mypy_plugin", "_pytesttester", "_configtool",
    "matlib", "_simd", "cversions", "_precompute", "_generate_pyx", "_build_utils", "idlelib",
})


def _skipped(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last in SKIP_PARTS or last.startswith("test") or last.endswith(("_tests", "_test"))


def walk(name: str, failed: list[str]) -> None:
    """Import `name` and, if it is a package, every submodule beneath it (sorted, depth first).

    A submodule that fails to import (an optional dependency missing) is noted in `failed` and
    skipped: plain Python would fail the same way when a program imports it.
    """
    try:
        mod = importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - optional parts of a tree; the top module is checked by the caller
        failed.append(f"{name}: {type(e).__name__}: {e}")
        return
    paths = getattr(mod, "__path__", None)
    if not paths:
        return
    for info in sorted(pkgutil.iter_modules(list(paths)), key=lambda m: m.name):
        sub = f"{name}.{info.name}"
        if not _skipped(sub):
            walk(sub, failed)


def preimport(names: list[str]) -> list[str]:
    """Import every tree in `names`; returns the failures of optional parts.

    Raises ImportError when a requested module itself cannot be imported (a configuration error).
    """
    failed: list[str] = []
    for name in names:
        importlib.import_module(name)  # a missing requested module is a clear start error
        walk(name, failed)
    _warm_up()
    sys.path_importer_cache.clear()  # no cached directory listings for a restored PathFinder
    return failed


def _warm_up() -> None:
    """Run common calls once so their one-time state (caches, libc time zone) is inherited."""
    time.localtime()  # glibc reads the time zone file once; children could not open it
    np = sys.modules.get("numpy")
    if np is not None:
        a = np.arange(12).reshape(3, 4) % 10
        np.flipud(a), np.rot90(a), np.unique(a), np.unique(a, return_counts=True), np.isin(a, [1, 2])
        np.argwhere(a), np.pad(a, 1), np.pad(a, 1, mode="edge"), np.array2string(a), repr(a), str(a)
        np.random.seed(0), np.random.randint(0, 9, (2, 2)), np.random.default_rng(0).integers(0, 9, 3)
    ndimage = sys.modules.get("scipy.ndimage")
    if ndimage is not None:
        b = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1]])
        lab, _ = ndimage.label(b)
        ndimage.find_objects(lab), ndimage.binary_fill_holes(b), ndimage.binary_dilation(b)
        ndimage.center_of_mass(b), ndimage.sum_labels(b, lab, [1, 2])
