"""The two seccomp allow-lists, compiled once in the orchestrator with pyseccomp (libseccomp).

Default action ERRNO(EPERM) (so Python code sees a clean PermissionError); non-native
architectures (i386 `int 0x80`, x32) KILL the process. The zygote receives the BPF bytes and needs
no libseccomp.

"child": what a program may do. Memory management, reading and writing already-open fds, clocks,
signal handling of one's own process, getters (those that take a pid only for itself, pid 0, so
no host process can be probed), `fstat` (the fd-only syscall), `prlimit64` only as its own
getter, `ioctl` with four harmless requests, `fcntl` with the commands the runtime uses
(F_DUPFD[_CLOEXEC], F_GETFD/F_SETFD, F_GETFL/F_SETFL, F_GETPIPE_SZ: no F_SETPIPE_SZ, which
would let a fast-mode program jam its job pipe; no F_SETOWN/F_SETSIG, which aim signals; no locks
or leases).
No syscall that takes a path is allowed at all: no open/openat/openat2, and none of
stat/lstat/newfstatat/statx/access/faccessat/readlink/getdents/statfs/chdir - not even
`newfstatat(fd, "", AT_EMPTY_PATH)`, glibc's fstat: a path argument is a pointer, which seccomp
cannot read, and the kernel ignores the fd for an absolute path (`newfstatat(0, "/etc/shadow",
buf, AT_EMPTY_PATH)` stats the file). So `os.fstat` raises PermissionError in the sandbox (a
known difference). Also denied: fork/clone/vfork/execve, socket/connect, kill/tgkill,
ptrace, memfd_create, pipe, setrlimit, prctl, mount, bpf, io_uring.

"zygote": what the zygote (and so a prelude, which runs in it) may do after it confined itself,
and what its children need before they load the child filter (filters stack: a child is
checked by both). The child list plus fork without threads or namespaces (`clone` with none of
CLONE_VM/THREAD/PARENT/PTRACE/NEW*; `clone3`, which seccomp cannot inspect, is denied, so glibc's
pthread_create fails), wait4, pidfd_open/pidfd_send_signal (its only way to signal: `kill` is
denied), pipe2, epoll, `prlimit64` on itself, `prctl` with PDEATHSIG/NO_NEW_PRIVS/SECCOMP and
landlock_restrict_self. Still no path syscall, socket, exec, setsid/setpgid (every process it
starts stays in its process group, which the orchestrator kills) or ptrace.
"""
from __future__ import annotations

import errno
import functools
import tempfile

ALLOWED = (
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "close_range", "lseek",
    "fstat", "getcwd", "dup", "dup2", "dup3", "fadvise64",
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise", "mincore",
    "futex", "sched_yield", "set_robust_list", "get_robust_list", "rseq",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "sigaltstack",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "getitimer", "getrandom", "poll", "ppoll", "select", "pselect6", "restart_syscall",
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "getpgrp", "getrlimit", "getrusage", "times",
    "uname", "sysinfo", "umask", "exit", "exit_group",
)
ZYGOTE_ALLOWED = ("wait4", "waitid", "pidfd_open", "pidfd_send_signal", "pipe2", "epoll_create1", "epoll_ctl",
                  "epoll_wait", "epoll_pwait", "setrlimit", "landlock_restrict_self")
_SELF_ONLY = ("getpgid", "getsid", "sched_getaffinity")
_IOCTLS = (0x5401, 0x541B, 0x5421, 0x5451)  # TCGETS, FIONREAD, FIONBIO, FIOCLEX
# F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, F_GETPIPE_SZ
_FCNTLS = (0, 1, 2, 3, 4, 1030, 1032)
_PRCTLS = (1, 22, 38)  # PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS
# clone flags a plain fork never sets: threads, a sibling process, tracing, new namespaces.
_CLONE_DENIED = (0x100 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000
                 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80000000)
ROLES = ("child", "zygote")


@functools.lru_cache(maxsize=2)
def compile_bpf(role: str = "child") -> bytes:
    """The allow-list of `role` ("child" or "zygote") as raw BPF bytes for this machine (cached).

    Raises OSError/ImportError with the cause when libseccomp is unavailable.
    """
    if role not in ROLES:
        raise ValueError(f"role={role!r}: expected one of {ROLES}")
    import pyseccomp as sc  # imported lazily: only the orchestrator needs libseccomp

    f = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    f.set_attr(sc.Attr.CTL_NNP, 0)  # the zygote sets no_new_privs itself, before Landlock
    for name in ALLOWED + (ZYGOTE_ALLOWED if role == "zygote" else ()):
        _add(f, sc, sc.ALLOW, name)
    for name in _SELF_ONLY:  # pid 0 = itself: no probing which host processes exist
        _add(f, sc, sc.ALLOW, name, sc.Arg(0, sc.EQ, 0))
    for request in _IOCTLS:
        _add(f, sc, sc.ALLOW, "ioctl", sc.Arg(1, sc.EQ, request))
    for command in _FCNTLS:
        _add(f, sc, sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, command))
    if role == "child":
        _add(f, sc, sc.ALLOW, "prlimit64", sc.Arg(0, sc.EQ, 0), sc.Arg(2, sc.EQ, 0))  # its own, as a getter
    else:
        _add(f, sc, sc.ALLOW, "prlimit64", sc.Arg(0, sc.EQ, 0))  # its own limits (and its children's, after fork)
        _add(f, sc, sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_DENIED, 0))
        for option in _PRCTLS:
            _add(f, sc, sc.ALLOW, "prctl", sc.Arg(0, sc.EQ, option))
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
