"""The seccomp allow-list, compiled once in the orchestrator with pyseccomp (libseccomp).

Default action ERRNO(EPERM) (so Python code sees a clean PermissionError), non-native
architectures (i386 `int 0x80`, x32) KILL the process. Allowed: memory management, reading and
writing already-open fds, clocks, signals handling of one's own process, getters, `openat`/`open`
only without write/create flags, `prlimit64` only as a getter, `ioctl` only with four harmless
requests. Not allowed, among others: fork/clone/vfork/execve, socket/connect, kill/tgkill,
ptrace, memfd_create, unlink/rename/chmod/mkdir, setrlimit, prctl, mount, bpf, io_uring.
The zygote receives the BPF bytes and needs no libseccomp.
"""
from __future__ import annotations

import errno
import functools
import os
import tempfile

ALLOWED = (
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "close_range", "lseek",
    "fstat", "newfstatat", "stat", "lstat", "statx", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "getdents64", "getcwd", "fcntl", "dup", "dup2", "dup3", "fadvise64",
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise", "mincore",
    "futex", "sched_yield", "sched_getaffinity", "set_robust_list", "get_robust_list", "rseq",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "sigaltstack",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getitimer", "getrandom", "poll", "ppoll", "select", "pselect6", "restart_syscall",
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "getpgrp", "getpgid", "getsid", "getrlimit", "getrusage", "times",
    "uname", "sysinfo", "umask", "exit", "exit_group",
)
_OPEN_WRITE_FLAGS = (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
                     | getattr(os, "O_TMPFILE", 0o20000000 | os.O_DIRECTORY) & ~os.O_DIRECTORY)
_IOCTLS = (0x5401, 0x541B, 0x5421, 0x5451)  # TCGETS, FIONREAD, FIONBIO, FIOCLEX


@functools.lru_cache(maxsize=1)
def compile_bpf() -> bytes:
    """The allow-list as raw BPF bytes for this machine's architecture (cached per process).

    Raises OSError/ImportError with the cause when libseccomp is unavailable.
    """
    import pyseccomp as sc  # imported lazily: only the orchestrator needs libseccomp

    f = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    f.set_attr(sc.Attr.CTL_NNP, 0)  # the child sets no_new_privs itself, before Landlock
    for name in ALLOWED:
        _add(f, sc, sc.ALLOW, name)
    _add(f, sc, sc.ALLOW, "openat", sc.Arg(2, sc.MASKED_EQ, _OPEN_WRITE_FLAGS, 0))
    _add(f, sc, sc.ALLOW, "open", sc.Arg(1, sc.MASKED_EQ, _OPEN_WRITE_FLAGS, 0))
    _add(f, sc, sc.ALLOW, "prlimit64", sc.Arg(2, sc.EQ, 0))
    for request in _IOCTLS:
        _add(f, sc, sc.ALLOW, "ioctl", sc.Arg(1, sc.EQ, request))
    with tempfile.TemporaryFile() as tmp:
        f.export_bpf(tmp)
        tmp.seek(0)
        bpf = tmp.read()
    if not bpf or len(bpf) % 8:
        raise OSError(f"libseccomp exported {len(bpf)} bytes of BPF, not a multiple of 8")
    return bpf


def _add(f, sc, action: int, name: str, *args) -> None:
    try:
        f.add_rule(action, name, *args)
    except OSError as e:  # a syscall this architecture does not have (e.g. `open` on arm64)
        if e.errno not in (errno.EINVAL, errno.EFAULT, errno.EDOM):
            raise
