"""`sandbox_info()`: which isolation layers are active on this machine, and why any is not.

Static checks (bwrap probe, Landlock ABI, seccomp compile, uid, interpreter readability) plus,
with `live=True`, a probe program run through a real `Sandbox` that reports what a child sees.
"""
from __future__ import annotations

import os
from typing import NamedTuple

from . import bwrap
from .config import SandboxConfig
from .inside import landlock
from .results import ProgramJob
from .seccomp_policy import compile_bpf

# Runs inside the sandbox; each cell is 1 when the attack it names FAILED (= layer effective).
_PROBE = r'''
import os, ctypes
def _fails(fn):
    try:
        fn()
    except BaseException:
        return 1
    return 0
def transform(grid):
    libc = ctypes.CDLL(None, use_errno=True)
    return [[int(os.getuid() != 0),
             int(libc.syscall(41, 2, 1, 0) < 0),          # socket(AF_INET, SOCK_STREAM)
             int(libc.syscall(57) < 0),                    # fork
             _fails(lambda: open("/tmp/.arc-probe", "w")),
             _fails(lambda: open("/etc/passwd", "rb").read(1)),
             _fails(lambda: os.stat("/")),
             _fails(lambda: os.listdir("/root")),
             int("ARC_" not in str(dict(os.environ)))]]
'''
_PROBE_NAMES = ("uid is not root", "socket() denied", "fork denied", "write-open denied",
                "world-readable file unreadable", "stat of host paths denied", "/root unreadable",
                "no orchestrator env")


class LayerStatus(NamedTuple):
    layer: str
    active: bool
    reason: str


def sandbox_info(config: SandboxConfig | None = None, live: bool = True) -> list[LayerStatus]:
    cfg = config or SandboxConfig()
    rows = [LayerStatus("exec'd zygote, clean env", True, "env = " + ", ".join(sorted(bwrap.CLEAN_ENV)))]
    from .runner import Sandbox, SandboxError

    try:
        sandbox = Sandbox(cfg)
        rows.append(LayerStatus("bubblewrap", sandbox.bwrap_active, sandbox.bwrap_reason))
    except SandboxError as e:
        return rows + [LayerStatus("bubblewrap", False, str(e))]
    rows.append(LayerStatus("rlimits (soft == hard)", True,
                            f"AS = zygote + {cfg.memory_mb} MiB, CPU {cfg.cpu_limit_s}s, FSIZE 0, NPROC 0, "
                            "NOFILE 64, CORE/MEMLOCK 0"))
    root = os.getuid() == 0
    rows.append(LayerStatus("uid/gid drop to 65534", root,
                            "setresuid(65534) in each child" if root else
                            "not root: children keep this uid (seccomp still blocks fork/kill/ptrace)"))
    rows.append(LayerStatus("no_new_privs + pdeathsig", True, "prctl in each child"))
    abi, why = landlock.abi_version()
    rows.append(LayerStatus("landlock", abi >= 1 and cfg.landlock != "off",
                            "disabled by config" if cfg.landlock == "off" else
                            why + ": no read rules (children read nothing)" + ("; TCP denied" if abi >= 4 else "")
                            + ("; signal/socket scoping" if abi >= 6 else "")))
    try:
        n = len(compile_bpf()) // 8
        rows.append(LayerStatus("seccomp allow-list", True, f"{n} BPF instructions, default EPERM, foreign ABI kill"))
    except (OSError, ImportError, AttributeError) as e:
        rows.append(LayerStatus("seccomp allow-list", False, f"cannot compile: {e} (install libseccomp2 + pyseccomp)"))
    tiers = "; ".join(f"tier {i}: {', '.join(t)}" for i, t in enumerate(cfg.module_tiers, start=1)) or "none"
    rows.append(LayerStatus("no file access in children", True,
                            "seccomp denies open/openat and the stat/access/readlink/getdents family; every "
                            f"importable module is pre-imported by the zygote ({len(cfg.modules)} packages with "
                            f"their trees + prelude as `common`; extra lanes: {tiers})"))
    rows.append(LayerStatus("one fresh child per program", cfg.mode == "fork",
                            "mode='fork': no program shares a process with another" if cfg.mode == "fork" else
                            f"mode='fast': workers reused for up to {cfg.fast_reuse} programs as a pre-filter; accepted "
                            "results are re-run in fork mode, but a program that imitates its worker can turn "
                            "later programs in that worker into (fast-labelled) rejections"))
    if live:
        rows += _live_probe(sandbox)
    return rows


def _live_probe(sandbox) -> list[LayerStatus]:
    from arc_core.grid import Grid

    try:
        with sandbox:
            (res,) = sandbox.run([ProgramJob("probe", _PROBE, (Grid(((0,),)),))])
    except Exception as e:  # noqa: BLE001 - reported as a row: the point of this command
        return [LayerStatus("live probe", False, f"sandbox failed to start: {e}")]
    if not res.ok:
        return [LayerStatus("live probe", False, f"{res.status.value}: {res.error}")]
    cells = res.grids[0].output.rows[0]
    return [LayerStatus(f"live probe: {name}", bool(v), "observed in a sandboxed child")
            for name, v in zip(_PROBE_NAMES, cells)]
