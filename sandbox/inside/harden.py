"""Per-child confinement, applied right after fork() and before any untrusted byte runs.

A child starts from the zygote's own confinement (sandbox/inside/jail.py: empty root, uid 65534,
no_new_privs, Landlock, the zygote seccomp filter), then adds, in order, each step failing closed
(any error raises, and the caller `_exit(97)`s without running the program): stdio -> /dev/null
and every other fd closed; rlimits with soft == hard (AS, CPU, FSIZE=0, NOFILE, NPROC=0, CORE=0,
MEMLOCK=0, MSGQUEUE=0); PDEATHSIG=SIGKILL and a check that the zygote is still its parent;
Landlock again (a nested domain: a child cannot signal the zygote or its siblings); the child
seccomp allow-list. Children stay in the zygote's process group (no setsid), so killing that
group ends every one of them. Everything that needs a file or a library is prepared once in the
zygote (`Confinement.__init__`), because afterwards nothing can be opened at all.
"""
from __future__ import annotations

import ctypes
import os
import resource

from . import jail, landlock


class Confinement:
    """Everything the zygote and its children need to confine themselves, built once, before any
    file becomes unreachable."""

    def __init__(self, child_bpf: bytes, zygote_bpf: bytes, memory_mb: int, cpu_s: int, use_landlock: bool,
                 landlock_required: bool = False) -> None:
        for bpf in (child_bpf, zygote_bpf):
            assert bpf and len(bpf) % 8 == 0, "seccomp BPF must be a non-empty array of 8-byte insns"
        self._child_bpf = ctypes.create_string_buffer(child_bpf, len(child_bpf))
        self._zygote_bpf = ctypes.create_string_buffer(zygote_bpf, len(zygote_bpf))
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.zygote_pid = os.getpid()
        self.memory_limit = _vmsize_bytes() + memory_mb * 2**20
        self.cpu_s = cpu_s
        self.landlock_fd, self.landlock_abi, self.landlock_reason = -1, 0, "disabled by config"
        if use_landlock:
            try:  # no read rules at all: neither the zygote (after its imports) nor a child reads a file
                self.landlock_fd, self.landlock_abi = landlock.build_ruleset()
                self.landlock_reason = f"ABI {self.landlock_abi}"
            except OSError as e:  # "auto": run without this layer and say so (hello -> warning)
                if landlock_required:
                    raise
                self.landlock_reason = str(e)

    def confine_zygote(self, want_root: str, parent: int) -> dict:
        """The zygote's own, permanent confinement (jail.enter); returns the report for hello."""
        return jail.enter(want_root, self.landlock_fd, self._zygote_bpf, len(self._zygote_bpf) // 8, parent)

    def limits(self, cpu_s: int) -> list[tuple[int, int]]:
        out = [(resource.RLIMIT_AS, self.memory_limit), (resource.RLIMIT_CPU, cpu_s),
               (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_NPROC, 0),
               (resource.RLIMIT_CORE, 0), (resource.RLIMIT_MEMLOCK, 0)]
        if hasattr(resource, "RLIMIT_MSGQUEUE"):
            out.append((resource.RLIMIT_MSGQUEUE, 0))
        return out

    def apply(self, keep: tuple[int, ...], cpu_s: int | None = None) -> None:
        """Confine the calling (freshly forked) process; raises on any failure."""
        for fd in (0, 1, 2):
            os.dup2(self.devnull, fd)
        kept = sorted(set(keep) | ({self.landlock_fd} if self.landlock_fd >= 0 else set()))
        assert all(fd > 2 for fd in kept)
        lo = 3
        for fd in kept:
            os.closerange(lo, fd)
            lo = fd + 1
        os.closerange(lo, 1 << 20)
        for which, value in self.limits(cpu_s or self.cpu_s):
            resource.setrlimit(which, (value, value))
            if resource.getrlimit(which) != (value, value):
                raise OSError(f"rlimit {which} did not stick")
        jail.die_with_parent(self.zygote_pid)
        jail.prctl(jail.PR_SET_NO_NEW_PRIVS, 1)  # inherited from the zygote; set again in case
        if self.landlock_fd >= 0:
            landlock.restrict_self(self.landlock_fd)
            os.close(self.landlock_fd)
        jail.load_filter(self._child_bpf, len(self._child_bpf) // 8)


def _vmsize_bytes() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")

