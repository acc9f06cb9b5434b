"""The seccomp allow-list, compiled once in the orchestrator with pyseccomp (libseccomp).

Default action ERRNO(EPERM) (so Python code sees a clean PermissionError), non-native
architectures (i386 `int 0x80`, x32) KILL the process. Allowed: memory management, reading and
writing already-open fds, clocks, signal handling of one's own process, getters, `fstat` of an
open fd (`newfstatat(fd, "", AT_EMPTY_PATH)` with fd 0..1023, which is how glibc implements
fstat), `prlimit64` only as a getter, `ioctl` only with four harmless requests.

No path-based syscall is allowed at all: no open/openat/openat2 (the zygote pre-imports every
module, so a child needs no file), no stat/lstat/statx/access/faccessat/readlink/getdents (so a
program learns nothing about host files: not their existence, size, owner or mtime), no
chdir/mkdir/unlink/rename/chmod. Also denied: fork/clone/vfork/execve, socket/connect,
kill/tgkill, ptrace, memfd_create, pipe, setrlimit, prctl, mount, bpf, io_uring.
The zygote receives the BPF bytes and needs no libseccomp.
"""
from __future__ import annotations

import errno
import functools
import tempfile

ALLOWED = (
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "close_range", "lseek",
    "fstat", "getcwd", "fcntl", "dup", "dup2", "dup3", "fadvise64",
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise", "mincore",
    "futex", "sched_yield", "sched_getaffinity", "set_robust_list", "get_robust_list", "rseq",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "sigaltstack",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getitimer", "getrandom", "poll", "ppoll", "select", "pselect6", "restart_syscall",
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "getpgrp", "getpgid", "getsid", "getrlimit", "getrusage", "times",
    "uname", "sysinfo", "umask", "exit", "exit_group",
)
_AT_EMPTY_PATH = 0x1000
_FD_MASK = 0xFFFF_FFFF_FFFF_FC00  # arg & mask == 0  <=>  0 <= fd <= 1023 (AT_FDCWD = -100 fails)
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
    # fstat(fd) is newfstatat(fd, "", buf, AT_EMPTY_PATH) in glibc >= 2.33: allow exactly the
    # fd form (a real fd, AT_EMPTY_PATH). A relative path would need a directory fd, which a
    # child cannot obtain (no open at all), so this reveals nothing about host paths.
    _add(f, sc, sc.ALLOW, "newfstatat", sc.Arg(0, sc.MASKED_EQ, _FD_MASK, 0),
         sc.Arg(3, sc.MASKED_EQ, _AT_EMPTY_PATH, _AT_EMPTY_PATH))
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
