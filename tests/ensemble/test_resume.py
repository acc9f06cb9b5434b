"""Resume after SIGKILL: a run killed mid-transduction and restarted recomputes nothing finished
(per-stage start counters and finish timestamps in the store, the sample log) and ends with the
same submission as an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from pathlib import Path

from ensemble.cli import main

REPO = Path(__file__).resolve().parents[2]


def _stages(db_path) -> dict[tuple[str, str], tuple[str, float | None, int]]:
    con = sqlite3.connect(db_path, timeout=30)
    try:
        rows = con.execute("SELECT task_id, stage, status, finished_at, starts FROM stages").fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        rows = []
    con.close()
    return {(t, s): (st, f, n) for t, s, st, f, n in rows}


def _sample_log(db_path) -> dict[str, str]:
    con = sqlite3.connect(db_path)
    rows = dict(con.execute("SELECT key, json FROM sample_log").fetchall())
    con.close()
    return rows


def test_kill_9_then_resume(tmp_path, tiny_run_args, tiny_reference_run):
    out = tmp_path / "run"
    db = out / "run.sqlite"
    args = tiny_run_args(out)
    cmd = [sys.executable, "-m", "ensemble.cli", *args]
    log = open(tmp_path / "killed.log", "w+")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    first = ("25ff71a9", "infer")  # the first task in run order (sorted ids), its last solver stage
    deadline = time.monotonic() + 200
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and _stages(db).get(first, ("",))[0] == "done":
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed: " + \
            (tmp_path / "killed.log").read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        log.close()
    before = _stages(db)
    samples_before = _sample_log(db)
    done_before = {k: v for k, v in before.items() if v[0] == "done"}
    assert first in done_before and ("6150a2bd", "induction") in done_before
    assert not all(v[0] == "done" for v in before.values()) or len(before) < 8

    assert main(args) == 0  # the same command again (in-process: the kill was the real test)
    after = _stages(db)
    for key, (status, finished, starts) in done_before.items():
        assert after[key] == (status, finished, starts), f"{key} was recomputed"
        assert starts == 1
    for key, (status, _, starts) in after.items():
        assert status == "done", key
        if key in before and before[key][0] == "running":
            assert starts == 2  # the stage the kill interrupted was redone from scratch, once
    samples_after = _sample_log(db)
    assert {k: samples_after[k] for k in samples_before} == samples_before  # nothing resampled
    assert len(samples_after) == len(_sample_log(tiny_reference_run / "run.sqlite"))
    sub = json.loads((out / "submission.json").read_text())
    ref = json.loads((tiny_reference_run / "submission.json").read_text())
    assert sub == ref
    assert json.loads((out / "scores.json").read_text())["kaggle_score"] == \
        json.loads((tiny_reference_run / "scores.json").read_text())["kaggle_score"]
