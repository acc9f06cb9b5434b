"""Shared pytest fixtures: the embedded tokenizer and a tiny random Llama model directory.

`embedded_tokenizer` (session): the SmolLM2 tokenizer converted from the embedded GGUF once and
cached in the user cache (`arc_lm.cache.cache_root()`), so later sessions load it in < 1 s.
`tiny_model_dir` (session): `arc_lm.testing.tiny_llama_dir` written once into the pytest cache
(`.pytest_cache/d/arc-lm-tiny-llama-v1`), reused across sessions (a session tmp dir under `-p no:cacheprovider`); a fresh copy takes seconds.
Load it with `arc_lm.load_hf_model(tiny_model_dir, device="cpu")` or
`arc_lm.load_backend(LMConfig(model=str(tiny_model_dir)))`.

`vllm_tiny` (session): one vLLM engine over the tiny model (fp32, eager, LoRA rank <= 8) shared by every
`vllm`-marked test (one engine per process: starting one takes most of a vllm test's time); closed at
the end of the session, which must stop the engine's processes; skipped where vllm does not import.

Threads: unless the caller set OMP_NUM_THREADS, tests run torch with one thread (set here, before
torch is imported; subprocesses inherit it). Tiny models gain nothing from more, and on a shared
2-core machine oversubscribed OpenMP threads made the same tests 10-20x slower.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def embedded_tokenizer():
    from arc_lm.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="session")
def tiny_model_dir(request, tmp_path_factory, embedded_tokenizer) -> Path:
    from arc_lm.testing import tiny_llama_dir

    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    root = Path(cache.mkdir("arc-lm-tiny-llama-v1")) if cache is not None else tmp_path_factory.mktemp("tiny-llama")
    return tiny_llama_dir(root / "model", seed=0, tokenizer=embedded_tokenizer)


@pytest.fixture(scope="session")
def vllm_tiny(tiny_model_dir):
    pytest.importorskip("vllm", reason="vLLM is not installed (make vllm-cpu / make vllm)")
    import psutil  # a dependency of vllm

    from arc_lm import LMConfig, VLLMSettings, load_backend

    cfg = LMConfig(model=str(tiny_model_dir), backend="vllm", dtype="float32",
                   vllm=VLLMSettings(max_model_len=2048, max_lora_rank=8, max_loras=4, enforce_eager=True,
                                     kv_cache_gib=0.5))
    before = _children()
    backend = load_backend(cfg)
    engine = _children() - before  # vLLM's engine-core process and its worker
    yield backend
    backend.close()
    _, alive = psutil.wait_procs([psutil.Process(pid) for pid in engine if psutil.pid_exists(pid)], timeout=30)
    assert not alive, f"vLLM processes still running 30 s after close(): {[p.cmdline()[:3] for p in alive]}"


def _children() -> set[int]:
    """Child processes of this one, but multiprocessing's resource tracker (it lives as long as we do)."""
    import psutil

    pids = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline()):
                pids.add(p.pid)
        except psutil.NoSuchProcess:  # exited since listed: not a child any more
            continue
    return pids
