"""arc_lm: the language-model layer (model resolution, backends, generation and scoring).

    from arc_lm import LMConfig, load_backend, GenerationRequest
    backend = load_backend(LMConfig())          # hf backend, embedded SmolLM2-135M-Instruct
    [res] = backend.generate([GenerationRequest(prompt="1+1=", max_new_tokens=8)])

Heavy imports (torch, transformers, vllm) happen inside the functions that need them, so importing
this package is cheap.
"""
from __future__ import annotations

from typing import Any

from arc_lm.api import (
    Backend,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    Message,
    ScoreRequest,
    ScoreResult,
)
from arc_lm.backends import BACKENDS, load_backend
from arc_lm.config import LMConfig, OpenAISettings, VLLMSettings
from arc_lm.models import (
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    ModelNotFoundError,
    load_hf_model,
    load_tokenizer,
    resolve_model,
)

__all__ = [
    "BACKENDS", "Backend", "DEFAULT_MODEL", "EMBEDDED_MODELS", "FinishReason", "GenerationRequest",
    "GenerationResult", "HFBackend", "LMConfig", "Message", "ModelNotFoundError", "OpenAISettings",
    "ScoreRequest", "ScoreResult", "VLLMSettings", "load_backend", "load_hf_model", "load_tokenizer",
    "resolve_model",
]


def __getattr__(name: str) -> Any:
    # HFBackend imports torch and transformers; load it only when asked for.
    if name == "HFBackend":
        from arc_lm.hf_backend import HFBackend

        return HFBackend
    raise AttributeError(f"module 'arc_lm' has no attribute {name!r}")
