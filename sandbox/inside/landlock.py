"""Landlock through raw syscalls (ctypes), about 60 lines instead of a dependency.

Why not the PyPI `landlock` package: it is an alpha dev release (1.0.0.dev5) that covers only the
filesystem rights; we also want ABI 4 (TCP bind/connect) and ABI 6 (signal and abstract-socket
scoping). The zygote builds one ruleset fd with no rule (no file access at all; no net rule = all
TCP denied; scoped signals and abstract sockets); every child only calls `restrict_self` on it
after no_new_privs. The syscall numbers 444 and 446 are the same on all arches.
"""
from __future__ import annotations

import ctypes
import os

_CREATE_RULESET, _RESTRICT_SELF = 444, 446
_CREATE_RULESET_VERSION = 1

# Filesystem rights and the ABI that introduced them.
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


def abi_version() -> tuple[int, str]:
    """(ABI version, reason); version 0 means Landlock is unusable here and says why."""
    v = _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    if v >= 0:
        return int(v), f"Landlock ABI {v}"
    err = ctypes.get_errno()
    why = {38: "kernel built without Landlock (ENOSYS)",
           95: "Landlock is not enabled at boot (EOPNOTSUPP; add it to lsm=)",
           1: "blocked by a seccomp filter (EPERM)"}.get(err, os.strerror(err))
    return 0, why


def handled_fs(abi: int) -> int:
    rights = _FS_ABI1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def build_ruleset() -> tuple[int, int]:
    """A ruleset fd with no rule: every handled filesystem right denied everywhere, no TCP bind or
    connect (ABI >= 4), abstract unix sockets and signals scoped (ABI >= 6); returns (fd, abi).

    Raises OSError when Landlock is unavailable or a rule cannot be added.
    """
    abi, why = abi_version()
    if abi < 1:
        raise OSError(f"Landlock unavailable: {why}")
    attr = _RulesetAttr(handled_fs(abi), NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = _syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    return int(fd), abi


def restrict_self(ruleset_fd: int) -> None:
    """Enforce the ruleset on this process (needs no_new_privs first); raises OSError on failure."""
    if _syscall(_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
