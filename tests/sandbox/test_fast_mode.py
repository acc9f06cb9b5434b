"""Fast mode (reused workers) against programs that try to keep their worker and answer for
the jobs that follow them in it.

What holds (and what these tests check): a result that counts (mode "fork") is never one a
hijacker wrote, because every result fast mode would accept is re-run in a fresh child; a worker
that sends anything off protocol (an END for another job, bytes between jobs, records while
idle) is killed and the next job gets a fresh worker; the run always completes. What does not
hold, by construction: a program that reads its worker's job pipe and imitates the worker loop
exactly can turn later programs in that worker into rejections (at most `fast_reuse` - 1 of
them); those come back labelled mode "fast", never as fork-mode results.
"""
from __future__ import annotations

import time

from _sandbox_support import CANARY, FLIPPED, GRID, job, make_config  # type: ignore[import-not-found]
from sandbox import Sandbox

_HELPERS = r'''
import json, os, sys

def worker_state():
    f = sys._getframe(1)
    while f is not None:
        if {"jr", "w", "job"} <= set(f.f_locals):
            return f.f_locals["jr"], f.f_locals["w"], f.f_locals["job"]
        f = f.f_back
    raise RuntimeError("not in a fast-mode worker")

def read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            os._exit(0)
        buf += chunk
    return buf

def grid(v):
    return bytes([0, 1, 1, v])

def exc():
    return bytes([1, 5]) + b"Error" + (4).to_bytes(2, "big") + b"fake"

def end(nonce):
    return bytes([0x11]) + (0).to_bytes(4, "big") + b"\x00" + nonce.to_bytes(4, "big")
'''

# Answers for its own job, then for every later job in its worker, never running them.
HIJACK = _HELPERS + r'''
def transform(g):
    jr, w, own = worker_state()
    os.write(w, FORGE * len(own["grids"]) + end(own["nonce"]))
    while True:
        j = json.loads(read_exact(jr, int.from_bytes(read_exact(jr, 4), "big")))
        os.write(w, FORGE * len(j["grids"]) + end(j["nonce"]))
'''
# Does not know the protocol state: forges an END with a guessed nonce, then more records.
NAIVE = _HELPERS + r'''
def transform(g):
    jr, w, own = worker_state()
    os.write(w, grid(7) + end(12345) + grid(7) * 3 + end(0))
    return g
'''
TRAILING = _HELPERS + r'''
def transform(g):
    jr, w, own = worker_state()
    os.write(w, grid(7) * len(own["grids"]) + end(own["nonce"]) + grid(7) * 4)
    return g
'''


def _victims(n: int = 5) -> list:
    return [job(CANARY, pid=f"victim{i}") for i in range(n)] if n else []


def _fast():
    # One worker, reused for up to 10 programs: every victim follows the attacker in it.
    return Sandbox(make_config(mode="fast", concurrency=1, bwrap="off", fast_reuse=10))


def test_forged_acceptances_never_count():
    attack = HIJACK.replace("FORGE", "grid(7)")
    with _fast() as sb:
        res = sb.run([job(attack, pid="hijack")] + _victims())
    assert res[0].mode == "fork" and not res[0].ok  # re-run in a fresh child: not a worker there
    for r in res[1:]:
        assert r.ok and r.mode == "fork" and r.grids[0].output == FLIPPED, r


def test_forged_rejections_stay_labelled_as_prefilter_results():
    attack = HIJACK.replace("FORGE", "exc()")
    with _fast() as sb:
        res = sb.run([job(attack, pid="hijack")] + _victims())
        again = sb.run(_victims())  # the run completed and the sandbox still works
    for r in res:
        assert (r.ok and r.mode == "fork" and r.grids[0].output == FLIPPED) or (not r.ok and r.mode == "fast"), r
    assert all(r.ok and r.grids[0].output == FLIPPED for r in again)


def test_off_protocol_workers_are_retired():
    for attack in (NAIVE, TRAILING):
        with _fast() as sb:
            raw = sb.run([job(attack, pid="attack")] + _victims(), accept=lambda j, r: False)
        assert not raw[0].ok, raw[0]
        # Every victim ran for real in a fresh worker, even with no fork-mode re-run at all.
        for r in raw[1:]:
            assert r.ok and r.mode == "fast" and r.grids[0].output == FLIPPED, r


# ---- ordinary programs that change their worker's state (fast mode must cost them nothing) ----
DIVIDE = "import numpy as np\ndef transform(g):\n    x = np.float64(1.0) / np.float64(0.0)\n    return g\n"
TWOS = [[2, 2, 2], [2, 2, 2]]
STATE_CHANGES = [  # (what a program leaves behind, a correct program it would break, its output in fork mode)
    ("import numpy as np\ndef transform(g):\n    np.seterr(all='raise')\n    return g\n", DIVIDE, GRID.to_list()),
    ("import warnings\ndef transform(g):\n    warnings.simplefilter('error')\n    return g\n", DIVIDE, GRID.to_list()),
    ("from common import COLORS\ndef transform(g):\n    COLORS.clear()\n    return g\n",
     "from common import COLORS\ndef transform(g):\n    return g * 0 + COLORS[0]\n", TWOS),
    ("from common import Color\ndef transform(g):\n    Color.RED = 0\n    return g\n",
     "from common import Color\ndef transform(g):\n    return g * 0 + Color.RED\n", TWOS),
    ("import scipy.ndimage\ndef transform(g):\n    def label(*a, **k):\n        raise MemoryError\n"
     "    scipy.ndimage.label = label\n    return g\n",
     "from scipy.ndimage import label\ndef transform(g):\n    return g * 0 + label(g > 0)[1]\n", [[1] * 3] * 2),
    ("import fractions\ndef transform(g):\n    fractions.Fraction = lambda a, b=1: a * 2\n    return g\n",
     "from fractions import Fraction\ndef transform(g):\n    return g * 0 + int(Fraction(3, 1))\n", [[3] * 3] * 2),
    ("import sys\ndef transform(g):\n    def hook(event, args):\n        if event == 'compile':\n"
     "            raise SyntaxError('audited')\n    sys.addaudithook(hook)\n    return g\n", CANARY,
     FLIPPED.to_list()),
]


def test_state_left_by_a_program_never_costs_a_later_one(tmp_path):
    prelude = tmp_path / "common.py"
    prelude.write_text("COLORS = [2, 3]\nclass Color:\n    RED = 2\n")
    jobs = []
    for i, (changer, victim, _) in enumerate(STATE_CHANGES):
        jobs += [job(changer + f"# {i}\n", pid=f"changer{i}"), job(victim + f"# {i}\n", pid=f"victim{i}")]
    cfg = make_config(mode="fast", concurrency=1, bwrap="off", fast_reuse=10, prelude_path=str(prelude))
    with Sandbox(cfg) as fast:
        raw = {r.program_id: r for r in fast.run(jobs, accept=lambda j, r: False)}
    for i, (_, _, want) in enumerate(STATE_CHANGES):
        got = raw[f"victim{i}"]
        assert got.ok and got.grids[0].output.to_list() == want, (i, got)
    # What the fingerprint sees retires the worker first (the victim runs fresh, still a fast
    # result); an audit hook cannot be seen, so that victim's failure was re-run in fork mode.
    assert [raw[f"victim{i}"].mode for i in range(len(STATE_CHANGES))] == ["fast"] * 6 + ["fork"]


JAM = _HELPERS + r'''
import fcntl, time
def transform(g):
    jr, w, own = worker_state()
    try:
        fcntl.fcntl(jr, 1031, 4096)  # F_SETPIPE_SZ: shrink the job pipe
        shrunk = 1
    except OSError:
        shrunk = 0
    os.write(w, grid(shrunk) * len(own["grids"]) + end(own["nonce"]))
    time.sleep(60)  # never reads the next job
'''


def test_a_worker_that_stops_reading_jobs_cannot_stall_the_zygote():
    big = CANARY + "#" * (200 << 10) + "\n"  # larger than any pipe buffer
    with _fast() as sb:
        t0 = time.monotonic()
        res = sb.run([job(JAM, pid="jam"), job(big, pid="victim"), job(CANARY, pid="after")],
                     accept=lambda j, r: False)
        wall = time.monotonic() - t0
        assert sb.restarts == 0
    assert res[0].grids[0].output.to_list() == [[0]]  # F_SETPIPE_SZ was refused
    assert all(r.ok and r.grids[0].output == FLIPPED for r in res[1:]), res
    assert wall < 8, wall  # one job deadline (1 s) and a fork re-run, not a watchdog stall
