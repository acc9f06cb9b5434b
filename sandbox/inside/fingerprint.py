"""What a fast-mode program could leave behind for the next program in its worker.

A fast-mode worker runs up to `fast_reuse` programs in one process (sandbox/inside/zygote.py).
After each one it takes this snapshot again and retires itself when anything differs from the
snapshot taken before its first program. Covered, so that an ordinary (even accidental) program
cannot change what a later one computes:
  - the module dicts of every pre-imported package the config names (numpy, the stdlib modules,
    each scipy tier module), builtins and numpy's public submodules, by identity of each value
    (a patched `scipy.ndimage.label` or `np.flipud`);
  - `sys.modules`, `sys.meta_path`, `sys.path`, trace and profile hooks, the recursion limit, the
    std streams and hooks, gc callbacks, signal handlers, the real-time itimer, `os.environ`;
  - numpy's floating-point error state (`np.seterr`), error callback, buffer size and print
    options; the `warnings` filters (`simplefilter("error")`); the `decimal` context;
  - the prelude's modules by value: lists, dicts, sets, tuples, arrays and scalars they hold,
    the defaults of their functions and the data attributes of their classes (an in-place
    mutation of a list in `common`).
Every part is built from exact builtin types only (ints, strings, tuples; ids of objects), so
comparing two snapshots never calls a method a program could have defined.

Not covered (nothing in-process can be): audit hooks (`sys.addaudithook` cannot be listed or
removed), `__code__` swaps and other in-place changes to functions and C types, state inside C
extensions. The sandbox runs every fast-mode failure that follows another program in the same
worker again in a fresh process (sandbox/runner.py), so such state can turn a later program's
result into a failure only in the pre-filter, never in a result that counts; it could still turn
a correct program's grid into another valid grid there (sandbox/__init__.py says so).
"""
from __future__ import annotations

import gc
import os
import signal
import sys
import types

import numpy as np

_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_NUMPY_PUBLIC = ("numpy.linalg", "numpy.random", "numpy.fft", "numpy.ma", "numpy.lib", "numpy.polynomial")
_MAX_ITEMS = 10_000
_MAX_ARRAY_BYTES = 1 << 16
_MAX_DEPTH = 6


def _value(x: object, owners: frozenset[str], depth: int = 0) -> object:
    """A comparable snapshot of `x` made of exact builtin types (ids where a value cannot be taken).

    Classes and functions defined in a module of `owners` (the prelude's) are taken by value too.
    """
    t = type(x)
    if t in _SCALARS:
        return x
    if depth >= _MAX_DEPTH:
        return ("id", id(x))
    if t is list or t is tuple:
        return (t.__name__, len(x), tuple(_value(v, owners, depth + 1) for v in x[:_MAX_ITEMS]))
    if t is dict:
        return ("dict", len(x), tuple((_value(k, owners, depth + 1), _value(v, owners, depth + 1))
                                      for k, v in list(x.items())[:_MAX_ITEMS]))
    if (t is set or t is frozenset) and len(x) <= _MAX_ITEMS and all(type(v) in _SCALARS for v in x):
        return (t.__name__, tuple(sorted(repr(v) for v in x)))
    if t is np.ndarray:
        data = x.tobytes() if x.nbytes <= _MAX_ARRAY_BYTES and x.dtype.kind in "biufcUS" else id(x)
        return ("ndarray", x.shape, x.dtype.str, data)
    if t is types.FunctionType and x.__module__ in owners:
        return ("function", id(x), id(x.__code__), _value(x.__defaults__, owners, depth + 1),
                _value(x.__kwdefaults__, owners, depth + 1))
    if t is type and x.__module__ in owners:
        data = {k: v for k, v in list(vars(x).items()) if not (k.startswith("__") and k.endswith("__"))}
        return ("class", id(x), _value(data, owners, depth + 1))
    return ("id", id(x))


def _globals(module: types.ModuleType) -> dict:
    return {k: v for k, v in list(vars(module).items()) if not (k.startswith("__") and k.endswith("__"))}


def _identities(module: types.ModuleType | None) -> tuple:
    if module is None:
        return ()
    d = vars(module)
    return tuple(d), tuple(map(id, d.values()))


class Watch:
    """The modules to watch: fixed when the worker starts (names from the zygote's config)."""

    def __init__(self, module_names: list[str], prelude_names: list[str]) -> None:
        names = ["builtins", *module_names, *_NUMPY_PUBLIC]
        self.modules = tuple(sys.modules[n] for n in dict.fromkeys(names) if n in sys.modules)
        self.prelude = frozenset(prelude_names)
        self.prelude_order = tuple(sorted(self.prelude))

    def take(self, keep: bool = False) -> tuple:
        """The snapshot; with `keep` it holds references to what it saw (take the first one so,
        then no object it names can be freed and its id reused by a replacement)."""
        numpy_state = (tuple(sorted(np.geterr().items())), id(np.geterrcall()), np.getbufsize(),
                       repr(np.get_printoptions()))
        warnings = sys.modules.get("warnings")
        decimal = sys.modules.get("decimal")
        process = (tuple(map(id, sys.meta_path)), tuple(sys.path), id(sys.gettrace()), id(sys.getprofile()),
                   sys.getrecursionlimit(), tuple(map(id, gc.callbacks)),
                   tuple(id(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)),
                   signal.getitimer(signal.ITIMER_REAL),
                   tuple(map(id, (sys.stdin, sys.stdout, sys.stderr, sys.excepthook, sys.displayhook))),
                   tuple(os.environ.items()), tuple(k for k in sys.modules if k != "__program__"),
                   tuple(id(v) for k, v in sys.modules.items() if k != "__program__"))
        filters = (repr(warnings.filters), warnings.defaultaction, id(warnings.showwarning)) if warnings else None
        context = repr(decimal.getcontext()) if decimal else None
        prelude = tuple(_value(_globals(sys.modules[n]), self.prelude) if n in sys.modules else None
                        for n in self.prelude_order)
        values = (numpy_state, process, filters, context, prelude, tuple(map(_identities, self.modules)))
        if not keep:
            return values, None
        return values, (dict(sys.modules), [dict(vars(m)) for m in self.modules], list(sys.meta_path),
                        [dict(vars(sys.modules[n])) for n in self.prelude_order if n in sys.modules])


def same(before: tuple, after: tuple) -> bool:
    """Whether two snapshots are equal (only their builtin-typed parts are compared)."""
    return before[0] == after[0]


