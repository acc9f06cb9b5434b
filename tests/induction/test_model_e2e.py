"""End to end with real language models: the tiny random Llama (fast) and the embedded one (slow).

Neither model writes a correct program; these tests only check that the pipeline runs, that every
sample is recorded with its metadata, and that every sample has an outcome (a program or a reason).
"""
from __future__ import annotations

import pytest

from arc_core.datasets import load_dataset
from arc_lm import load_backend
from arc_lm.config import LMConfig
from induction.config import InductionConfig
from induction.pipeline import induce_task
from induction.samples import JsonlSampleLog
from sandbox import Sandbox, SandboxConfig


def _check_run(task, backend, cfg, tmp_path):
    log = JsonlSampleLog(tmp_path / "samples.jsonl")
    with Sandbox(SandboxConfig(timeout_s=2.0)) as sandbox:
        result = induce_task(task, backend, sandbox, cfg, log)
    records = log.task_records(task.id)
    assert len(records) == cfg.n_samples == len(result.samples)
    assert sorted(r.index for r in records) == list(range(cfg.n_samples))
    for r in records:
        assert r.prompt_format == cfg.prompt_format and r.backend == "hf" and r.model
        assert r.settings["temperature"] == cfg.temperature and r.settings["max_new_tokens"] == cfg.max_new_tokens
        assert r.prompt_tokens and r.prompt_tokens > 100 and r.completion_tokens is not None
        assert r.finish_reason in ("stop", "length")
    for s in result.samples:
        assert (s.program_id is None) != (s.reason is None)
    assert set(result.candidates) == set(range(task.n_test))
    # A rerun resamples nothing.
    log2 = JsonlSampleLog(tmp_path / "samples.jsonl")

    class NoCalls:
        name, config = backend.name, backend.config

        def generate(self, requests):
            raise AssertionError("resampled an existing sample")

    with Sandbox(SandboxConfig(timeout_s=2.0)) as sandbox:
        again = induce_task(task, NoCalls(), sandbox, cfg, log2)
    assert again.samples == result.samples
    return result


def test_tiny_model_pipeline_records_every_sample(tiny_model_dir, tmp_path):
    task = load_dataset("arc1/training").tasks["3c9b0459"]
    backend = load_backend(LMConfig(model=str(tiny_model_dir), device="cpu"))
    cfg = InductionConfig(n_samples=3, batch_size=2, max_new_tokens=16, seed=3)
    _check_run(task, backend, cfg, tmp_path)


@pytest.mark.slow
def test_embedded_model_pipeline_records_every_sample(tmp_path):
    task = load_dataset("arc1/training").tasks["3c9b0459"]
    backend = load_backend(LMConfig())
    cfg = InductionConfig(n_samples=4, batch_size=4, max_new_tokens=256, temperature=0.8, seed=0)
    _check_run(task, backend, cfg, tmp_path)
