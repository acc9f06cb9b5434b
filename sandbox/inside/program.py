"""Run one untrusted program on its grids inside an already-confined child, emitting records.

Nothing here is a security boundary (the program owns this process and can patch anything in
it); the kernel layers are. This module is about *clear, reproducible results*: references are
bound at import time so a program that monkeypatches builtins/numpy cannot fool its own output
check; outputs are accepted only as exact list/tuple (rows of list/tuple/1-D int arrays) or exact
int `np.ndarray`, 2-D, <= 30x30, values 0..9; any import of a module the zygote did not pre-import
fails with a clear ModuleNotFoundError (children cannot open or stat any file anyway).
The program runs as a real module `__program__` in sys.modules, as a file run by Python would
(dataclasses, typing and enum look their class's module up there).
"""
from __future__ import annotations

import builtins
import os
import random
import sys
import time
import types

import numpy as np

from . import wire

_type, _len, _range, _bytes, _str, _getattr, _issubclass = type, len, range, bytes, str, getattr, issubclass
_write = os.write
_np_ndarray, _np_array, _np_uint8 = np.ndarray, np.array, np.uint8
_INT_TYPES = frozenset({int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                        np.uint64, np.intc, np.uintc, np.longlong, np.ulonglong})
_SEQ_TYPES = frozenset({list, tuple})
_proc_time = time.process_time
_module_type = types.ModuleType


class BadOutput(Exception):
    """The transform's return value is not an acceptable grid."""


THREADS_REFUSED = ("threads are not allowed in the arc-hybrid sandbox: a program runs in one thread "
                   "(threading.Thread and options such as workers=-1 that start threads are refused)")


def _no_thread(*args, **kwargs):
    raise RuntimeError(THREADS_REFUSED)


def refuse_threads() -> None:
    """Make starting a thread fail with an error that names the sandbox's rule (the kernel
    refuses it anyway: no clone with CLONE_VM; this only makes the message clear)."""
    import _thread

    for name in ("start_new_thread", "start_new", "start_joinable_thread"):
        if hasattr(_thread, name):
            setattr(_thread, name, _no_thread)
    threading = sys.modules.get("threading")
    for name in ("_start_new_thread", "_start_joinable_thread"):
        if threading is not None and hasattr(threading, name):
            setattr(threading, name, _no_thread)


class ImportGuard:
    """Meta-path finder that refuses every module the zygote did not pre-import."""

    def __init__(self, allowed: list[str]) -> None:
        self.allowed = ", ".join(sorted(allowed))

    def find_spec(self, name, path=None, target=None):
        raise ModuleNotFoundError(
            f"module {name!r} is not available in the sandbox (programs can import: {self.allowed})",
            name=name)


def encode_output(out: object) -> bytes:
    """GRID record bytes for `out`, or raise BadOutput saying what is wrong."""
    t = _type(out)
    if t is _np_ndarray:
        if out.ndim != 2:
            raise BadOutput(f"array has {out.ndim} dimensions, expected 2")
        if out.dtype.kind not in "iu":
            raise BadOutput(f"array dtype is {out.dtype}, expected an integer type")
        h, w = out.shape
        if not (1 <= h <= 30 and 1 <= w <= 30):
            raise BadOutput(f"array shape {h}x{w} is outside 1..30 x 1..30")
        lo, hi = int(out.min()), int(out.max())
        if lo < 0 or hi > 9:
            raise BadOutput(f"cell value {lo if lo < 0 else hi} is outside 0..9")
        return wire.grid_record(h, w, out.astype(_np_uint8).tobytes())
    if t not in _SEQ_TYPES:
        raise BadOutput(f"expected a 2-D list/tuple or an int numpy array, got {t.__name__}")
    h = _len(out)
    if not 1 <= h <= 30:
        raise BadOutput(f"has {h} rows, expected 1..30")
    cells, w = bytearray(), -1
    for r in _range(h):
        row = out[r]
        rt = _type(row)
        if rt is _np_ndarray:
            if row.ndim != 1 or row.dtype.kind not in "iu" or not 1 <= row.shape[0] <= 30:
                raise BadOutput(f"row {r} is an array of shape {row.shape} dtype {row.dtype}")
            row = row.tolist()
        elif rt not in _SEQ_TYPES:
            raise BadOutput(f"row {r} is {rt.__name__}, expected a list")
        if w < 0:
            w = _len(row)
            if not 1 <= w <= 30:
                raise BadOutput(f"row 0 has {w} cells, expected 1..30")
        elif _len(row) != w:
            raise BadOutput(f"ragged: row {r} has {_len(row)} cells, row 0 has {w}")
        for c in _range(w):
            v = row[c]
            if _type(v) not in _INT_TYPES:
                raise BadOutput(f"cell [{r}][{c}] is {_type(v).__name__}, expected an int 0..9")
            if not 0 <= v <= 9:
                raise BadOutput(f"cell [{r}][{c}] is {int(v)}, outside 0..9")
            cells.append(int(v))
    return wire.grid_record(h, w, _bytes(cells))


def _describe(exc: BaseException) -> tuple[str, str]:
    """(class name, message) of an exception, surviving hostile __str__/__name__."""
    try:
        cls = _str(_type(exc).__name__)
    except BaseException:  # noqa: BLE001 - hostile metaclass; fall back to a fixed name
        cls = "UnnamedException"
    try:
        msg = _str(exc)
    except BaseException:  # noqa: BLE001 - hostile __str__
        msg = "<exception message could not be rendered>"
    if _issubclass(_type(exc), SyntaxError):
        msg = f"{_getattr(exc, 'msg', msg)} (line {_getattr(exc, 'lineno', '?')})"
    return cls, msg


def emit(fd: int, data: bytes) -> None:
    """Write all of `data` to the result pipe (a short write is retried; errors end the child)."""
    view = memoryview(data)
    while view:
        n = _write(fd, view)
        view = view[n:]


def run(fd: int, source: str, grids: list, seed: int) -> None:
    """Compile and define the program, then run `transform` on each grid, emitting one record each."""
    try:
        code = compile(source, "<program>", "exec")
    except BaseException as e:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), MemoryError...
        emit(fd, wire.progerr_record(wire.PROGERR_COMPILE, *_describe(e)))
        return
    # A real module in sys.modules, as when Python runs a file: dataclasses, typing and enum
    # look their class's module up there (with a bare dict, @dataclass raises AttributeError).
    module = _module_type("__program__")
    sys.modules["__program__"] = module
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    try:
        exec(code, namespace)  # noqa: S102 - this *is* the untrusted program, in its confined child
    except BaseException as e:  # noqa: BLE001 - recorded as data, including SystemExit at import
        emit(fd, wire.progerr_record(wire.PROGERR_DEFINE, *_describe(e)))
        return
    fn = namespace.get("transform")
    if not callable(fn):
        emit(fd, wire.progerr_record(wire.PROGERR_NO_TRANSFORM, "MissingTransform",
                                     "the program defines no callable `transform(grid)`"))
        return
    random.seed(seed)  # once per program: grids run in order, so each run is reproducible
    np.random.seed(seed % 2**32)
    for g in grids:
        try:
            out = fn(_np_array(g, dtype=np.int64))
        except BaseException as e:  # noqa: BLE001 - exception class and message become data
            emit(fd, wire.exc_record(*_describe(e)))
            continue
        try:
            record = encode_output(out)
        except BadOutput as e:
            record = wire.badout_record(_str(e))
        except BaseException as e:  # noqa: BLE001 - a hostile object broke the checker itself
            record = wire.badout_record(f"checking the output raised {_describe(e)[0]}")
        emit(fd, record)


def cpu_us() -> int:
    return int(_proc_time() * 1e6)
