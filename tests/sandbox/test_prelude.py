"""The prelude as a first-class input: loaded from its own files only, confined like a program,
off the protocol, scanned for lanes, and unable to hang or end the run without a clear error.

Each hostile prelude below is loaded by a real sandbox (with and without bubblewrap where the
difference matters); the assertions are on host-side effects and on what a program then sees.
"""
from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from _sandbox_support import CANARY, FLIPPED, job, make_config  # type: ignore[import-not-found]
from sandbox import Sandbox, SandboxError

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"

# Runs at load time in the zygote; each entry of RESULTS is 1 when the attack it names succeeded.
HOSTILE = LIBC + r'''
import os, socket, sys, threading
print("a prelude that talks while it loads", flush=True)
print("and on stderr", file=sys.stderr, flush=True)
RESULTS = []
def attempt(fn):
    try:
        fn()
        RESULTS.append(1)
    except BaseException:
        RESULTS.append(0)
attempt(lambda: open(ANSWER, "rb").read())
attempt(lambda: os.listdir("/") and None)
buf = ctypes.create_string_buffer(256)
RESULTS.append(int(libc.syscall(262, 0, ANSWER.encode(), buf, 0x1000) == 0))
attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=1))
attempt(lambda: open(os.path.join(VICTIM_DIR, "written-by-prelude"), "w").write("x"))
attempt(lambda: os.kill(BYSTANDER, 0))
RESULTS.append(int(libc.syscall(424, libc.syscall(434, BYSTANDER, 0), 9, 0, 0) == 0))  # pidfd_send_signal
attempt(lambda: threading.Thread(target=lambda: None).start())
attempt(lambda: os.execv("/bin/true", ["true"]))
RESULTS.append(int(os.getuid() == 0))
'''
PROGRAM = "from common import RESULTS\ndef transform(g):\n    return [RESULTS]\n"


@pytest.mark.parametrize("bwrap", ["on", "off"])
def test_hostile_prelude_is_confined(bwrap, tmp_path, host, bystander):
    if bwrap == "on" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    prelude = tmp_path / "common.py"
    prelude.write_text(HOSTILE.replace("ANSWER", repr(host["answer"])).replace("PORT", str(listener.getsockname()[1]))
                       .replace("VICTIM_DIR", repr(host["dir"])).replace("BYSTANDER", str(bystander)))
    try:
        with Sandbox(make_config(prelude_path=str(prelude), bwrap=bwrap, start_timeout_s=30)) as sb:
            res, canary = sb.run([job(PROGRAM, pid="leak"), job(CANARY, pid="canary")])
    finally:
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
        listener.close()
    assert canary.ok and canary.grids[0].output == FLIPPED  # its prints did not touch the protocol
    assert res.ok and res.grids[0].output.to_list() == [[0] * 10], res
    assert not os.path.exists(os.path.join(host["dir"], "written-by-prelude"))
    os.kill(bystander, 0)  # still alive


def test_prelude_that_never_finishes_is_a_clear_error(tmp_path):
    prelude = tmp_path / "common.py"
    prelude.write_text("while True:\n    pass\n")
    t0 = time.monotonic()
    with pytest.raises(SandboxError, match="while loading the prelude"):
        Sandbox(make_config(prelude_path=str(prelude), bwrap="off", start_timeout_s=2.0)).start()
    assert time.monotonic() - t0 < 15


@pytest.mark.parametrize("body, message", [
    ("import os\nos._exit(0)\n", r"ended \(exit code 0\) while loading the prelude"),
    ("raise SystemExit(4)\n", "loading the prelude: SystemExit: 4"),
    ("import os\nif os.fork() == 0:\n    os._exit(0)\n", "the prelude started a process"),
    ("import pandas\n", "module 'pandas' is not available in the sandbox"),
    ("def broken(:\n", "SyntaxError"),
])
def test_prelude_failures_are_clear(tmp_path, body, message):
    prelude = tmp_path / "common.py"
    prelude.write_text(body)
    with pytest.raises(SandboxError, match=message):
        Sandbox(make_config(prelude_path=str(prelude), bwrap="off")).start()


def test_prelude_that_is_a_directory_or_missing_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        make_config(prelude_path=str(tmp_path))
    with pytest.raises(ValueError, match="no such file"):
        make_config(prelude_path=str(tmp_path / "missing.py"))


def _zygote_memory(pid: int) -> bytes:
    """Every readable mapping of a process (the test runs as root; the zygote as nobody)."""
    out = bytearray()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if "r" not in perms or "[vvar" in line or "[vsyscall" in line:
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(lo)
                out += mem.read(hi - lo)
            except OSError:
                continue
    return bytes(out)


@pytest.mark.skipif(os.getuid() != 0, reason="reading another process's memory needs root")
def test_multi_file_prelude_routes_lazy_scipy_and_never_lists_its_directory(tmp_path):
    (tmp_path / "common.py").write_text("from dsl import *\nfrom shapes.boxes import box\n")
    (tmp_path / "dsl.py").write_text(
        "def count_objects(g):\n    from scipy.ndimage import label\n    return int(label(g > 0)[1])\n"
        "def later():\n    import lazyhelper\n    return lazyhelper.VALUE\n")
    (tmp_path / "lazyhelper.py").write_text("VALUE = 7\n")
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "__init__.py").write_text("from .boxes import *\n")
    (tmp_path / "shapes" / "boxes.py").write_text("def box(g):\n    return g[:1, :1]\n")
    secret = tmp_path / "zz-private-name-4f8a1c9e.txt"
    secret.write_text("0123456789")
    secret.chmod(0o600)
    src = ("from common import *\nimport dsl\ndef transform(g):\n"
           "    return [[count_objects(g), dsl.later(), int(box(g)[0, 0])]]\n")
    with Sandbox(make_config(prelude_path=str(tmp_path / "common.py"), bwrap="off")) as sb:
        assert sb.primary == 1  # dsl.py's lazy scipy import counts for the lane
        assert sb.hello["prelude_modules"] == ["common", "dsl", "lazyhelper", "shapes", "shapes.boxes"]
        (res,) = sb.run([job(src)])
        memory = _zygote_memory(sb.hello["pid"])
    assert res.ok and res.grids[0].output.to_list() == [[1, 7, 1]], res
    assert b"zz-private-name-4f8a1c9e" not in memory and len(memory) > 1 << 20


def test_prelude_that_forges_hello_and_never_serves_stops_with_an_error(tmp_path):
    """It owns the zygote: it can say HELLO and then keep the loop from ever running. The watchdog
    replaces it; a program in flight twice is recorded as a crash, and after three replacements in
    a row with no result (more programs than one window of in-flight jobs) the run stops with an
    error instead of spending two watchdog periods on every window of the queue."""
    prelude = tmp_path / "common.py"
    prelude.write_text("import json, os\nbody = json.dumps({'pid': os.getpid()}).encode()\n"
                       "for fd in range(3, 32):\n    try:\n"
                       "        os.write(fd, b'H' + len(body).to_bytes(4, 'big') + body)\n"
                       "    except OSError:\n        pass\nwhile True:\n    pass\n")
    t0 = time.monotonic()
    with Sandbox(make_config(prelude_path=str(prelude), bwrap="off", watchdog_s=0.5)) as sb:
        with pytest.raises(SandboxError, match="replaced 3 times in a row without returning a single result"):
            sb.run([job(CANARY + f"# {i}\n", pid=f"p{i}") for i in range(10)])
    assert time.monotonic() - t0 < 20
