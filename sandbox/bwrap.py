"""How the zygote is launched: the clean environment, the read-only paths it needs, and the
bubblewrap command line around it (plus a probe that says whether bubblewrap works here).

bwrap runs as real root without a user namespace (with one, only uid 0 is mapped and the zygote
could not drop to `nobody`), so capabilities are cut explicitly to SETUID/SETGID (drop to nobody),
SYS_CHROOT (the zygote's empty root, sandbox/inside/jail.py, made in a private /tmp) and KILL.
Parent directories of bind targets are created 0755, otherwise `nobody` could not traverse to the
interpreter.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))
CLEAN_ENV = {
    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
}


def python_paths() -> list[str]:
    """Directories the zygote must read: the interpreter prefix, the venv, numpy, this package.

    Not the prelude's directory: the orchestrator reads the prelude's files and sends them."""
    import numpy

    candidates = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(numpy.__file__)), SANDBOX_DIR]
    out: list[str] = []
    for p in sorted({os.path.realpath(c) for c in candidates}, key=len):
        if not any(p == q or p.startswith(q + os.sep) for q in out):
            out.append(p)
    return out


def zygote_command(rfd: int, wfd: int, parent: int) -> list[str]:
    """argv of the zygote itself: `-s -P` (no user site, no script dir); env is fixed by us.

    The protocol runs on the inherited pipe fds `rfd`/`wfd` (stdin and stdout are /dev/null, so
    nothing that prints can reach it); `parent` is the pid the zygote must die with (0: its
    parent at start, i.e. bubblewrap's init, which dies with bwrap).
    """
    boot = (f"import sys; sys.path.insert(0, {SANDBOX_DIR!r}); from inside import boot; "
            f"boot.main({int(rfd)}, {int(wfd)}, {int(parent)})")
    return [sys.executable, "-s", "-P", "-c", boot]


def bwrap_prefix(read_paths: list[str]) -> list[str]:
    """bwrap options for a jail with only /usr and `read_paths` mounted, all read-only."""
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
            "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
            "--cap-add", "CAP_KILL", "--cap-add", "CAP_SYS_CHROOT", "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "lib", "lib64", "sbin"):
        path = "/" + top
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # The fresh /proc, /dev and /tmp come before the read-only binds: a bind under /tmp (a virtual
    # environment or a test's site-packages in a temporary directory) would be hidden by a later tmpfs.
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/proc", "/dev", "/tmp"}
    for p in read_paths:
        parents = []
        d = os.path.dirname(p)
        while d not in made and d != "/":
            parents.append(d)
            d = os.path.dirname(d)
        for d in reversed(parents):
            args += ["--perms", "0755", "--dir", d]
            made.add(d)
        args += ["--ro-bind", p, p]
    args += ["--remount-ro", "/", "--clearenv"]
    for k, v in CLEAN_ENV.items():
        args += ["--setenv", k, v]
    return args + ["--chdir", "/", "--"]


@functools.lru_cache(maxsize=8)
def probe(read_paths: tuple[str, ...]) -> tuple[bool, str]:
    """(works, reason): run `true` inside the exact jail the zygote would get."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bwrap not installed (Debian: apt-get install bubblewrap; `make system-deps`)"
    try:
        proc = subprocess.run(bwrap_prefix(list(read_paths)) + ["/usr/bin/true"], env=CLEAN_ENV,
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bwrap failed to run: {e}"
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return False, f"bwrap cannot create namespaces here: {err[-1] if err else proc.returncode}" + (
            " (inside Docker, its seccomp profile blocks this)" if os.path.exists("/.dockerenv") else "")
    return True, f"{exe}: fresh mount/pid/net/ipc/uts namespaces, caps SETUID/SETGID/KILL/SYS_CHROOT only"
