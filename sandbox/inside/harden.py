"""Per-child confinement, applied right after fork() and before any untrusted byte runs.

Order (each step fails closed: any error raises, and the caller `_exit(97)`s without running the
program): stdio -> /dev/null and every other fd closed; setsid; rlimits with soft == hard (AS, CPU,
FSIZE=0, NOFILE, NPROC=0, CORE=0, MEMLOCK=0, MSGQUEUE=0); setgroups/setresgid/setresuid to
65534 when root (drops every capability and makes NPROC count); PDEATHSIG=SIGKILL (after setuid,
which clears it); NO_NEW_PRIVS; Landlock restrict_self; seccomp allow-list (BPF compiled by the
orchestrator). Everything that needs a file or a library is prepared once in the zygote
(`Confinement.__init__`), because afterwards the child can open nothing at all.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal

from . import landlock

NOBODY = 65534
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP = 1, 38, 22
_SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Confinement:
    """Everything a child needs to confine itself, built once in the (root) zygote."""

    def __init__(self, bpf: bytes, memory_mb: int, cpu_s: int, landlock_paths: list[str] | None,
                 drop_uid: bool, landlock_required: bool = False) -> None:
        assert bpf and len(bpf) % 8 == 0, "seccomp BPF must be a non-empty array of 8-byte insns"
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._prctl = self._libc.prctl
        self._prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self._bpf = ctypes.create_string_buffer(bpf, len(bpf))
        self._fprog = _SockFprog(len(bpf) // 8, ctypes.cast(self._bpf, ctypes.c_void_p).value)
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.zygote_pid = os.getpid()
        self.drop_uid = drop_uid
        vmsize = _vmsize_bytes()
        self.memory_limit = vmsize + memory_mb * 2**20
        self.cpu_s = cpu_s
        self.landlock_fd, self.landlock_abi, self.landlock_reason = -1, 0, "disabled by config"
        if landlock_paths is not None:
            try:
                self.landlock_fd, self.landlock_abi = landlock.build_ruleset(landlock_paths)
                self.landlock_reason = f"ABI {self.landlock_abi}"
            except OSError as e:  # "auto": run without this layer and say so (hello -> warning)
                if landlock_required:
                    raise
                self.landlock_reason = str(e)

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
        os.setsid()
        for which, value in self.limits(cpu_s or self.cpu_s):
            resource.setrlimit(which, (value, value))
            if resource.getrlimit(which) != (value, value):
                raise OSError(f"rlimit {which} did not stick")
        if self.drop_uid:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            if os.getresuid() != (NOBODY,) * 3 or os.getresgid() != (NOBODY,) * 3:
                raise OSError("uid/gid drop did not stick")
        self._call_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.zygote_pid:  # the zygote died before PDEATHSIG was armed
            raise OSError("zygote is gone")
        self._call_prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if self.landlock_fd >= 0:
            landlock.restrict_self(self.landlock_fd)
            os.close(self.landlock_fd)
        self._call_prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog))

    def _call_prctl(self, option: int, arg2: int, arg3: int = 0) -> None:
        if self._prctl(option, arg2, arg3, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _vmsize_bytes() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")
