"""The zygote confines itself once, after its trusted imports and before any prelude code runs.

Every child inherits all of this (children then add their own layers, sandbox/inside/harden.py),
and so does the prelude, which runs in the zygote: so a prelude is confined like a program,
except that it may fork (the zygote must) and has no wall deadline of its own (the orchestrator's
start-up timeout bounds it).

Order, each step failing closed (an error ends the zygote start with a FATAL frame):
  1. empty root: `chroot` into a directory that was created and removed (so nothing can ever be
     created in it, and it leaves nothing behind on the host), reached through
     /proc/self/fd. As root directly; otherwise inside a new user namespace where the kernel
     allows one (the zygote's uid mapped to itself, capabilities dropped right after). Where
     neither works (a container without CAP_SYS_CHROOT or user namespaces, or `empty_root=off`)
     the zygote runs without it and says why (`hello["empty_root"]`); the seccomp filters deny
     every path syscall anyway, so no host path resolves either way - the empty root is the
     second, independent layer. Side effect: `os.getcwd()` raises FileNotFoundError.
  2. uid/gid 65534 when root (setgroups, setresgid, setresuid: every capability is dropped);
  3. PDEATHSIG again (the uid change clears it) and a check that the parent is still there;
  4. NO_NEW_PRIVS; child subreaper (a process the prelude starts and orphans stays the zygote's
     child, so the zygote sees it and refuses to start); RLIMIT_FSIZE (the stderr capture file
     stays small; SIGXFSZ ignored);
  5. Landlock (the children's ruleset: no file rights at all, TCP denied, signals and abstract
     sockets scoped to the zygote's processes) where the kernel has it;
  6. the zygote seccomp filter (sandbox/seccomp_policy.py, role "zygote").
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import tempfile

from . import landlock

NOBODY = 65534
_PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP = 1, 38, 22
_SECCOMP_MODE_FILTER = 2
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWUSER = 0x10000000
_CAP_VERSION_3 = 0x20080522
_STDERR_LIMIT = 8 << 20

_libc = ctypes.CDLL(None, use_errno=True)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def prctl(option: int, arg2: int, arg3: int = 0) -> None:
    rc = _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0),
                     ctypes.c_ulong(0))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent ends; exit now if the parent is no longer `parent`."""
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(70)  # the parent ended before this process tied its life to it


def load_filter(bpf_buffer, n_insns: int) -> None:
    """Load a seccomp filter (`bpf_buffer` must outlive nothing: the kernel copies it)."""
    prog = SockFprog(n_insns, ctypes.cast(bpf_buffer, ctypes.c_void_p).value)
    prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog))


def _enter_user_namespace() -> None:
    """A user namespace mapping our uid/gid to themselves: capabilities there allow chroot."""
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(ctypes.c_int(_CLONE_NEWUSER)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"no user namespace here (unshare: {os.strerror(err)})")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _drop_capabilities() -> None:
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def empty_root(strategy: str) -> str:
    """chroot into a fresh, already removed directory; `strategy` "chroot" (root) or "userns".

    Returns how it was done. Raises OSError when this process cannot.
    """
    path = tempfile.mkdtemp(prefix="arc-sandbox-root-")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.rmdir(path)
    try:
        if strategy == "userns":
            _enter_user_namespace()
        os.chroot(f"/proc/self/fd/{fd}")  # a removed directory cannot be reached by name any more
        os.chdir("/")
    finally:
        os.close(fd)
    if strategy == "userns":
        _drop_capabilities()
    return {"chroot": "chroot into an empty, removed directory",
            "userns": "user namespace + chroot into an empty, removed directory"}[strategy]


def enter(want_root: str, landlock_fd: int, bpf_buffer, n_insns: int, parent: int) -> dict:
    """Confine this (zygote) process for good; returns what was done, for the hello message."""
    report: dict = {}
    if want_root == "off":
        report["empty_root"] = "disabled by config (empty_root='off')"
    else:
        strategy = "chroot" if os.getuid() == 0 else "userns"  # root keeps its uid map to drop to 65534
        try:
            report["empty_root"] = empty_root(strategy)
            report["empty_root_active"] = True
        except OSError as e:
            if want_root == "on":
                raise OSError(f"empty_root='on' but no empty root can be made here ({strategy}: {e})") from e
            report["empty_root"] = f"not available here ({strategy}: {e})"
    if os.getuid() == 0:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        if os.getresuid() != (NOBODY,) * 3 or os.getresgid() != (NOBODY,) * 3:
            raise OSError("uid/gid drop did not stick")
    report["uid"] = os.getuid()
    die_with_parent(parent)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(_PR_SET_CHILD_SUBREAPER, 1)  # a process the prelude starts and orphans stays our child
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (_STDERR_LIMIT, _STDERR_LIMIT))
    if landlock_fd >= 0:
        landlock.restrict_self(landlock_fd)
    load_filter(bpf_buffer, n_insns)
    return report
