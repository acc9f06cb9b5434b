"""The sandbox as a service: watchdog and restart, fail-closed setup, fast mode as a pre-filter,
and `sandbox-info`."""
from __future__ import annotations

import os
import signal
import time

import pytest

from _sandbox_support import CANARY, FLIPPED, job, make_config  # type: ignore[import-not-found]
from ensemble.cli import main as cli_main
from sandbox import ExecStatus as S
from sandbox import Sandbox, SandboxError, sandbox_info
from sandbox import runner, zygote_process


def test_watchdog_replaces_a_stalled_zygote():
    with Sandbox(make_config(bwrap="off", watchdog_s=1.0)) as sb:
        old = sb.pid
        os.kill(old, signal.SIGSTOP)  # a zygote that makes no progress (e.g. ptrace-stopped)
        t0 = time.monotonic()
        (res,) = sb.run([job(CANARY)])
        assert res.ok and res.grids[0].output == FLIPPED
        assert sb.restarts == 1 and sb.pid != old and time.monotonic() - t0 < 10
        assert not os.path.exists(f"/proc/{old}") or open(f"/proc/{old}/stat").read().split()[2] == "Z"


def test_dead_zygote_is_restarted_and_work_is_retried():
    with Sandbox(make_config(bwrap="off")) as sb:
        os.kill(sb.pid, signal.SIGKILL)
        res = sb.run([job(CANARY, pid=str(i)) for i in range(4)])
        assert all(r.ok and r.grids[0].output == FLIPPED for r in res) and sb.restarts == 1


def test_confinement_failure_fails_closed(monkeypatch):
    # A seccomp program the kernel rejects: the child must exit before running anything.
    real = zygote_process.compile_bpf
    monkeypatch.setattr(zygote_process, "compile_bpf", lambda role: b"\xff" * 8 if role == "child" else real(role))
    with Sandbox(make_config(bwrap="off")) as sb:
        (res,) = sb.run([job(CANARY)])
    assert res.status is S.SETUP_FAILURE and res.grids[0].output is None
    assert "fail-closed" in res.error


def test_zygote_confinement_failure_stops_the_start(monkeypatch):
    # The zygote's own filter rejected: it must not run (nor load a prelude) unconfined.
    real = zygote_process.compile_bpf
    monkeypatch.setattr(zygote_process, "compile_bpf", lambda role: b"\xff" * 8 if role == "zygote" else real(role))
    with pytest.raises(SandboxError, match="confining itself"):
        Sandbox(make_config(bwrap="off")).start()


def test_unavailable_module_is_a_clear_start_error():
    with pytest.raises(SandboxError, match="no_such_module_xyz"):
        Sandbox(make_config(bwrap="off", modules=("numpy", "no_such_module_xyz"))).start()


def test_bwrap_on_without_bubblewrap_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runner.bwrap, "probe", lambda paths: (False, "bwrap not installed"))
    with pytest.raises(SandboxError, match="bwrap='on'.*not installed"):
        Sandbox(make_config(bwrap="on"))


def test_fast_mode_is_only_a_prefilter():
    stealth = ("from collections import Counter\ndef transform(g):\n"
               "    Counter.most_common.__code__ = (lambda self, n=None: [(0, 0)]).__code__\n    return [[5]]\n")
    victim = ("import numpy as np\nfrom collections import Counter\ndef transform(g):\n"
              "    return g * 0 + Counter(g.ravel().tolist()).most_common(1)[0][0] + 1\n")
    loud = "import numpy as np\ndef transform(g):\n    np.flipud = lambda a: np.zeros((1, 1), int)\n    return [[6]]\n"
    jobs = [job(stealth, pid="stealth"), job(victim, pid="victim"), job(loud, pid="loud"), job(CANARY, pid="canary"),
            job("def transform(g):\n    return 1 / 0\n", pid="bad"),
            job("def transform(g):\n    while True:\n        pass\n", pid="loop")]
    # One worker, reused for up to 10 programs, so the programs share a process in order.
    with Sandbox(make_config(mode="fast", concurrency=1, bwrap="off", fast_reuse=10)) as sb:
        res = {r.program_id: r for r in sb.run(jobs)}
        raw = {r.program_id: r for r in sb.run(jobs, accept=lambda j, r: False)}
    # Without the re-run of accepted results: the stealthy __code__ swap poisons the next program
    # in the worker; the loud np.flipud patch changes the fingerprint, so that worker is retired.
    # `bad` fails after `canary` in a reused worker, so it is re-run in a fresh process anyway;
    # `loop` runs in a fresh worker (the one `bad` failed in was retired) and stays a fast result.
    assert {k for k, r in raw.items() if r.mode == "fork"} == {"bad"}
    assert raw["victim"].grids[0].output.to_list() == [[1, 1, 1], [1, 1, 1]]  # poisoned: should be 2s
    assert raw["canary"].grids[0].output == FLIPPED
    # Everything that passed the pre-filter was re-run in fork mode, so the poison never counts.
    assert res["victim"].mode == "fork" and res["victim"].grids[0].output.to_list() == [[2, 2, 2], [2, 2, 2]]
    assert res["stealth"].mode == res["loud"].mode == res["canary"].mode == "fork"
    assert res["canary"].grids[0].output == FLIPPED
    assert res["bad"].mode == "fork" and res["bad"].status is S.EXCEPTION
    assert res["loop"].mode == "fast" and res["loop"].status is S.TIMEOUT


def test_sandbox_info_reports_every_layer():
    rows = sandbox_info(make_config(), live=True)
    names = [r.layer for r in rows]
    for layer in ("bubblewrap", "seccomp allow-list", "landlock", "uid/gid drop to 65534", "rlimits (soft == hard)"):
        assert layer in names
    probes = [r for r in rows if r.layer.startswith("live probe")]
    assert len(probes) == 10 and all(r.active for r in probes), probes
    assert any(r.layer == "live probe: stat through an fd + absolute path denied" for r in probes)
    root = next(r for r in rows if r.layer.startswith("empty root"))
    assert root.active or os.getuid() != 0, root
    assert all(r.reason for r in rows)


def test_sandbox_info_command(capsys):
    assert cli_main(["sandbox-info", "--no-probe", "--bwrap", "off"]) == 0
    out = capsys.readouterr().out
    assert "seccomp allow-list" in out and "bubblewrap" in out and "disabled by config" in out


ORCHESTRATOR = r'''
import sys
sys.path.insert(0, {root!r})
from sandbox import Sandbox, SandboxConfig
kept = [Sandbox(SandboxConfig(bwrap=b, concurrency=1)) for b in ("off", "auto")]
for sb in kept:
    sb.start()
print("ready", flush=True)
Sandbox(SandboxConfig(bwrap="off", prelude_path={prelude!r})).start()  # never returns: the prelude hangs
'''


def test_zygotes_die_with_a_killed_orchestrator(tmp_path):
    """Two running zygotes (with and without bubblewrap) and one stuck loading its prelude all end
    when their orchestrator is SIGKILLed (nothing runs its cleanup)."""
    import subprocess
    import sys

    from _sandbox_support import descendants  # type: ignore[import-not-found]

    prelude = tmp_path / "common.py"
    prelude.write_text("while True:\n    pass\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    orch = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR.format(root=root, prelude=str(prelude))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert orch.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while len(_children(orch.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the third zygote is loading (forever) its prelude
        assert len(_children(orch.pid)) == 3
        left = descendants(orch.pid)
    finally:
        orch.kill()
        orch.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in left):
        time.sleep(0.1)
    assert not [p for p in left if _alive(p)]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _alive(int(entry)):
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_an_install_under_tmp_runs_inside_bubblewrap(tmp_path):
    # A virtual environment in a temporary directory (the offline bundle's test, a CI cache): the jail's
    # fresh /tmp must not hide the read-only bind of the sandbox's own code under /tmp.
    import shutil
    import subprocess
    import sys

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(runner.__file__)))
    for pkg in ("sandbox", "arc_core"):
        shutil.copytree(os.path.join(root, pkg), tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    script = ("from arc_core.grid import Grid\n"
              "from sandbox import Sandbox, SandboxConfig, ProgramJob\n"
              "with Sandbox(SandboxConfig(bwrap='on')) as sb:\n"
              "    assert sb.bwrap_active, sb.bwrap_reason\n"
              "    job = ProgramJob('p', 'def transform(g):\\n    return g[::-1]\\n', (Grid.parse([[1], [2]]),))\n"
              "    (r,) = sb.run([job])\n"
              "    print(r.ok, r.grids[0].output.to_list())\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "[[2],", "[1]]"]
