"""Served transduction on Ray (`ray.transduction_serving=on`, an HF backend behind the serving
interface): an inference actor killed mid-batch costs only that batch's inference."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ensemble.cli import main

from .test_ray import _busy_worker_pids, _stage_rows, _transduction_results


@pytest.mark.slow
def test_inference_actor_killed_mid_batch(tmp_path, tiny_run_args):
    """Served transduction: the inference actor is SIGKILLed while it finishes a batch of two tasks;
    a new one redoes that batch from the saved adapters (TTT is not redone) and the answers and
    stored results equal a local run's."""
    ray = pytest.importorskip("ray")

    def run_args(out):  # transduction only: no program import
        args = tiny_run_args(out)
        i = args.index("--programs")
        return args[:i] + args[i + 2:] + ["--no-induction", "--set", "transduction.infer.max_new_tokens=160"]

    local = tmp_path / "local"
    assert main(run_args(local)) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    try:
        out = tmp_path / "ray-served-kill"
        args = run_args(out) + ["--ray", "--set", "ray.transduction_serving=on", "--set", "ray.serve_batch_tasks=2"]
        codes: list[int] = []
        runner = threading.Thread(target=lambda: codes.append(main(args)))
        runner.start()
        killed, deadline = None, time.monotonic() + 120
        while runner.is_alive() and time.monotonic() < deadline and killed is None:
            pids = _busy_worker_pids(b"ray::StageWorker.infer")
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed = pids[0]
            time.sleep(0.01)
        runner.join(timeout=150)
    finally:
        ray.shutdown()
    assert killed is not None, "no inference actor was seen mid-batch"
    assert codes == [0]
    assert (out / "submission.json").read_bytes() == (local / "submission.json").read_bytes()
    rows = _stage_rows(out / "run.sqlite")
    assert all(st == "done" for st, _ in rows.values()), rows
    # Only the inference was redone (its batch's tasks started twice); no training was.
    assert all(n == 1 for (_, stage), (_, n) in rows.items() if stage == "train"), rows
    infer_starts = [n for (_, stage), (_, n) in rows.items() if stage == "infer"]
    assert 2 in infer_starts and set(infer_starts) <= {1, 2}, rows
    assert _transduction_results(out) == _transduction_results(local)
