"""`arc-hybrid run --ray` on a local 2-CPU Ray cluster (one per module) with the tiny random model:
the same submission and store as a local run (with TTT skips decided by the runner), and `--ray`
without Ray installed fails in one line. Slow (CI's `make test-slow`): served transduction, a worker
or a sampler SIGKILLed mid-stage costs one retry of that stage and nothing else. The scheduling itself
is unit-tested on a fake Ray in test_ray_scheduler.py."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from arc_core.transforms import DIHEDRAL
from ensemble.cli import main


def _stage_rows(db: Path) -> dict[tuple[str, str], tuple[str, int]]:
    if not db.exists():
        return {}
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute("SELECT task_id, stage, status, starts FROM stages").fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        rows = []
    con.close()
    return {(t, s): (st, n) for t, s, st, n in rows}


def _busy_worker_pids(title: bytes = b"ray::StageWorker.train") -> list[int]:
    """Processes of Ray actors whose title starts with `title` (Ray sets it to the actor's class and
    the method it is in: a stage worker busy training is `ray::StageWorker.train`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(title):
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def test_ray_run_with_skips_equals_local_run(tmp_path, ray_cluster, tiny_run_args, capsys, monkeypatch):
    """The default suite's one end-to-end Ray run: imported programs verify every test input of two
    tasks (the largest among them) so their TTT is skipped, the third task is trained and inferred;
    the submission, every sample and every stage result equal a local run's, no stage failed."""
    monkeypatch.setenv("COLUMNS", "400")  # one log line per line: rich wraps at the terminal width

    def args(out):
        a = tiny_run_args(out)
        i = a.index("--tasks")
        return a[:i + 1] + ["6150a2bd,25ff71a9,0d3d703e"] + a[i + 2:] + [
            "--set", "ensemble.skip_ttt_when_verified=true",
            # Real batching: all 8 dihedral views, more queries than one padded batch.
            "--set", "transduction.infer.transforms=" + json.dumps(list(DIHEDRAL)),
            "--set", "transduction.infer.batch_size=3"]

    local, out = tmp_path / "local", tmp_path / "ray-run"
    assert main(args(local)) == 0
    preds = _stage_results(local, "infer")["0d3d703e"]["predictions"]
    assert len(preds) > 3 and {p["transform"] for p in preds} == set(DIHEDRAL)
    capsys.readouterr()
    assert main(args(out) + ["--ray"]) == 0
    assert (out / "submission.json").read_bytes() == (local / "submission.json").read_bytes()
    err = capsys.readouterr().err
    # Induction samples on a sampler actor and verifies on a 1-CPU induction actor (its sandbox).
    assert "<- induction 6150a2bd via sampler-" in err and "ray: induction-" in err
    assert "sampled for 3 induction job(s)" in err
    rows = _stage_rows(out / "run.sqlite")
    assert {t for (t, s), (st, _) in rows.items() if s == "train" and st == "skipped"} == {"6150a2bd", "25ff71a9"}
    assert rows[("0d3d703e", "train")] == rows[("0d3d703e", "infer")] == ("done", 1)
    assert all(st in ("done", "skipped") and n == 1 for st, n in rows.values()), rows
    # The store too: every sample (key and text) and every stage result but timings.
    assert _sample_texts(out) == _sample_texts(local)
    for stage in ("induction", "train", "infer"):
        assert _stage_results(out, stage) == _stage_results(local, stage)
    # Resuming the finished run recomputes nothing.
    assert main(args(out) + ["--ray"]) == 0
    assert _stage_rows(out / "run.sqlite") == rows


@pytest.mark.slow
def test_served_transduction_equals_local_run(tmp_path, ray_cluster, tiny_run_args, tiny_reference_run, capsys,
                                             monkeypatch):
    """TTT actor trains and saves the adapters; an inference actor serves both tasks' adapters (here
    through an HF backend, the vLLM path's interface) in one call."""
    monkeypatch.setenv("COLUMNS", "400")
    out = tmp_path / "ray-served"
    args = tiny_run_args(out) + ["--ray", "--set", "ray.transduction_serving=on", "--set", "ray.serve_batch_tasks=2"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "ray: ttt-" in err and "ray: inference-" in err
    assert re.search(r"ray: inference-\d+ \(.*\) <- infer (25ff71a9,6150a2bd|6150a2bd,25ff71a9)\s", err), err
    assert (out / "submission.json").read_bytes() == (tiny_reference_run / "submission.json").read_bytes()
    rows = _stage_rows(out / "run.sqlite")
    assert rows and all(st == "done" and n == 1 for st, n in rows.values()), rows
    # The stored transduction results too (raw predictions, votes, scores, candidates), not only the
    # answers: the tiny model's texts rarely parse into grids.
    assert _transduction_results(out) == _transduction_results(tiny_reference_run)


_TIMINGS = ("seconds", "timings", "wall_s", "cpu_s")


def _untimed(obj):
    """`obj` without timing fields at any depth (the one thing two runs never share)."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in _TIMINGS}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def _stage_results(run_dir: Path, stage: str) -> dict:
    """Each task's stored result of `stage`, all but its timings."""
    from ensemble.store import RunStore

    with RunStore(run_dir) as store:
        return {tid: _untimed(store.result(tid, stage))
                for (tid, s) in _stage_rows(run_dir / "run.sqlite") if s == stage}


def _transduction_results(run_dir: Path) -> dict:
    return {s: _stage_results(run_dir, s) for s in ("train", "infer")}


def _sample_texts(run_dir: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(run_dir / "run.sqlite")
    rows = sorted((k, json.loads(j)["text"]) for k, j in con.execute("SELECT key, json FROM sample_log"))
    con.close()
    return rows


@pytest.mark.slow
def test_sigkill_of_a_busy_worker_retries_only_its_stage(tmp_path, ray_cluster, tiny_run_args, tiny_reference_run):
    out = tmp_path / "ray-kill"
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(tiny_run_args(out) + ["--ray"])))
    runner.start()
    killed, running_then = None, {}
    deadline = time.monotonic() + 120
    while runner.is_alive() and time.monotonic() < deadline and killed is None:
        rows = _stage_rows(out / "run.sqlite")
        pids = _busy_worker_pids()
        # Kill only while a transduction stage is in flight (not a prepare or an idle actor).
        if pids and any(s == "train" and st == "running" for (_, s), (st, _) in rows.items()):
            running_then = {k: v for k, v in rows.items() if v[0] == "running"}
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.02)
    runner.join(timeout=150)  # with the 120 s wait, inside pytest-timeout's 300 s
    assert killed is not None, "no worker was seen mid-stage"
    assert codes == [0]
    assert (out / "submission.json").read_bytes() == (tiny_reference_run / "submission.json").read_bytes()
    rows = _stage_rows(out / "run.sqlite")
    assert all(st == "done" for st, _ in rows.values()), rows
    retried = {k for k, (_, n) in rows.items() if n == 2}
    assert len(retried) == 1 and retried <= set(running_then), (retried, running_then)
    assert all(n == 1 for k, (_, n) in rows.items() if k not in retried)


@pytest.mark.slow
def test_sigkill_of_a_sampler_keeps_its_samples(tmp_path, ray_cluster, tiny_run_args, tiny_reference_run, monkeypatch,
                                                capsys):
    """The sampler actor dies mid-induction: the stage is retried once with a new sampler, the samples
    drawn before the kill are kept (not redrawn), and the answers are the local run's."""
    monkeypatch.setenv("COLUMNS", "400")
    n = 80  # ~2 s of sampling per task: the kill lands while the first task samples
    out = tmp_path / "ray-sampler-kill"
    args = tiny_run_args(out) + ["--ray", "--no-transduction", "--set", f"induction.n_samples={n}"]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(args)))
    runner.start()
    killed_at, deadline = None, time.monotonic() + 120
    while runner.is_alive() and time.monotonic() < deadline and killed_at is None:
        if any(s == "induction" and st == "running" for (_, s), (st, _) in _stage_rows(out / "run.sqlite").items()):
            time.sleep(0.3)  # let it draw some samples first
            pids = _busy_worker_pids(b"ray::SamplerWorker")
            if pids:
                killed_at = time.time()
                os.kill(pids[0], signal.SIGKILL)
        time.sleep(0.02)
    runner.join(timeout=150)
    assert killed_at is not None, "no sampler was seen mid-stage"
    assert codes == [0]
    err = capsys.readouterr().err
    assert "died during induction" in err and "sampler-1 back on" in err, err[-3000:]
    rows = _stage_rows(out / "run.sqlite")
    assert all(st == "done" for st, _ in rows.values()), rows
    retried = [k for k, (_, c) in rows.items() if c == 2]
    assert len(retried) == 1 and all(c == 1 for k, (_, c) in rows.items() if k not in retried), rows
    con = sqlite3.connect(out / "run.sqlite")
    created = [json.loads(j)["created"] for (j,) in con.execute(
        "SELECT json FROM sample_log WHERE task_id = ? AND prompt_hash != 'import'", (retried[0][0],))]
    con.close()
    assert len(created) == n  # every index once: nothing lost, nothing drawn twice
    assert any(c < killed_at for c in created)  # drawn by the killed sampler, kept
    sub = json.loads((out / "submission.json").read_text())
    assert sub == json.loads((tiny_reference_run / "submission.json").read_text())


def test_ray_missing_fails_in_one_line(tmp_path, tiny_run_args, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "no-ray"
    assert main(tiny_run_args(out) + ["--ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "arc-hybrid: error: --ray needs Ray: pip install 'arc-hybrid[ray]'"
    assert not out.exists()


def test_ray_flag_and_config(tmp_path):
    from ensemble.config import build_run_config
    from ensemble.ray_config import RayConfig

    cfg = build_run_config("cpu-small", None, ["ray.enabled=true", "ray.address=auto", "ray.gpus_per_worker=0.25"])
    assert cfg.ray == RayConfig(enabled=True, address="auto", gpus_per_worker=0.25)
    with pytest.raises(ValueError, match="max_retries"):
        RayConfig(max_retries=-1)
    with pytest.raises(ValueError, match="did you mean 'off'"):
        RayConfig(transduction_serving="of")
    with pytest.raises(ValueError, match="serve_batch_tasks"):
        RayConfig(serve_batch_tasks=0)
    with pytest.raises(ValueError, match="did you mean 'max_retries'"):
        build_run_config("cpu-small", None, ["ray.max_retry=2"])
