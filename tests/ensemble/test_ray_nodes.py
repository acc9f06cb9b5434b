"""A node of a (simulated, `ray.cluster_utils.Cluster`) two-node cluster removed mid-run: the stage
it held is retried on the surviving node, the run completes with the local run's submission."""
from __future__ import annotations

import threading
import time

import pytest

from ensemble.cli import main

from .test_ray import _stage_rows


@pytest.fixture(scope="module")
def two_nodes():
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker_node = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="warning")
    cluster.wait_for_nodes()
    yield cluster, worker_node
    ray.shutdown()
    cluster.shutdown()


@pytest.mark.slow
def test_node_removed_mid_run(tmp_path, two_nodes, tiny_run_args):
    cluster, worker_node = two_nodes
    # Training long enough (a few seconds a task) for both actors to be seen mid-stage; the local run
    # with the same settings is the reference.
    longer = ["--set", "transduction.train.min_steps=300"]
    reference = tmp_path / "local"
    assert main(tiny_run_args(reference) + longer) == 0
    out = tmp_path / "ray-nodes"
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(tiny_run_args(out) + longer + ["--ray"])))
    runner.start()
    removed_while: dict = {}
    deadline = time.monotonic() + 120
    while runner.is_alive() and time.monotonic() < deadline and not removed_while:
        rows = _stage_rows(out / "run.sqlite")
        running = {k: v for k, v in rows.items() if v[0] == "running" and k[1] == "train"}
        if len(running) == 2:  # both actors, one per node, are mid-stage
            cluster.remove_node(worker_node)
            removed_while = running
        time.sleep(0.02)
    runner.join(timeout=150)  # with the 120 s wait, inside pytest-timeout's 300 s
    assert removed_while, "never saw both workers busy"
    assert codes == [0]
    assert (out / "submission.json").read_bytes() == (reference / "submission.json").read_bytes()
    rows = _stage_rows(out / "run.sqlite")
    assert all(st == "done" for st, _ in rows.values()), rows
    retried = {k for k, (_, n) in rows.items() if n == 2}
    assert len(retried) == 1 and retried <= set(removed_while), (retried, removed_while)

