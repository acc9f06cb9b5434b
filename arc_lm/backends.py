"""Backend registry: `load_backend(config)` builds the backend named by `LMConfig.backend`.

`hf` (transformers, default; the embedded model on a machine without a GPU), `vllm` (vLLM engine,
imported lazily) and `openai` (any OpenAI-compatible HTTP server). Each entry is a factory
`LMConfig -> Backend`; unknown names fail with a "did you mean" hint.
"""
from __future__ import annotations

from collections.abc import Callable

from arc_lm.api import Backend
from arc_lm.config import BACKEND_NAMES, LMConfig, check_choice


def _hf(config: LMConfig) -> Backend:
    from arc_lm.hf_backend import HFBackend

    return HFBackend.from_config(config)


def _vllm(config: LMConfig) -> Backend:
    from arc_lm.vllm_backend import VLLMBackend

    return VLLMBackend.from_config(config)


def _openai(config: LMConfig) -> Backend:
    from arc_lm.openai_backend import OpenAIBackend

    return OpenAIBackend.from_config(config)


BACKENDS: dict[str, Callable[[LMConfig], Backend]] = {"hf": _hf, "vllm": _vllm, "openai": _openai}
assert tuple(BACKENDS) == BACKEND_NAMES


def load_backend(config: LMConfig | None = None) -> Backend:
    """The backend `config.backend` for `config.model` (default: hf with the embedded model)."""
    config = config or LMConfig()
    check_choice("backend", config.backend, tuple(BACKENDS))
    return BACKENDS[config.backend](config)
