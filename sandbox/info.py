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
    buf = ctypes.create_string_buffer(256)
    return [[int(os.getuid() != 0),
             int(libc.syscall(41, 2, 1, 0) < 0),          # socket(AF_INET, SOCK_STREAM)
             int(libc.syscall(57) < 0),                    # fork
             _fails(lambda: open("/tmp/.arc-probe", "w")),
             _fails(lambda: open("/etc/passwd", "rb").read(1)),
             _fails(lambda: os.stat("/")),
             int(libc.syscall(262, 0, b"/etc/passwd", buf, 0x1000) < 0),  # newfstatat(fd, abs, AT_EMPTY_PATH)
             int(libc.syscall(262, 0, b"/proc/1", buf, 0x1000) < 0 and libc.syscall(4, b"/proc/1", buf) < 0),
             _fails(lambda: os.listdir("/root")),
             int("ARC_" not in str(dict(os.environ)))]]
'''
_PROBE_NAMES = ("uid is not root", "socket() denied", "fork denied", "write-open denied",
                "world-readable file unreadable", "stat of host paths denied",
                "stat through an fd + absolute path denied", "host processes invisible (/proc/1)",
                "/root unreadable", "no orchestrator env")


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
                            "setresuid(65534) in the zygote, before the prelude and every child" if root else
                            "not root: the zygote and children keep this uid (seccomp still blocks fork/kill/ptrace)"))
    rows.append(LayerStatus("no_new_privs + pdeathsig", True,
                            "prctl in the zygote (dies with the orchestrator) and in each child (dies with the zygote)"))
    abi, why = landlock.abi_version()
    rows.append(LayerStatus("landlock", abi >= 1 and cfg.landlock != "off",
                            "disabled by config" if cfg.landlock == "off" else
                            why + ": no read rules (children read nothing)" + ("; TCP denied" if abi >= 4 else "")
                            + ("; signal/socket scoping" if abi >= 6 else "")))
    try:
        n, z = len(compile_bpf("child")) // 8, len(compile_bpf("zygote")) // 8
        rows.append(LayerStatus("seccomp allow-list", True, f"children {n} and zygote {z} BPF instructions, default EPERM, "
                                "foreign ABI kill"))
    except (OSError, ImportError, AttributeError) as e:
        rows.append(LayerStatus("seccomp allow-list", False, f"cannot compile: {e} (install libseccomp2 + pyseccomp)"))
    tiers = "; ".join(f"tier {i}: {', '.join(t)}" for i, t in enumerate(cfg.module_tiers, start=1)) or "none"
    rows.append(LayerStatus("no file access in children", True,
                            "seccomp denies every syscall that takes a path (open/openat, the whole stat family incl. "
                            "newfstatat with AT_EMPTY_PATH, access, readlink, getdents); every importable module is "
                            f"pre-imported by the zygote ({len(cfg.modules)} packages with their trees + the prelude's "
                            f"files as `common` and siblings; extra lanes: {tiers})"))
    rows.append(LayerStatus("one fresh child per program", cfg.mode == "fork",
                            "mode='fork': no program shares a process with another" if cfg.mode == "fork" else
                            f"mode='fast': workers reused for up to {cfg.fast_reuse} programs as a pre-filter; accepted "
                            "results, and failures of programs that followed another in their worker, are re-run in "
                            "fork mode; a program that imitates its worker can still turn later programs in that "
                            "worker into (fast-labelled) wrong-grid rejections"))
    if live:
        rows += _live_probe(sandbox)
    else:
        rows.append(LayerStatus("empty root (zygote and children)", cfg.empty_root != "off",
                                "disabled by config (empty_root='off')" if cfg.empty_root == "off" else
                                "decided at start: chroot as root, a user namespace otherwise, where the kernel allows "
                                "(the live probe says which)"))
    return rows


def _live_probe(sandbox) -> list[LayerStatus]:
    from arc_core.grid import Grid

    try:
        with sandbox:
            (res,) = sandbox.run([ProgramJob("probe", _PROBE, (Grid(((0,),)),))])
            hello = dict(sandbox.hello)
    except Exception as e:  # noqa: BLE001 - reported as a row: the point of this command
        return [LayerStatus("live probe", False, f"sandbox failed to start: {e}")]
    rows = [LayerStatus("empty root (zygote and children)", bool(hello.get("empty_root_active")),
                        str(hello.get("empty_root")) + ("" if hello.get("empty_root_active") else
                                                        "; seccomp still denies every path syscall"))]
    if not res.ok:
        return rows + [LayerStatus("live probe", False, f"{res.status.value}: {res.error}")]
    cells = res.grids[0].output.rows[0]
    return rows + [LayerStatus(f"live probe: {name}", bool(v), "observed in a sandboxed child")
                   for name, v in zip(_PROBE_NAMES, cells)]
