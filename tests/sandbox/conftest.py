"""Shared fixtures: sandboxes with short limits (with and without bubblewrap), host-side canaries."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for _sandbox_support (importlib mode)

from _sandbox_support import SECRET, make_config  # noqa: E402
from sandbox import Sandbox  # noqa: E402


@pytest.fixture(scope="session")
def secret_env():
    """A secret in the orchestrator's environment before any sandbox starts."""
    old = os.environ.get("ARC_SANDBOX_SECRET")
    os.environ["ARC_SANDBOX_SECRET"] = SECRET
    yield SECRET
    if old is None:
        os.environ.pop("ARC_SANDBOX_SECRET", None)
    else:
        os.environ["ARC_SANDBOX_SECRET"] = old


@pytest.fixture(scope="session", params=["bwrap", "no-bwrap"])
def jail(request, secret_env):
    """A running sandbox; once inside bubblewrap (when it works here) and once without it."""
    if request.param == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    cfg = make_config(bwrap="on" if request.param == "bwrap" else "off")
    with Sandbox(cfg) as sb:
        yield sb


@pytest.fixture(scope="session")
def sandbox(secret_env):
    """The default configuration (bwrap='auto') for non-adversarial tests."""
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture(scope="session")
def host():
    """World-writable / world-readable host files an unconfined `nobody` could touch."""
    d = tempfile.mkdtemp(prefix="arc-sandbox-host-")
    os.chmod(d, 0o777)
    victim = os.path.join(d, "victim.txt")
    with open(victim, "w") as f:
        f.write("original")
    os.chmod(victim, 0o666)
    answer_dir = tempfile.mkdtemp(prefix="arc-sandbox-answers-")
    os.chmod(answer_dir, 0o755)
    answer = os.path.join(answer_dir, "answers.json")
    with open(answer, "w") as f:
        f.write('{"task": [[9, 8, 7, 6, 5, 4, 3, 2, 1]]}')
    os.chmod(answer, 0o644)
    yield {"dir": d, "victim": victim, "answer": answer}
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(answer_dir, ignore_errors=True)


@pytest.fixture()
def bystander():
    """An unrelated root process an attacker might try to kill (stands in for the orchestrator)."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()
