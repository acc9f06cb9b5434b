"""The prelude as an input: its files, found from its import statements, read by the orchestrator.

A prelude is a helper library programs import as `common` (BARC's `from common import *`). It may
span several files: `common.py` doing `from dsl import *`, a package next to it, relative imports
inside that package. `collect` finds them the way Python would, but by name only: for each
module name the prelude's files refer to (import statements, and strings that are exactly a
dotted name, for `importlib.import_module("dsl")`), it checks `<dir>/name.py` and
`<dir>/name/__init__.py` (and `<dir>/pkg/sub.py` for submodules of a prelude package). It never
lists a directory. Names that are no file there are left to the sandbox's pre-imported modules
(where, like a program, the prelude finds numpy, scipy in a scipy lane, the standard library).

The files' texts go to the zygote in its init message (sandbox/inside/prelude.py serves them from
memory), and every one of them is scanned for lanes (sandbox/lanes.py), so a helper module that
imports scipy lazily still routes every program to a lane with scipy.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from dataclasses import dataclass

from . import lanes

MAX_FILES = 256
MAX_BYTES = 8 << 20


@dataclass(frozen=True)
class PreludeModule:
    name: str      # module name in the sandbox: "common" for the main file
    path: str      # the file it was read from (shown in tracebacks)
    source: str
    package: bool  # an `__init__.py`: its submodules may be prelude files too


def check_path(path: str) -> str:
    """The prelude's real path; ValueError with a clear reason when it is not a readable file."""
    if os.path.isdir(path):
        raise ValueError(f"prelude {path!r} is a directory; expected a Python file (e.g. common.py)")
    if not os.path.isfile(path):
        raise ValueError(f"prelude {path!r}: no such file")
    return os.path.realpath(path)


def _read(path: str, name: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ValueError(f"prelude module {name} ({path}): cannot be read: {e.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"prelude module {name} ({path}): larger than {MAX_BYTES >> 20} MiB")
    if b"\0" in data:
        raise ValueError(f"prelude module {name} ({path}): contains a NUL byte; not Python source")
    try:
        return importlib.util.decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError) as e:
        raise ValueError(f"prelude module {name} ({path}): not Python source text ({e})") from None


def _referenced(tree: ast.AST, name: str, package: bool) -> set[str]:
    """Absolute dotted names the module `name` refers to (imports and dotted-name strings)."""
    out: set[str] = set()
    here = name if package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".") if here else []
                if node.level - 1 > len(parts) or not here:
                    continue  # beyond the top: Python raises ImportError there too
                base = ".".join(parts[:len(parts) - (node.level - 1)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module:
                out.add(module)
                out.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and lanes.is_dotted_name(node.value):
            out.add(node.value)
    return out


def _locate(root: str, dotted: str) -> tuple[str, bool] | None:
    base = os.path.join(root, *dotted.split("."))
    if os.path.isfile(base + ".py"):
        return base + ".py", False
    init = os.path.join(base, "__init__.py")
    if os.path.isfile(init):
        return init, True
    return None


def collect(path: str) -> tuple[PreludeModule, ...]:
    """The prelude file (as `common`) and every sibling module its files import, found by name.

    Raises ValueError naming the file when one cannot be read or the limits are exceeded.
    """
    real = check_path(path)
    root = os.path.dirname(real)
    found = {"common": PreludeModule("common", real, _read(real, "common"), False)}
    todo = ["common"]
    total = len(found["common"].source)
    while todo:
        mod = found[todo.pop()]
        try:
            tree = ast.parse(mod.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # the zygote reports the error when it runs the file
        for ref in sorted(_referenced(tree, mod.name, mod.package)):
            parts = ref.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name in found:
                    if not found[name].package:
                        break  # a plain module has no submodules
                    continue
                located = _locate(root, name)
                if located is None:
                    break  # not a prelude file: a pre-imported module, or an attribute
                if len(found) >= MAX_FILES:
                    raise ValueError(f"prelude {real}: imports more than {MAX_FILES} files of its own")
                found[name] = PreludeModule(name, located[0], _read(located[0], name), located[1])
                total += len(found[name].source)
                if total > MAX_BYTES:
                    raise ValueError(f"prelude {real}: its files hold more than {MAX_BYTES >> 20} MiB")
                todo.append(name)
    return tuple(found.values())


def lane_needs(modules: tuple[PreludeModule, ...], tiers: tuple[tuple[str, ...], ...]) -> set[str] | None:
    """Tier packages any prelude file names (None when one cannot be resolved)."""
    needed: set[str] = set()
    for m in modules:
        own = lanes.needs(m.source, tiers)
        if own is None:
            return None
        needed |= own
    return needed
