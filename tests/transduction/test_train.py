"""Adapter training on the tiny random Llama: fresh re-initialisation, batching, resume, modes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from arc_core.grid import Grid
from transduction.config import TrainConfig
from transduction.masks import TokenizedExample
from transduction.pipeline import SHARED_ID, run_ttt, train_shared, transduce_task
from transduction.train import (adapter_dir, cosine_with_warmup, fit, length_batches, load_adapter, reset_lora)


def _lora_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_reset_is_fresh_and_seeded(tiny_tm):
    reset_lora(tiny_tm.model, 3)
    first = _lora_state(tiny_tm.model)
    assert all(torch.count_nonzero(v) == 0 for n, v in first.items() if "lora_B" in n)
    with torch.no_grad():
        for n, p in tiny_tm.model.named_parameters():
            if "lora_" in n:
                p.add_(1.0)
    reset_lora(tiny_tm.model, 3)
    assert all(torch.equal(first[n], v) for n, v in _lora_state(tiny_tm.model).items())
    reset_lora(tiny_tm.model, 4)
    assert any(not torch.equal(first[n], v) for n, v in _lora_state(tiny_tm.model).items() if "lora_A" in n)


def test_length_batches_group_similar_lengths():
    lengths = [50, 3, 49, 4, 100, 5]
    batches = length_batches(lengths, 2, np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert sorted(tuple(sorted(lengths[i] for i in b)) for b in batches) == [(3, 4), (5, 49), (50, 100)]


def test_cosine_schedule():
    assert cosine_with_warmup(0, 2, 10) == pytest.approx(1 / 3)
    assert cosine_with_warmup(2, 2, 10) == pytest.approx(1.0)
    assert cosine_with_warmup(10, 2, 10) == pytest.approx(0.0)


def test_fit_lowers_the_loss(tiny_tm):
    tok = tiny_tm.tokenizer
    ids = tuple(tok("input:\n12\noutput:\n21")["input_ids"])
    ex = TokenizedExample(ids, ids)
    reset_lora(tiny_tm.model, 0)
    losses, steps = fit(tiny_tm.model, [ex] * 8, TrainConfig(lr=1e-2, epochs=2, batch_size=2, warmup_fraction=0.0),
                        seed=0, pad_id=tiny_tm.pad_id)
    assert steps == 8 and len(losses) == 8
    assert losses[-1] < losses[0] - 0.5
    # min_steps adds whole epochs when the data is small: 4 batches per epoch, at least 10 steps -> 3 epochs
    _, steps = fit(tiny_tm.model, [ex] * 8, TrainConfig(epochs=1, batch_size=2, min_steps=10), seed=0,
                   pad_id=tiny_tm.pad_id)
    assert steps == 12
    with pytest.raises(ValueError, match="no training examples"):
        fit(tiny_tm.model, [], TrainConfig(), 0, tiny_tm.pad_id)


def test_activation_checkpointing_gives_the_same_training(tiny_tm):
    """Recomputing layers in the backward pass (the paper presets) changes memory, not the result."""
    tok = tiny_tm.tokenizer
    ids = tuple(tok("input:\n12\noutput:\n21")["input_ids"])
    examples = [TokenizedExample(ids, ids)] * 4
    runs = []
    for checkpointing in (False, True):
        reset_lora(tiny_tm.model, 0)
        cfg = TrainConfig(lr=1e-2, epochs=1, batch_size=2, activation_checkpointing=checkpointing)
        runs.append(fit(tiny_tm.model, examples, cfg, seed=0, pad_id=tiny_tm.pad_id)[0])
    assert runs[0] == pytest.approx(runs[1], rel=1e-5)
    assert not tiny_tm.model.base_model.model.is_gradient_checkpointing  # switched off again for inference


def test_resume_reuses_saved_adapter(tiny_tm, flip_task, tiny_config, tmp_path):
    cfg = tiny_config(train={"lr": 1e-2})
    rec = run_ttt(flip_task, tiny_tm, cfg, tmp_path)
    assert not rec.reused and rec.n_examples == 4 and len(rec.losses) == rec.n_steps == 2
    out = adapter_dir(tmp_path, flip_task.id)
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    trained = _lora_state(tiny_tm.model)
    reset_lora(tiny_tm.model, 99)
    again = run_ttt(flip_task, tiny_tm, cfg, tmp_path)
    assert again.reused and again.losses == rec.losses
    assert all(torch.equal(trained[n], v) for n, v in _lora_state(tiny_tm.model).items())


def test_mismatched_adapter_is_an_error(tiny_model_dir, tiny_tm, flip_task, tiny_config, tmp_path):
    from arc_lm.models import load_hf_model
    from transduction.pipeline import TransductionModel

    run_ttt(flip_task, tiny_tm, tiny_config(), tmp_path)
    base, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="float32")
    other = TransductionModel.wrap(base, tok, tiny_config(lora={"rank": 4, "alpha": 8.0,
                                                                "target_modules": ("q_proj",)}))
    with pytest.raises(ValueError, match="does not match"):
        load_adapter(other.model, adapter_dir(tmp_path, flip_task.id))


def test_modes_none_and_shared(tiny_tm, flip_task, tiny_config, tmp_path):
    none = transduce_task(flip_task, tiny_tm, tiny_config(train={"mode": "none"}, infer={"max_new_tokens": 4}), tmp_path)
    assert none.train is None and none.data["n_examples"] == 0 and none.data["inference"]["queries"] > 0
    assert not adapter_dir(tmp_path, flip_task.id).exists()
    shared_cfg = tiny_config(train={"mode": "shared", "epochs": 1})
    with pytest.raises(ValueError, match="train_shared"):
        run_ttt(flip_task, tiny_tm, shared_cfg, tmp_path)
    rec = train_shared([flip_task, flip_task], tiny_tm, shared_cfg, tmp_path)
    assert rec.task_id == SHARED_ID and rec.n_examples == 8
    assert run_ttt(flip_task, tiny_tm, shared_cfg, tmp_path).reused


def test_task_without_examples_uses_the_base_model(tiny_tm, tiny_config, tmp_path, grid):
    from arc_core.task import Pair, Task

    big = Grid(tuple(tuple((r * c) % 10 for c in range(30)) for r in range(30)))
    task = Task("huge", (Pair(big, big), Pair(big, big)), (grid("1"),))
    rec = run_ttt(task, tiny_tm, tiny_config(data={"max_tokens": 64}), tmp_path)
    assert rec.n_examples == 0 and rec.skipped and rec.losses == ()
    assert all(torch.count_nonzero(v) == 0 for n, v in _lora_state(tiny_tm.model).items() if "lora_B" in n)
    assert not adapter_dir(tmp_path, "huge").exists()


def test_saved_adapter_reproduces_the_trained_model(tiny_model_dir, tiny_tm, flip_task, tiny_config, tmp_path):
    """The adapter directory, served by a separately loaded backend, gives the in-memory model's
    predictions and log-probabilities (the random tiny model's greedy text is uninformative, so the
    scores carry the check)."""
    from arc_lm.api import ScoreRequest
    from arc_lm.config import LMConfig
    from arc_lm.hf_backend import HFBackend
    from transduction.pipeline import predict_with_backend, run_inference

    cfg = tiny_config(train={"lr": 5e-2, "epochs": 2}, infer={"max_new_tokens": 6, "transforms": ("identity", "rot90")})
    run_ttt(flip_task, tiny_tm, cfg, tmp_path)
    out = adapter_dir(tmp_path, flip_task.id)
    backend = HFBackend.from_config(LMConfig(model=str(tiny_model_dir), device="cpu", dtype="float32"))
    served = predict_with_backend(flip_task, backend, backend.tokenizer, cfg, out)
    assert [p.raw_text for p in served] == [p.raw_text for p in run_inference(flip_task, tiny_tm, cfg)]
    req = ScoreRequest("input:\n12\n30\noutput:\n", ("30\n12", "99"))
    trained = tiny_tm.backend.score([req])[0].logprobs
    from_dir = backend.score([ScoreRequest(req.prompt, req.continuations, str(out))])[0].logprobs
    base = backend.score([req])[0].logprobs
    assert from_dir == pytest.approx(trained, abs=1e-4)
    assert base != pytest.approx(trained, abs=1e-2)
