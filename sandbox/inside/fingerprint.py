"""What a fast-mode program could leave behind for the next program in its worker.

A fast-mode worker runs up to `fast_reuse` programs in one process (sandbox/inside/zygote.py).
After each one it takes this snapshot again and retires itself when anything differs from the
snapshot taken before its first program. Covered, so that an ordinary (even accidental) program
cannot change what a later one computes:
  - the module dicts of every pre-imported module the config names (numpy, the standard library
    modules, each scipy tier module), builtins and numpy's public submodules, by identity of each
    value (a patched `scipy.ndimage.label` or `np.flipud`);
  - `sys.modules` (names and modules), `sys.meta_path`, `sys.path`, trace and profile hooks, the
    recursion limit, the std streams and hooks, gc callbacks, signal handlers, the real-time
    itimer, `os.environ`;
  - numpy's floating-point error state (`np.seterr`), error callback, buffer size and print
    options; the `warnings` filters (`simplefilter("error")`); the `decimal` context;
  - the prelude's modules by value: lists, dicts, sets, tuples, arrays and scalars they hold,
    the defaults of their functions and the data attributes of their classes (an in-place
    mutation of a list in `common`).
Objects are compared by identity (`operator.is_`, with references kept so no address is reused)
and values are snapshots built from exact builtin types only, so the comparison never calls a
method a program could have defined. With the default modules and every scipy tier it costs
~0.25 ms a program on a 2-core CPU (the id tuples it replaced cost ~0.7 ms).

Not covered (nothing in-process can be): audit hooks (`sys.addaudithook` cannot be listed or
removed), `__code__` swaps and other in-place changes to functions and C types, state inside C
extensions. The sandbox runs every fast-mode failure that follows another program in the same
worker again in a fresh process (sandbox/runner.py), so such state can turn a later program's
result into a failure only in the pre-filter, never in a result that counts; it could still turn
a correct program's grid into another valid grid there (sandbox/__init__.py says so).
"""
from __future__ import annotations

import gc
import operator
import os
import signal
import sys
import types

import numpy as np

_SCALARS = frozenset({int, float, complex, str, bytes, bool, type(None)})
_NUMPY_PUBLIC = ("numpy.linalg", "numpy.random", "numpy.fft", "numpy.ma", "numpy.lib", "numpy.polynomial")
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)
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


def _same_values(before: tuple, d: dict) -> bool:
    """`d` holds the very objects of `before`, in order (a replaced, added or removed entry shows)."""
    return len(before) == len(d) and all(map(operator.is_, before, d.values()))


def _same_keys(before: tuple, d: dict) -> bool:
    """`d`'s keys are the very key objects of `before`, in order (a renamed entry shows)."""
    return len(before) == len(d) and all(map(operator.is_, before, d))


class Watch:
    """Takes the baseline when the worker starts; `unchanged()` after each program compares."""

    def __init__(self, module_names: list[str], prelude_names: list[str]) -> None:
        names = ["builtins", *module_names, *_NUMPY_PUBLIC]
        self.modules = tuple(sys.modules[n] for n in dict.fromkeys(names) if n in sys.modules)
        self.prelude = frozenset(prelude_names)
        self.prelude_order = tuple(sorted(self.prelude))
        # References, not ids: no object seen here can be freed (and its address reused) meanwhile.
        self.module_values = tuple(tuple(vars(m).values()) for m in self.modules)
        self.loaded, self.loaded_names = tuple(sys.modules.values()), tuple(sys.modules)
        self.kept = [dict(vars(sys.modules[n])) for n in self.prelude_order if n in sys.modules]
        self.kept_hooks = self._hooks()  # the objects whose ids `_state` compares
        self.state = self._state()

    @staticmethod
    def _hooks() -> tuple:
        """The hook and stream objects in force (compared by id, so the baseline keeps them alive)."""
        warnings = sys.modules.get("warnings")
        return (np.geterrcall(), *sys.meta_path, None, sys.gettrace(), sys.getprofile(), *gc.callbacks, None,
                *map(signal.getsignal, _SIGNALS), sys.stdin, sys.stdout, sys.stderr, sys.excepthook,
                sys.displayhook, warnings.showwarning if warnings else None)

    def _state(self) -> tuple:
        """Everything compared by value (built from exact builtin types and ids of kept objects)."""
        numpy_state = (tuple(sorted(np.geterr().items())), np.getbufsize(), repr(np.get_printoptions()))
        warnings = sys.modules.get("warnings")
        decimal = sys.modules.get("decimal")
        process = (tuple(map(id, self._hooks())), tuple(sys.path), sys.getrecursionlimit(),
                   signal.getitimer(signal.ITIMER_REAL), tuple(os.environ.items()))
        filters = (repr(warnings.filters), warnings.defaultaction) if warnings else None
        context = repr(decimal.getcontext()) if decimal else None
        prelude = tuple(_value(_globals(sys.modules[n]), self.prelude) if n in sys.modules else None
                        for n in self.prelude_order)
        return numpy_state, process, filters, context, prelude

    def unchanged(self) -> bool:
        """Whether the process is as the baseline saw it (the caller first removes the finished
        program's own module, `__program__`, from sys.modules)."""
        return (_same_values(self.loaded, sys.modules) and _same_keys(self.loaded_names, sys.modules)
                and self._state() == self.state
                and all(_same_values(b, vars(m)) for b, m in zip(self.module_values, self.modules)))
