"""Shared pytest fixtures: the embedded tokenizer and a tiny random Llama model directory.

`embedded_tokenizer` (session): the SmolLM2 tokenizer converted from the embedded GGUF once and
cached in the user cache (`arc_lm.cache.cache_root()`), so later sessions load it in < 1 s.
`tiny_model_dir` (session): `arc_lm.testing.tiny_llama_dir` written once into the pytest cache
(`.pytest_cache/d/arc-lm-tiny-llama-v1`), reused across sessions (a session tmp dir under `-p no:cacheprovider`); a fresh copy takes seconds.
Load it with `arc_lm.load_hf_model(tiny_model_dir, device="cpu")` or
`arc_lm.load_backend(LMConfig(model=str(tiny_model_dir)))`.

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
