"""transduction.serving: backend selection, saved-adapter serving and many tasks per backend call.

The serving path is exercised here with an HF backend that loads the saved adapters by path (the
same requests a vLLM engine gets); tests/transduction/test_vllm_serving.py runs it on vLLM.
"""
from __future__ import annotations

import argparse
import dataclasses

import pytest

from arc_lm import LMConfig, VLLMSettings
from transduction.commands import build_configs
from transduction.pipeline import SHARED_ID, TransductionModel, score, transduce_task
from transduction.serving import (InferenceJob, ScoreJob, inference_lm, predict_tasks, score_tasks,
                                  served_adapter)
from transduction.train import TrainRecord, adapter_dir, load_adapter
from transduction.voting import hierarchical_vote


def test_inference_lm_maps_backends_and_lora_rank(tiny_config):
    cfg = tiny_config(lora={"rank": 100})
    assert inference_lm(LMConfig(model="other"), cfg) == LMConfig(model=cfg.model)
    assert inference_lm(LMConfig(backend="openai"), cfg).backend == "hf"  # a server has no per-task adapters
    served = inference_lm(LMConfig(backend="vllm", vllm=VLLMSettings(max_lora_rank=8)), cfg)
    assert served.backend == "vllm" and served.vllm.max_lora_rank == 128 and served.model == cfg.model
    keep = inference_lm(LMConfig(backend="vllm", vllm=VLLMSettings(max_lora_rank=256)), cfg)
    assert keep.vllm.max_lora_rank == 256
    with pytest.raises(ValueError, match="lora.rank=600"):
        inference_lm(LMConfig(backend="vllm"), tiny_config(lora={"rank": 600}))


def test_served_adapter_paths(tiny_config, tmp_path):
    rec = TrainRecord("t", 1, 1, 1, 1, (1.0,), 0.1)
    assert served_adapter(tmp_path, "t", tiny_config(train={"mode": "none"}), None, SHARED_ID) is None
    assert served_adapter(tmp_path, "t", tiny_config(), dataclasses.replace(rec, skipped="no data"), SHARED_ID) is None
    with pytest.raises(ValueError, match="no saved adapter"):
        served_adapter(tmp_path, "t", tiny_config(), rec, SHARED_ID)
    for name in ("t", SHARED_ID):
        adapter_dir(tmp_path, name).mkdir(parents=True)
        (adapter_dir(tmp_path, name) / "adapter_config.json").write_text("{}")
    assert served_adapter(tmp_path, "t", tiny_config(), rec, SHARED_ID) == str(adapter_dir(tmp_path, "t"))
    shared = served_adapter(tmp_path, "t", tiny_config(train={"mode": "shared"}), rec, SHARED_ID)
    assert shared == str(adapter_dir(tmp_path, SHARED_ID))


def test_transduce_command_reads_the_lm_section(tmp_path):
    args = argparse.Namespace(preset="cpu-small", config=None, device="cpu",
                              set=["lm.backend=vllm", "lm.vllm.max_model_len=2048", "lora.rank=8"])
    cfg, lm = build_configs(args)
    assert (lm.backend, lm.vllm.max_model_len, lm.model, lm.device) == ("vllm", 2048, cfg.model, "cpu")
    assert cfg.lora.rank == 8
    with pytest.raises(ValueError, match="not lm.model"):
        build_configs(argparse.Namespace(**{**vars(args), "set": ["lm.model=x"]}))
    with pytest.raises(ValueError, match="did you mean 'vllm'"):
        build_configs(argparse.Namespace(**{**vars(args), "set": ["lm.backend=vlm"]}))


class Recording:
    """Wraps a backend and records what each call received."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, []

    def generate(self, requests):
        self.calls.append(("generate", list(requests)))
        return self.inner.generate(requests)

    def score(self, requests):
        self.calls.append(("score", list(requests)))
        return self.inner.score(requests)


def test_saved_adapters_served_by_path_match_the_in_place_path(arc1, tiny_model_dir, tiny_tm, tiny_config, tmp_path):
    """Two tasks: TTT + inference + scoring in place, then the saved adapters served by path, in one call."""
    from arc_lm import load_backend

    cfg = tiny_config(train={"lr": 2e-2}, infer={"score_views": 2, "ranking": "votes-then-score", "batch_size": 64})
    tasks = [arc1[0].tasks[t] for t in ("6150a2bd", "0d3d703e")]
    in_place = [transduce_task(t, tiny_tm, cfg, tmp_path) for t in tasks]
    server = Recording(load_backend(LMConfig(model=str(tiny_model_dir), device="cpu", dtype="float32",
                                             batch_size=64)))
    jobs = [InferenceJob(t, str(adapter_dir(tmp_path, t.id))) for t in tasks]
    served = predict_tasks(jobs, server, tiny_tm.tokenizer, cfg)
    assert len(server.calls) == 1  # every view of both tasks in one generate call
    assert {r.adapter for r in server.calls[0][1]} == {j.adapter for j in jobs}
    for want, got in zip(in_place, served):
        assert [p.raw_text for p in got] == [p.raw_text for p in want.predictions]
    # Scoring: two candidate grids per task (the raw outputs of the tiny model rarely parse).
    tables = {t.id: (hierarchical_vote(0, [("identity", t.test_inputs[0]), ("rot90", t.train[0].output)]),)
              for t in tasks}
    scores = score_tasks([ScoreJob(t, tables[t.id], j.adapter) for t, j in zip(tasks, jobs)], server,
                         tiny_tm.tokenizer, cfg)
    assert len(server.calls) == 2 and server.calls[1][0] == "score"
    assert {r.adapter for r in server.calls[1][1]} == {j.adapter for j in jobs}
    for t, got in zip(tasks, scores):
        load_adapter(tiny_tm.model, adapter_dir(tmp_path, t.id))
        want = score(t, tables[t.id], tiny_tm, cfg)
        assert set(got) == {0} and got[0] == pytest.approx(want[0], abs=1e-3)
    # The pipeline's serving path (TransductionModel.served) reuses the saved adapters and gives the same.
    tm = TransductionModel(tiny_tm.model, tiny_tm.tokenizer, server, served=True)
    again = transduce_task(tasks[0], tm, cfg, tmp_path)
    assert again.train.reused and [p.raw_text for p in again.predictions] == [p.raw_text for p in in_place[0].predictions]
    kind, requests = server.calls[2]  # one generate call for all views, with the task's saved adapter
    assert kind == "generate" and {r.adapter for r in requests} == {jobs[0].adapter}
