"""One adversarial program per property of the threat model (sandbox/__init__.py).

Every case runs the attack and then a canary program in the same batch, in both jails (with and
without bubblewrap), and asserts the *host-side* effect is absent (file untouched, listener not
connected, bystander and zygote alive, no leftover processes, next program correct), not only the
returned status. Attacks use ctypes raw syscalls where a Python-level block could hide a hole.
"""
from __future__ import annotations

import os
import select
import socket
from dataclasses import dataclass, field

import pytest

from _sandbox_support import CANARY, FLIPPED, SECRET, descendants, job, mode_of  # type: ignore[import-not-found]
from sandbox import ExecStatus as S

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"


@dataclass(frozen=True)
class Attack:
    name: str
    source: str
    statuses: frozenset
    output: object = None  # expected output of grid 0 when status is OK
    error_type: str | tuple[str, ...] | None = None
    host: tuple = field(default=())  # names of host checks to run (see _check_host)


def A(name, source, statuses, **kw):
    return Attack(name, source, frozenset(statuses if isinstance(statuses, (set, tuple)) else {statuses}), **kw)


ATTACKS = [
    # ---- time ----
    A("busy loop", "def transform(g):\n    while True:\n        pass\n", S.TIMEOUT),
    A("loop ignoring signals", "import signal\ndef transform(g):\n"
      "    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGXCPU, signal.SIGHUP):\n"
      "        signal.signal(s, signal.SIG_IGN)\n"
      "    signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals))\n"
      "    while True:\n        try:\n            while True:\n                pass\n"
      "        except BaseException:\n            pass\n", S.TIMEOUT),
    A("sleep", "import time\ndef transform(g):\n    time.sleep(1e6)\n", S.TIMEOUT),
    # ---- memory ----
    A("bytearray 64 GiB", "def transform(g):\n    return bytearray(64 << 30)\n", S.MEMORY),
    A("numpy 1e5 x 1e5", "import numpy as np\ndef transform(g):\n    return np.ones((100000, 100000))\n", S.MEMORY),
    A("incremental growth", "def transform(g):\n    x = []\n    while True:\n        x.append(bytearray(1 << 20))\n",
      {S.MEMORY, S.TIMEOUT}),
    A("memfd outside RLIMIT_AS", LIBC + "def transform(g):\n"
      "    fd = libc.syscall(319, b'x', 0)\n    if fd < 0:\n        return [[ctypes.get_errno()]]\n"
      "    buf = b'x' * (1 << 20)\n    for _ in range(2048):\n        libc.write(fd, buf, len(buf))\n"
      "    return [[0]]\n", S.OK, output=[[1]]),  # [[errno]]: memfd_create gets EPERM
    A("tmpfs /dev/shm", "def transform(g):\n    with open('/dev/shm/arc-pwn', 'wb') as f:\n"
      "        f.write(b'x' * (1 << 30))\n    return [[0]]\n", S.EXCEPTION, host=("no_shm",)),
    # ---- processes ----
    A("os.fork", "import os\ndef transform(g):\n    os.fork()\n    return [[0]]\n", S.EXCEPTION,
      error_type="PermissionError"),
    A("raw fork syscall", LIBC + "def transform(g):\n    pid = libc.syscall(57)\n    if pid == 0:\n"
      "        while True:\n            pass\n    return [[int(pid < 0)]]\n", S.OK, output=[[1]]),
    A("thread", "import threading\ndef transform(g):\n    threading.Thread(target=lambda: None).start()\n"
      "    return [[0]]\n", S.EXCEPTION, error_type="RuntimeError"),
    A("os.system", "import os\ndef transform(g):\n    os.system('touch {DIR}/system')\n    return [[0]]\n",
      {S.OK, S.EXCEPTION}, host=("no_created",)),
    A("execv", "import os\ndef transform(g):\n    os.execv('/bin/sh', ['sh', '-c', 'touch {DIR}/system'])\n",
      S.EXCEPTION, error_type="PermissionError", host=("no_created",)),
    A("posix_spawn", "import os\ndef transform(g):\n"
      "    os.posix_spawn('/usr/bin/touch', ['touch', '{DIR}/system'], {})\n    return [[0]]\n",
      S.EXCEPTION, host=("no_created",)),
    A("subprocess", "import subprocess\ndef transform(g):\n    subprocess.run(['touch', '{DIR}/system'])\n",
      S.EXCEPTION, error_type=("ModuleNotFoundError", "PermissionError"), host=("no_created",)),
    A("i386 int 0x80", LIBC + "def transform(g):\n"
      "    code = b'\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3'\n"
      "    libc.mmap.restype = ctypes.c_void_p\n"
      "    p = libc.mmap(None, 4096, 7, 0x22, -1, 0)\n    ctypes.memmove(p, code, len(code))\n"
      "    return [[ctypes.CFUNCTYPE(ctypes.c_int)(p)() % 10]]\n", S.CRASH),
    A("fcntl beyond what the runtime needs", "import fcntl, os\ndef transform(g):\n"
      "    pipes = [fd for fd in range(3, 64) if _size(fd)]\n    done = 0\n"
      "    for cmd, arg in ((1031, 4096), (8, os.getppid()), (10, 9), (1024, 1), (1026, 1)):\n"
      "        try:\n            fcntl.fcntl(pipes[0], cmd, arg)\n            done += 1\n        except OSError:\n"
      "            pass\n    return [[len(pipes), done]]\n"
      "def _size(fd):\n    try:\n        return fcntl.fcntl(fd, 1032) > 0\n    except OSError:\n        return False\n",
      S.OK, output=[[1, 0]]),  # the result pipe is found (F_GETPIPE_SZ), but not resized or aimed
    # ---- files ----
    A("create file", "def transform(g):\n    open('{DIR}/created', 'w').write('x')\n    return [[0]]\n",
      S.EXCEPTION, error_type="PermissionError", host=("no_created",)),
    A("append world-writable", "def transform(g):\n    open('{VICTIM}', 'a').write('pwned')\n    return [[0]]\n",
      S.EXCEPTION, host=("victim_intact",)),
    A("chmod", "import os\ndef transform(g):\n    os.chmod('{VICTIM}', 0o777)\n    return [[0]]\n",
      S.EXCEPTION, host=("victim_intact",)),
    A("truncate", "import os\ndef transform(g):\n    os.truncate('{VICTIM}', 0)\n    return [[0]]\n",
      S.EXCEPTION, host=("victim_intact",)),
    A("delete", "import os\ndef transform(g):\n    os.remove('{VICTIM}')\n    return [[0]]\n",
      S.EXCEPTION, host=("victim_intact",)),
    A("/proc/self/mem", "def transform(g):\n    open('/proc/self/mem', 'r+b')\n    return [[0]]\n",
      S.EXCEPTION, error_type="PermissionError"),
    # ---- network ----
    A("tcp to host listener", LIBC + "import struct\ndef transform(g):\n"
      "    s = libc.socket(2, 1, 0)\n    if s < 0:\n        return [[1]]\n"
      "    addr = struct.pack('<HH4s8x', 2, ({PORT} >> 8) | (({PORT} & 255) << 8), bytes([127, 0, 0, 1]))\n"
      "    return [[int(libc.connect(s, addr, 16) < 0) + 2]]\n", S.OK, output=[[1]], host=("no_connection",)),
    A("tcp to 1.1.1.1", LIBC + "import struct\ndef transform(g):\n    s = libc.socket(2, 1, 0)\n"
      "    if s < 0:\n        return [[1]]\n    addr = struct.pack('<HH4s8x', 2, 80 << 8, bytes([1, 1, 1, 1]))\n"
      "    return [[int(libc.connect(s, addr, 16) < 0) + 2]]\n", S.OK, output=[[1]]),
    A("udp 8.8.8.8", LIBC + "def transform(g):\n    return [[int(libc.socket(2, 2, 0) < 0)]]\n", S.OK, output=[[1]]),
    # ---- secrets ----
    A("env secrets", "import os\ndef transform(g):\n    seen = str(dict(os.environ))\n"
      "    for p in ['/proc/self/environ', '/proc/1/environ', '/proc/%d/environ' % os.getppid(),\n"
      "              '/proc/{ORCH}/environ'] + ['/proc/%s/environ' % d for d in os.listdir('/proc') if d.isdigit()]:\n"
      "        try:\n            seen += open(p, 'rb').read().decode('latin-1')\n        except Exception:\n"
      "            pass\n    i = seen.find('ARC_SANDBOX_SECRET=')\n"
      "    return [[int(c) for c in seen[i + 19:i + 29]]] if i >= 0 else [[0]]\n",
      {S.OK, S.EXCEPTION}, output=[[0]]),
    A("world-readable answer file", "def transform(g):\n    data = open('{ANSWER}').read()\n"
      "    return [[int(c) for c in data if c.isdigit()]]\n", S.EXCEPTION,
      error_type=("PermissionError", "FileNotFoundError")),  # Landlock / not mounted in bwrap
    A("/etc/shadow and /root", "import os\ndef transform(g):\n    os.listdir('/root')\n"
      "    return [[len(open('/etc/shadow').read()) % 10]]\n", {S.EXCEPTION}),
    # ---- parent and bystanders ----
    A("kill zygote", "import os, signal\ndef transform(g):\n    os.kill(os.getppid(), signal.SIGKILL)\n"
      "    return [[0]]\n", S.EXCEPTION, error_type="PermissionError"),
    A("kill bystander and -1", LIBC + "def transform(g):\n"
      "    a = libc.kill({BYSTANDER}, 9)\n    b = libc.kill(-1, 9)\n    c = libc.kill(1, 9)\n"
      "    return [[int(a < 0), int(b < 0), int(c < 0)]]\n", S.OK, output=[[1, 1, 1]], host=("bystander_alive",)),
    A("ptrace parent", LIBC + "import os\ndef transform(g):\n"
      "    return [[int(libc.ptrace(16, os.getppid(), 0, 0) < 0)]]\n", S.OK, output=[[1]]),
    # ---- limits ----
    A("raise limits and uid", "import os, resource\ndef transform(g):\n    got = []\n"
      "    for fn in (lambda: resource.setrlimit(resource.RLIMIT_CPU, (-1, -1)),\n"
      "               lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1)),\n"
      "               lambda: os.setuid(0)):\n        try:\n            fn()\n            got.append(1)\n"
      "        except Exception:\n            got.append(0)\n"
      "    return [got + [int(resource.getrlimit(resource.RLIMIT_CPU)[0] < 10)]]\n",
      S.OK, output=[[0, 0, 0, 1]]),
    # ---- the result channel ----
    A("forged bytes on fds", "import os\ndef transform(g):\n    forged = bytes([0, 1, 1, 7]) + b'\\xff' * 64\n"
      "    for fd in range(64):\n        try:\n            os.write(fd, forged)\n        except OSError:\n"
      "            pass\n    return g\n", S.INVALID_OUTPUT),
    A("forged flood on fds", "import os\ndef transform(g):\n    for fd in range(64):\n        try:\n"
      "            os.write(fd, bytes([0, 1, 1, 7]) * 100000)\n        except OSError:\n            pass\n"
      "    return g\n", S.INVALID_OUTPUT),
    # ---- exits and recursion ----
    A("sys.exit in transform", "import sys\ndef transform(g):\n    sys.exit(3)\n", S.EXCEPTION, error_type="SystemExit"),
    A("sys.exit at import", "import sys\nsys.exit(0)\ndef transform(g):\n    return g\n", S.EXCEPTION,
      error_type="SystemExit"),
    A("KeyboardInterrupt", "def transform(g):\n    raise KeyboardInterrupt\n", S.EXCEPTION,
      error_type="KeyboardInterrupt"),
    A("os._exit", "import os\ndef transform(g):\n    os._exit(0)\n", S.CRASH),
    A("os.abort", "import os\ndef transform(g):\n    os.abort()\n", S.CRASH),
    A("recursion bomb", "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1) + 1\n"
      "def transform(g):\n    return f(0)\n", {S.CRASH, S.MEMORY, S.TIMEOUT, S.EXCEPTION}),
    A("plain deep recursion", "def f(n):\n    return f(n + 1)\ndef transform(g):\n    return f(0)\n",
      S.EXCEPTION, error_type="RecursionError"),
    A("nested-bracket parser bomb", "def transform(g):\n    return eval('[' * 1000000 + ']' * 1000000)\n",
      {S.EXCEPTION, S.MEMORY}),
]


def _check_host(check: str, host: dict, bystander: int, listener: socket.socket) -> None:
    if check == "no_created":
        assert not os.path.exists(os.path.join(host["dir"], "created"))
        assert not os.path.exists(os.path.join(host["dir"], "system"))
    elif check == "victim_intact":
        assert os.path.exists(host["victim"])
        assert open(host["victim"]).read() == "original"
        assert mode_of(host["victim"]) == 0o666
    elif check == "no_shm":
        assert not os.path.exists("/dev/shm/arc-pwn")
    elif check == "no_connection":
        readable, _, _ = select.select([listener], [], [], 0.2)
        assert not readable, "the sandboxed program connected to a host listener"
    elif check == "bystander_alive":
        assert os.waitpid(bystander, os.WNOHANG) == (0, 0), "bystander process was killed"
    else:
        raise AssertionError(f"unknown host check {check}")


@pytest.fixture()
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_contained(attack: Attack, jail, host, bystander, listener):
    subs = {"DIR": host["dir"], "VICTIM": host["victim"], "ANSWER": host["answer"],
            "PORT": listener.getsockname()[1], "BYSTANDER": bystander, "ORCH": os.getpid()}
    source = attack.source
    for key, value in subs.items():
        source = source.replace("{" + key + "}", str(value))
    pid, restarts = jail.pid, jail.restarts
    baseline = len(descendants(pid))
    res, canary = jail.run([job(source, pid="attack"), job(CANARY, pid="canary")])
    assert res.status in attack.statuses, (res.status, res.error)
    if res.status is S.OK and attack.output is not None:
        assert res.grids[0].output.to_list() == attack.output
    if attack.error_type is not None and res.status is not S.OK:
        wanted = attack.error_type if isinstance(attack.error_type, tuple) else (attack.error_type,)
        assert res.grids[0].error_type in wanted, res.error
    if res.status is S.TIMEOUT:
        assert res.wall_s < jail.config.timeout_s + 1.0
    for check in attack.host:
        _check_host(check, host, bystander, listener)
    # The zygote survived untouched, nothing is left running, and the next program is correct.
    assert jail.pid == pid and jail.restarts == restarts and os.path.exists(f"/proc/{pid}")
    assert len(descendants(pid)) == baseline
    assert canary.ok and canary.grids[0].output == FLIPPED
    assert SECRET not in repr(res)


def test_memfd_denied_with_eperm(jail):
    (res,) = jail.run([job(LIBC + "def transform(g):\n    fd = libc.syscall(319, b'x', 0)\n"
                           "    return [[int(fd < 0), ctypes.get_errno() % 10]]\n")])
    assert res.ok and res.grids[0].output.to_list() == [[1, 1]]  # EPERM from the allow-list


def test_output_flood_does_not_reach_host(jail, capfd):
    src = ("import os, sys\ndef transform(g):\n    for _ in range(200):\n        print('FLOODMARK' * 1000)\n"
           "        sys.stderr.write('FLOODMARK' * 1000)\n        os.write(1, b'FLOODMARK')\n"
           "        os.write(2, b'FLOODMARK')\n    return g\n")
    (res,) = jail.run([job(src)])
    out, err = capfd.readouterr()
    assert "FLOODMARK" not in out and "FLOODMARK" not in err
    assert res.ok and res.grids[0].output.to_list() == [[1, 2, 3], [4, 5, 6]]


def test_secret_not_in_zygote_environment(jail):
    # An exfiltration-minded program looks in every place the orchestrator's env could leak to.
    src = ("import os\ndef transform(g):\n    return [[int('ARC_SANDBOX_SECRET' in os.environ),"
           " int(any('SECRET' in k for k in os.environ))]]\n")
    (res,) = jail.run([job(src)])
    assert res.ok and res.grids[0].output.to_list() == [[0, 0]]
