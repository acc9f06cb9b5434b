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
from transduction.pipeline import SHARED_ID
from transduction.serving import ScoreJob, inference_lm, score_tasks, served_adapter
from transduction.train import TrainRecord, adapter_dir
from transduction.voting import hierarchical_vote


def test_inference_lm_maps_backends_and_lora_rank(tiny_config):
    cfg = tiny_config(lora={"rank": 100})
    assert inference_lm(LMConfig(model="other"), cfg) == LMConfig(model=cfg.model, batch_size=cfg.infer.batch_size)
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

    def __getattr__(self, name):  # what else the backend offers (context, model_for, eos_ids)
        return getattr(self.inner, name)

    def generate(self, requests):
        self.calls.append(("generate", list(requests)))
        return self.inner.generate(requests)

    def score(self, requests):
        self.calls.append(("score", list(requests)))
        return self.inner.score(requests)

    def close(self):
        self.inner.close()


_ALL_VIEWS = ("identity", "rot90", "rot180", "rot270", "flipud", "fliplr", "transpose", "antitranspose")


def _results(results):
    """What two inference runs must share: every raw text, vote table, score and candidate."""
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in results]


def test_a_task_gets_the_same_answers_wherever_it_runs_and_beside_any_task(arc1, tiny_model_dir, tiny_tm,
                                                                          tiny_config, tmp_path):
    """The one inference path: TTT then inference on the training model, task by task, equals the saved
    adapters served by a separately loaded backend with both tasks in one generate and one score call;
    real batching (all 8 dihedral views, more queries than one padded batch of infer.batch_size). DFS
    gives every task grids to score (the tiny model's greedy texts rarely parse)."""
    from transduction.pipeline import InferenceEngine, infer_tasks, train_task

    cfg = tiny_config(model=str(tiny_model_dir), train={"lr": 2e-2},
                      infer={"transforms": _ALL_VIEWS, "per_transform": 2, "batch_size": 3, "score_views": 3,
                             "ranking": "votes-then-score", "dfs_views": 2, "dfs_threshold": 0.001})
    tasks = [arc1[0].tasks[t] for t in ("6150a2bd", "0d3d703e")]
    here = InferenceEngine.on_model(tiny_tm, cfg)
    trained = [train_task(t, tiny_tm, cfg, tmp_path) for t in tasks]
    one_by_one = [infer_tasks([t], [tt], here, cfg)[0] for t, tt in zip(tasks, trained)]
    assert all(len(r.predictions) > cfg.infer.batch_size for r in one_by_one)  # several padded batches a task
    assert {p.transform for p in one_by_one[0].predictions} == set(_ALL_VIEWS)
    server = Recording(InferenceEngine.load(cfg, LMConfig(device="cpu", dtype="float32")).backend)
    elsewhere = InferenceEngine(server, tiny_tm.tokenizer, here.context)
    together = infer_tasks(tasks, trained, elsewhere, cfg)
    assert [kind for kind, _ in server.calls] == ["generate", "score"]  # both tasks in one call of each
    assert {r.adapter for _, reqs in server.calls for r in reqs} == {tt.adapter for tt in trained}
    assert all(r.dfs and r.scores for r in together)
    assert _results(together) == _results(one_by_one)
    # ... and in the other order, beside each other again.
    assert _results(infer_tasks(tasks[::-1], trained[::-1], elsewhere, cfg)) == _results(one_by_one[::-1])


def test_two_adapters_score_the_same_candidates_differently(arc1, tiny_tm, tiny_config, tmp_path):
    """A swapped or ignored adapter cannot pass: the same candidates of one task get other scores under
    another task's adapter and under the base model."""
    from transduction.pipeline import InferenceEngine, train_task

    cfg = tiny_config(train={"lr": 5e-2}, infer={"score_views": 2, "ranking": "votes-then-score"})
    tasks = [arc1[0].tasks[t] for t in ("6150a2bd", "0d3d703e")]
    trained = [train_task(t, tiny_tm, cfg, tmp_path) for t in tasks]
    engine = InferenceEngine.on_model(tiny_tm, cfg)
    t = tasks[0]
    table = (hierarchical_vote(0, [("identity", t.test_inputs[0]), ("rot90", t.train[0].output)]),)
    scores = [score_tasks([ScoreJob(t, table, adapter)], engine.backend, engine.tokenizer, cfg)[0][0]
              for adapter in (trained[0].adapter, trained[1].adapter, None, trained[0].adapter)]
    assert scores[0] == scores[3]  # deterministic
    assert scores[0] != scores[1] and scores[0] != scores[2] and scores[1] != scores[2]


def test_shared_mode_serves_the_shared_adapter(arc1, tiny_tm, tiny_config, tmp_path):
    from transduction.pipeline import InferenceEngine, infer_tasks, train_shared, train_task

    cfg = tiny_config(train={"mode": "shared"})
    tasks = [arc1[0].tasks[t] for t in ("6150a2bd", "0d3d703e")]
    train_shared(tasks, tiny_tm, cfg, tmp_path)
    trained = [train_task(t, tiny_tm, cfg, tmp_path) for t in tasks]
    assert {tt.adapter for tt in trained} == {str(adapter_dir(tmp_path, SHARED_ID))}
    server = Recording(InferenceEngine.on_model(tiny_tm, cfg).backend)
    infer_tasks(tasks, trained, InferenceEngine(server, tiny_tm.tokenizer, 2048), cfg)
    assert {r.adapter for r in server.calls[0][1]} == {str(adapter_dir(tmp_path, SHARED_ID))}
