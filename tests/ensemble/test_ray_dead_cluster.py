"""A dead cluster (issue #19 item 12) on a real two-node `ray.cluster_utils.Cluster`: the run stops
within seconds, non-zero, keeping what it has; a resume on a repaired cluster completes it."""
from __future__ import annotations

import threading
import time

import pytest

from ensemble.cli import main

from .test_ray import _stage_rows


@pytest.mark.slow
def test_a_dead_cluster_ends_the_run_within_seconds(tmp_path, tiny_run_args, tiny_reference_run, capsys):
    """Issue #19 item 12 on a real cluster: the only node with CPUs dies mid-transduction (the head
    holds none); the run notices within seconds, keeps what it has, exits non-zero, and the same command
    on a repaired cluster resumes to the local run's submission."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    node = cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="warning")
    try:
        cluster.wait_for_nodes()
        out = tmp_path / "ray-dead"
        codes: list[int] = []
        runner = threading.Thread(target=lambda: codes.append(main(tiny_run_args(out) + ["--ray"])))
        runner.start()
        removed_at, deadline = None, time.monotonic() + 120
        while runner.is_alive() and time.monotonic() < deadline and removed_at is None:
            if any(s == "train" and st == "running" for (_, s), (st, _) in _stage_rows(out / "run.sqlite").items()):
                cluster.remove_node(node)
                removed_at = time.monotonic()
            time.sleep(0.02)
        runner.join(timeout=150)
        assert removed_at is not None, "never saw a train stage running"
        assert codes == [2] and time.monotonic() - removed_at < 30
        assert "no live node can host" in capsys.readouterr().err
        rows = _stage_rows(out / "run.sqlite")
        assert not any(st == "running" for st, _ in rows.values()) and (out / "submission.json").is_file()
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        assert main(tiny_run_args(out) + ["--ray"]) == 0
        assert (out / "submission.json").read_bytes() == (tiny_reference_run / "submission.json").read_bytes()
    finally:
        ray.shutdown()
        cluster.shutdown()
