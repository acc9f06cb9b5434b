"""Helpers shared by the sandbox tests (importable: conftest puts this directory on sys.path)."""
from __future__ import annotations

import os
import stat

from arc_core.grid import Grid
from sandbox import ProgramJob, SandboxConfig

GRID = Grid.parse([[1, 2, 3], [4, 5, 6]])
FLIPPED = Grid.parse([[4, 5, 6], [1, 2, 3]])
CANARY = "import numpy as np\nfrom collections import Counter\ndef transform(g):\n    return np.flipud(g)\n"
SECRET = "7310452981"


def job(source: str, inputs=(GRID,), pid: str = "p") -> ProgramJob:
    return ProgramJob(pid, source, tuple(inputs))


def descendants(root: int) -> list[int]:
    """Pids of all live descendants of `root` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def make_config(**kw) -> SandboxConfig:
    base = dict(timeout_s=1.0, memory_mb=512, concurrency=2)
    base.update(kw)
    return SandboxConfig(**base)




def mode_of(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)
