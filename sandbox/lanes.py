"""Which zygote ("lane") a program runs in: the lean one, or one that also pre-imports heavy packages.

Forking costs about linearly in the zygote's private memory (page tables are copied, then torn
down). numpy and the standard library add ~3 MiB; scipy.ndimage ~12 MiB more; the rest of scipy
~45 MiB more. So every program pays only for what it can use: `SandboxConfig.modules` are in
every lane, and each tier of `SandboxConfig.module_tiers` is an extra lane with more packages.
A program (together with every file of the prelude) runs in lane 0 when it names no tier
package, else in the first tier that has every tier package it names.

Names are read from the syntax tree (`ast`), so multi-line `from pkg import (a,\\n b)`,
backslash continuations, comments and strings are handled like Python handles them:
  - `import pkg.sub [as x]`, `from pkg.sub import ...`, `from pkg import sub, ...` name `pkg.sub`;
  - a bare `import pkg` names `pkg` itself (any lane holding part of pkg offers it), and each
    `pkg.sub` attribute read on a name bound to pkg (also through an alias: `import pkg as p`;
    `p.sub.f`) names `pkg.sub`;
  - a string that is exactly a dotted name under pkg (`sys.modules["pkg.sub"]`,
    `__import__("pkg.sub")`) names it.
The need is unknown, and the last (largest) tier is picked, when a name bound to the bare package
is used other than by attribute (`getattr(pkg, x)`, passed to a function), `from pkg import *`,
`__import__`/`import_module` with a computed name or of the bare package (its result is used
dynamically), or the text does not parse. Linear in the size of the text: a substring test first
(most programs name neither a tier package nor an import function and are not parsed), then one
`ast.parse` and two walks. A program that hides both the package name and the import function from
this scan (`getattr(builtins, "__imp" + "ort__")("sci" + "py")`) gets ModuleNotFoundError for a
tier package where plain Python would import it.
"""
from __future__ import annotations

import ast
import re

_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")
_IMPORT_CALLS = frozenset({"__import__", "import_module"})


def is_dotted_name(text: str) -> bool:
    """`text` is exactly a dotted Python name (`pkg`, `pkg.sub`)."""
    return bool(_DOTTED.match(text))


def _tops(tiers: tuple[tuple[str, ...], ...]) -> frozenset[str]:
    return frozenset(m.split(".")[0] for tier in tiers for m in tier)


class _Unknown(Exception):
    """The text refers to a tier package in a way the scan cannot resolve."""


class _Scan:
    def __init__(self, tops: frozenset[str]) -> None:
        self.tops = tops
        self.found: set[str] = set()
        self.bound: dict[str, str] = {}  # local name -> dotted module it is bound to (tier packages only)

    def need(self, dotted: str) -> None:
        parts = dotted.split(".")
        if parts[0] in self.tops:
            self.found.add(".".join(parts[:2]))

    def bind(self, name: str, dotted: str) -> None:
        if dotted.split(".")[0] in self.tops:
            self.bound[name] = dotted

    def imports(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.need(a.name)
                    self.bind(a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] not in self.tops:
                    continue
                if "." in node.module:
                    self.need(node.module)
                    continue
                for a in node.names:
                    if a.name == "*":
                        raise _Unknown("from pkg import *")
                    self.need(f"{node.module}.{a.name}")
                    self.bind(a.asname or a.name, f"{node.module}.{a.name}")

    def uses(self, tree: ast.AST) -> None:
        bare = {name for name, dotted in self.bound.items() if "." not in dotted}
        by_attribute: dict[str, int] = {}
        loads: dict[str, int] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.bound:
                self.need(f"{self.bound[node.value.id]}.{node.attr}")
                by_attribute[node.value.id] = by_attribute.get(node.value.id, 0) + 1
            elif isinstance(node, ast.Name) and node.id in bare and isinstance(node.ctx, ast.Load):
                loads[node.id] = loads.get(node.id, 0) + 1
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and is_dotted_name(node.value):
                self.need(node.value)
            elif isinstance(node, ast.Call) and _is_import_call(node.func):
                arg = node.args[0] if node.args else None
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)) or arg.value in self.tops:
                    raise _Unknown("import with a computed name, or of a bare package used dynamically")
        if any(n > by_attribute.get(name, 0) for name, n in loads.items()):
            raise _Unknown("a tier package used other than by attribute")


def _is_import_call(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in _IMPORT_CALLS) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")


def needs(text: str, tiers: tuple[tuple[str, ...], ...]) -> set[str] | None:
    """Tier packages `text` names (`pkg` or `pkg.sub`); None when some reference cannot be resolved."""
    tops = _tops(tiers)
    if not any(word in text for word in tops | _IMPORT_CALLS):
        return set()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None  # the program fails to compile anyway; the widest lane costs nothing more
    scan = _Scan(tops)
    try:
        scan.imports(tree)
        scan.uses(tree)
    except (_Unknown, RecursionError):
        return None
    return scan.found


def pick(needed: set[str] | None, tiers: tuple[tuple[str, ...], ...]) -> int:
    """The lane for a program naming `needed`: 0 = base, i >= 1 = tier i - 1 (None: the last).

    A tier covers `n` when it pre-imports `n`, a package above it, or (for a bare `pkg`) any
    module inside it (importing `pkg.sub` imports `pkg`).
    """
    if needed is None:
        return len(tiers)
    if not needed:
        return 0
    for i, tier in enumerate(tiers, start=1):
        if all(any(n == m or n.startswith(m + ".") or m.startswith(n + ".") for m in tier) for n in needed):
            return i
    return len(tiers)
