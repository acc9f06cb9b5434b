"""GPU registry, model dimensions and the memory estimates of `plan --gpu` (transduction.memory)."""
from __future__ import annotations

import json

import pytest

from transduction.config import InferConfig, LoraConfig, TrainConfig
from transduction.gpus import GPUS, get_gpu, resolve_gpu
from transduction.memory import (GIB, estimate_inference_memory, estimate_ttt_memory, fits, kv_sequences_that_fit,
                                 largest_batch, layer_activation_bytes, longest_fitting_ttt, lora_param_count,
                                 usable_bytes)
from transduction.model_dims import KNOWN_DIMS, ModelDims, model_dims

SMALL = ModelDims(hidden=128, layers=2, heads=4, kv_heads=2, intermediate=352, vocab=1000, head_dim=32)
PAPER_LORA = LoraConfig(rank=8, alpha=16.0)


@pytest.mark.parametrize("model, params", [
    ("ekinakyurek/marc-8B-finetuned-llama3", 8.03e9), ("barc0/Llama-3.1-ARC-Potpourri-Transduction-8B", 8.03e9),
    ("meta-llama/Llama-3.2-1B-Instruct", 1.24e9), ("smollm2-135m", 1.35e8)])
def test_known_dims_reproduce_the_model_cards(model, params):
    assert model_dims(model).n_params == pytest.approx(params, rel=0.005)


def test_dims_from_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "head_dim": 32, "intermediate_size": 128, "vocab_size": 100, "tie_word_embeddings": True}))
    d = model_dims(str(tmp_path))
    assert (d.q_dim, d.kv_dim, d.tied_embeddings) == (64, 32, True)
    assert d.n_params == 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128) + 100 * 64
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 64}))
    with pytest.raises(ValueError, match="not a Llama-style"):
        model_dims(str(tmp_path))
    with pytest.raises(ValueError, match="unknown dimensions"):
        model_dims("nobody/unknown-model")
    with pytest.raises(ValueError, match="multiple of kv_heads"):
        ModelDims(64, 2, 3, 2, 128, 100)


@pytest.mark.parametrize("name, expected", [("L4", "L4"), ("l4", "L4"), ("a100-80gb", "A100-80"),
                                            ("A100 40", "A100-40"), ("h200", "H200")])
def test_gpu_lookup(name, expected):
    assert get_gpu(name).name == expected


def test_gpu_errors_and_overrides():
    with pytest.raises(ValueError, match="did you mean 'A100-40' or 'A100-80'"):
        get_gpu("A100")
    with pytest.raises(ValueError, match="--gpu-memory-gib"):
        resolve_gpu("B200")
    custom = resolve_gpu("B200", peak_tflops=2250, memory_gib=180)
    assert (custom.peak_tflops, custom.memory_gib, custom.mfu) == (2250, 180, 0.35)
    assert resolve_gpu("L4", mfu=0.5).mfu == 0.5 and resolve_gpu("L4").peak_tflops == 121
    assert not GPUS["T4"].bf16 and all(g.bf16 for n, g in GPUS.items() if n != "T4")


def test_lora_params_and_layer_bytes_by_hand():
    # q: 8 (128+128), v: 8 (128+64), gate/up: 8 (128+352) each, down: 8 (352+128); two layers
    assert lora_param_count(SMALL, PAPER_LORA) == 2 * 8 * (256 + 192 + 3 * 480)
    # bf16 autocast, no mask: norms 2(4d+4), each LoRA input copied (4 x 2d + 2f), A outputs 5 x 2r,
    # attention 2(2q + 2kv) + 4h, MLP 3 x 2f
    expected = 2 * 516 + (4 * 256 + 704) + 80 + (2 * (256 + 128) + 16) + 3 * 704
    assert layer_activation_bytes(SMALL, PAPER_LORA, 2, autocast=True) == expected
    # fp32 without autocast: q/v share the first norm's output, gate/up the second's
    fp32 = 2 * 516 + (512 + 512 + 4 * 352) + 160 + (4 * (256 + 128) + 16) + 3 * 4 * 352
    assert layer_activation_bytes(SMALL, PAPER_LORA, 4, autocast=False) == fp32
    with pytest.raises(ValueError, match="not Llama-style"):
        lora_param_count(SMALL, LoraConfig(target_modules=("c_attn",)))


def _measured_saved(dims: ModelDims, lora: LoraConfig, rows: int, width: int, bf16: bool) -> int:
    import contextlib

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from transduction.train import attach_lora

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=dims.vocab, hidden_size=dims.hidden, intermediate_size=dims.intermediate,
        num_hidden_layers=dims.layers, num_attention_heads=dims.heads, num_key_value_heads=dims.kv_heads,
        head_dim=dims.head_dim, tie_word_embeddings=False, attn_implementation="sdpa"))
    model = attach_lora(model.to(torch.bfloat16) if bf16 else model, lora)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    ids = torch.randint(0, dims.vocab, (rows, width))
    mask = torch.ones_like(ids)
    mask[1:, width // 2:] = 0
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), cast:
        model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100))
    return sum(saved.values())


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("rows", [1, 2])
def test_estimate_matches_what_autograd_saves(bf16, rows):
    """The activation terms against the tensors a real forward saves (CPU; bench/memory_estimate.py
    measures the peak as well). The estimate may only be above, by little."""
    train = TrainConfig(dtype="bfloat16" if bf16 else "float32")
    est = estimate_ttt_memory(SMALL, PAPER_LORA, train, 128, rows=rows)
    predicted = est.total - est.part("weights") - est.part("lora weights+grads+adamw") - est.part("backward peak")
    measured = _measured_saved(SMALL, PAPER_LORA, rows, 128, bf16)
    assert 1.0 <= predicted / measured <= 1.08


def test_checkpointing_and_fitting():
    dims, lora, train = model_dims("meta-llama/Llama-3.2-1B-Instruct"), LoraConfig(), TrainConfig()
    plain = estimate_ttt_memory(dims, lora, train, 8192, checkpointing=False)
    ckpt = estimate_ttt_memory(dims, lora, train, 8192, checkpointing=True)
    assert ckpt.total < plain.total and ckpt.part("weights") == plain.part("weights") == int(dims.n_params * 2)
    l4 = get_gpu("L4")
    assert usable_bytes(l4) == int(23034 * 2**20 * 0.95) - GIB
    n = longest_fitting_ttt(dims, lora, train, l4, True, rows=1)
    assert 0 < n < 1 << 17
    assert fits(estimate_ttt_memory(dims, lora, train, n, True, 1), l4)
    assert not fits(estimate_ttt_memory(dims, lora, train, n + 1, True, 1), l4)
    assert longest_fitting_ttt(model_dims("ekinakyurek/marc-8B-finetuned-llama3"), LoraConfig(lm_head=True),
                               train, get_gpu("T4"), True) == 0  # 8B bf16 weights alone exceed 16 GB
    with pytest.raises(ValueError, match="longest_tokens"):
        estimate_ttt_memory(dims, lora, train, 0)


def test_inference_estimate():
    infer = InferConfig(batch_size=4)
    hf = estimate_inference_memory(SMALL, PAPER_LORA, infer, 100, 117, "hf")
    kv_token = 2 * SMALL.layers * SMALL.kv_dim * 2
    assert hf.part("kv cache") == 4 * 117 * kv_token and hf.part("adapter") == lora_param_count(SMALL, PAPER_LORA) * 4
    vllm = estimate_inference_memory(SMALL, PAPER_LORA, infer, 100, 117, "vllm", rows=1, max_loras=3)
    assert vllm.part("kv cache") == 128 * kv_token  # 117 tokens take 8 blocks of 16
    assert vllm.part("adapter") == 3 * lora_param_count(SMALL, PAPER_LORA) * 2
    assert kv_sequences_that_fit(SMALL, 117, 10 * 128 * kv_token) == 10
    scored = estimate_inference_memory(SMALL, PAPER_LORA, InferConfig(batch_size=4, score_views=2), 100, 117, "hf")
    assert "scoring chunk logits" in dict(scored.parts) and scored.total > hf.total
    with pytest.raises(ValueError, match="longest_prompt"):
        estimate_inference_memory(SMALL, PAPER_LORA, infer, 200, 117)


@pytest.mark.parametrize("lengths, batch, expected", [
    ([5, 1, 3, 2, 4], 2, (2, 4)),      # chunks [1,2] [3,4] [5]: 2x4 = 8 padded tokens is the most
    ([9, 1, 1], 2, (1, 9)),           # [1,1] [9]
    ([3, 3, 3], 1, (1, 3)), ([], 2, (0, 0))])
def test_largest_batch(lengths, batch, expected):
    assert largest_batch(lengths, batch) == expected


def test_plan_command_reports_memory_for_a_named_gpu(capsys):
    from ensemble.cli import main

    assert main(["plan", "--dataset", "arc1/evaluation", "--tasks", "00576224", "--preset", "paper-1b",
                 "--gpu", "L4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["hardware"] == "L4" and out["totals"]["peak_tflops"] == 121
    mem = out["memory"]
    assert mem["totals"]["gpu"] == "L4" and set(mem["tasks"]["00576224"]) == {"ttt", "ttt_checkpointing", "inference"}
    assert out["tasks"]["00576224"]["ttt_batch"][0] == 2
    assert main(["plan", "--dataset", "arc1/evaluation", "--tasks", "00576224", "--gpu", "L5"]) == 2
    assert "did you mean 'L4'" in capsys.readouterr().err
    assert main(["plan", "--dataset", "arc1/evaluation", "--tasks", "00576224", "--preset", "cpu-small",
                 "--gpu", "T4"]) == 0
    assert "no bf16" in capsys.readouterr().out
