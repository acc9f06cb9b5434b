"""`LMConfig`: which model, which backend, on what device; plus vLLM and OpenAI-server settings.

Frozen and validated on construction; built from a TOML table with `arc_core.config.build`, e.g.

    [lm]
    model = "smollm2-135m"       # embedded default, an HF directory, a .gguf file or a hub id
    backend = "hf"               # "hf" | "vllm" | "openai"
    [lm.openai]
    base_url = "http://127.0.0.1:8000/v1"
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from arc_lm.models import DEFAULT_MODEL, DEVICES, DTYPES

BACKEND_NAMES = ("hf", "vllm", "openai")


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError with a "did you mean" hint unless `value` is one of `choices`."""
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown {what} {value!r}{hint}; choose one of {', '.join(choices)}")


@dataclass(frozen=True)
class VLLMSettings:
    """Arguments of `vllm.LLM` (only read by the vllm backend; defaults per device: arc_lm.vllm_engine)."""

    gpu_memory_utilization: float = 0.0  # 0 = auto: 0.9 on a GPU; on CPU (fraction of RAM) computed from free RAM
    kv_cache_gib: float = 0.0  # KV-cache size in GiB; 0 = auto: vLLM's sizing on a GPU, computed on CPU
    max_model_len: int = 8192
    enable_lora: bool = True
    max_lora_rank: int = 64
    max_loras: int = 4  # adapters resident at once (vLLM swaps the rest in)
    enable_prefix_caching: bool = True
    enforce_eager: bool = False
    tensor_parallel_size: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.gpu_memory_utilization <= 1:
            raise ValueError(f"vllm.gpu_memory_utilization must be in [0, 1] (0 = auto), got {self.gpu_memory_utilization}")
        if self.kv_cache_gib < 0:
            raise ValueError(f"vllm.kv_cache_gib must be >= 0 (0 = auto), got {self.kv_cache_gib}")
        for name in ("max_model_len", "max_lora_rank", "max_loras", "tensor_parallel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"vllm.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class OpenAISettings:
    """An OpenAI-compatible HTTP server (vllm serve, llama.cpp server, a hosted API)."""

    base_url: str = "http://127.0.0.1:8000/v1"  # endpoints are <base_url>/chat/completions, /completions
    model: str = ""  # model name sent to the server; "" = LMConfig.model
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable holding the key ("" = none)
    concurrency: int = 4  # requests in flight at once
    max_retries: int = 4  # retries on 429 / 5xx / connection errors
    backoff_s: float = 0.5  # first retry delay, doubled each retry (Retry-After wins when given)
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"openai.base_url must start with http:// or https://, got {self.base_url!r}")
        if self.concurrency < 1:
            raise ValueError(f"openai.concurrency must be >= 1, got {self.concurrency}")
        if self.max_retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("openai.max_retries and backoff_s must be >= 0 and timeout_s > 0")


@dataclass(frozen=True)
class LMConfig:
    """The language model and backend every subsystem uses."""

    model: str = DEFAULT_MODEL  # embedded name, HF directory, .gguf file or hub id
    backend: str = "hf"
    device: str = "auto"  # auto = cuda if available else cpu (hf backend)
    dtype: str = "auto"  # auto = bfloat16 on CUDA (vllm: the model's dtype), float32 on CPU
    batch_size: int = 8  # sequences per forward batch (hf backend)
    max_loaded_adapters: int = 8  # peft adapters kept in memory by the hf backend (LRU)
    vllm: VLLMSettings = field(default_factory=VLLMSettings)
    openai: OpenAISettings = field(default_factory=OpenAISettings)

    def __post_init__(self) -> None:
        check_choice("backend", self.backend, BACKEND_NAMES)
        if self.device.split(":")[0] not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")
        check_choice("dtype", self.dtype, DTYPES)
        if not self.model:
            raise ValueError("model must be a non-empty name or path")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_loaded_adapters < 1:
            raise ValueError(f"max_loaded_adapters must be >= 1, got {self.max_loaded_adapters}")
