"""Which zygote ("lane") a program runs in: the lean one, or one that also pre-imports heavy packages.

Forking costs about linearly in the zygote's private memory (page tables are copied, then torn
down). numpy and the standard library add ~3 MiB; scipy.ndimage ~12 MiB more; the rest of scipy
~45 MiB more. So every program pays only for what it can use: `SandboxConfig.modules` are in
every lane, and each tier of `SandboxConfig.module_tiers` is an extra lane with more packages.
A program (together with the prelude) runs in lane 0 when it names no tier package, else in the
first tier that has every tier package it names. Names are read from the text: `pkg.sub`,
`from pkg import sub, ...`, `from pkg.sub import ...`; a bare `import pkg` only tells nothing,
but an aliased one (`import scipy as sp`) or a dynamic reference makes the need unknown, which
picks the last (largest) tier. A program that hides a package name from this scan
(`__import__("sci" + "py")`) gets ModuleNotFoundError where plain Python would import it.
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tops(tiers: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    return tuple(sorted({m.split(".")[0] for tier in tiers for m in tier}))


_ATTR = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")
_FROM_IMPORT = re.compile(r"\s+import\s+\(?([^)#\n]*)")
_REST_OF_LINE_EMPTY = re.compile(r"[ \t]*(#[^\n]*)?(\n|$)")


def named_packages(text: str, top: str) -> set[str] | None:
    """Dotted `top.sub` names that `text` refers to; None when a reference cannot be resolved.

    Linear in len(text) however often `top` occurs (sources can be huge and hostile).
    """
    found: set[str] = set()
    for m in re.finditer(rf"\b{re.escape(top)}\b", text):
        after = _ATTR.match(text, m.end())
        if after:  # pkg.sub (attribute, import or from-import of a submodule)
            found.add(f"{top}.{after.group(1)}")
            continue
        line_start = max(text.rfind("\n", max(0, m.start() - 200), m.start()) + 1, m.start() - 200)
        before = text[line_start:m.start()]
        if re.fullmatch(r"\s*from\s+", before):
            imported = _FROM_IMPORT.match(text, m.end())
            if imported is None:
                return None
            names = _WORD.findall(imported.group(1)[:2000].replace(" as ", " , "))
            found |= {f"{top}.{n}" for n in names}
        elif re.fullmatch(r"\s*import\s+", before) and _REST_OF_LINE_EMPTY.match(text, m.end()):
            continue  # a bare `import pkg`: its uses (`pkg.sub`) are what count
        else:
            return None  # an alias, a string, a dynamic import: cannot tell
    return found


def needs(text: str, tiers: tuple[tuple[str, ...], ...]) -> set[str] | None:
    """Tier packages `text` names (`pkg.sub`); None when some reference cannot be resolved."""
    needed: set[str] = set()
    for top in _tops(tiers):
        names = named_packages(text, top)
        if names is None:
            return None
        needed |= names
    return needed


def pick(needed: set[str] | None, tiers: tuple[tuple[str, ...], ...]) -> int:
    """The lane for a program naming `needed`: 0 = base, i >= 1 = tier i - 1 (None: the last)."""
    if needed is None:
        return len(tiers)
    if not needed:
        return 0
    for i, tier in enumerate(tiers, start=1):
        if all(any(n == m or n.startswith(m + ".") for m in tier) for n in needed):
            return i
    return len(tiers)
