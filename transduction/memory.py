"""Peak GPU memory of one task's TTT and inference, from the model's shape alone (no weights loaded).

`estimate_ttt_memory(dims, lora, train, longest_tokens, checkpointing)` and
`estimate_inference_memory(dims, lora, infer, longest_prompt, longest_sequence, ...)` return a
`MemoryEstimate` (named parts in bytes, total, notes); `fits(estimate, gpu)` says whether it fits a
`transduction.gpus.GPU`. `plan --gpu` and the budgeted run call the same functions.

Precision (as `transduction.train` runs on CUDA): base weights in the training dtype (bf16 for
train.dtype auto/bfloat16, 2 bytes; fp32 for float32), activations in that dtype under autocast;
peft keeps LoRA weights in fp32 (`autocast_adapter_dtype`), so each LoRA parameter costs 4 (weight)
+ 4 (grad) + 8 (AdamW exp_avg, exp_avg_sq) + 2 (autocast's bf16 copy) bytes.

Activations per token, T = rows x width of the largest padded batch (batches are length-sorted,
`train.length_batches`), a = activation bytes, d hidden, q = heads x head_dim, kv = kv_heads x
head_dim, f = MLP width, r = rank, h = heads, V = vocabulary. What autograd saves, per decoder layer:
- two RMSNorms, each its fp32 input and 1/rms: 2 (4d + 4) (HF upcasts to fp32 inside the norm);
- SDPA (flash / memory-efficient kernels, no s x s matrix): q, k, v, output and fp32 log-sum-exp:
  a (2q + 2kv) + 4h. k and v stay at kv width only without a padding mask (transformers then passes
  GQA to SDPA); a batch of several rows has one, so transformers repeats k and v to every head
  (a (4q) + 4h) and SDPA saves its own float copy of the bool mask in every layer (rows x width^2 x a);
- the gated MLP: gate output (SiLU input), SiLU output, up output: 3 a f;
- each LoRA module: its input and its A output: a (in + r). Under autocast every module saves its own
  bf16 copy of its input (peft casts the input to the adapter's fp32, autocast casts it back); without
  autocast (fp32) modules reading the same tensor share it (q/k/v the first norm's output, gate/up
  the second's). Frozen base projections save no activation (autograd keeps only the weight to pass
  the gradient on).
Per token outside the layers: RoPE cos and sin (2 a head_dim), the final norm (4d + 4), an lm_head
LoRA's input and A output, the loss's fp32 log-softmax (4V) and the targets (8). At the start of the
backward pass two more fp32 V-wide tensors live (the gradient arriving at the log-softmax and the one
it returns): +8V, the peak of an un-checkpointed step.

These terms are the standard per-layer accounting of Korthikanti et al. 2022 ("Reducing Activation
Recomputation in Large Transformer Models", sbh(34 + 5as/h) for GPT layers) redone for this code path:
flash/SDPA attention removes the 5as/h score term, frozen weights remove the inputs saved for weight
gradients, and SwiGLU, GQA, RMSNorm and LoRA change the rest. They were checked against a small random Llama on CPU
(bench/memory_estimate.py, bench/results/memory_estimate.md): against the tensors autograd saves, the
estimate is 0-7% above (up to 15% with checkpointing and a padding mask), never below by more than
0.5%; against the process's peak memory per token of a whole step (forward, backward, AdamW), 0-2.5%
above without checkpointing and 0-24% above with it.

With gradient checkpointing (one checkpoint per decoder layer, as transformers'
`gradient_checkpointing_enable` does), only each layer's input (a d per token) is kept; the backward
pass recomputes one layer at a time, so the peak is the kept inputs (and the bool mask) plus the
larger of the head's 8V and one layer's recomputed activations with their gradients: 1.5 times the
layer's saved bytes (1.13 in fp32 and 1.28 under bf16 autocast measured on CPU; the rest is margin).

Inference (per task, after TTT): weights, the adapter (fp32 in place on the hf backend; bf16 slots on
vLLM, `lm.vllm.max_loras` of them), the KV cache (2 x layers x kv x a per token) of the sequences
decoded at once (hf: infer.batch_size rows padded to the longest prompt + answer budget; vLLM: in
blocks of 16 tokens), the prefill's working set of one layer (3 a f + a (d + q + 2kv) per prompt
token; HF generation keeps only the last position's logits) and, on hf with several rows, the prefill's
padding mask (bool, and SDPA's float copy). Augmentation scoring (infer.score_views) adds the prompt's full logits (a V per prompt
token) and a scoring chunk (2048 continuation tokens x V x (a + 8)) plus a copy of the prompt's KV
cache per chunk row; DFS (infer.dfs_views) holds `dfs_max_branches` copies of the sequence's KV
cache, twice while re-indexing it. `fits` keeps 1 GiB for the CUDA context and kernels and 5% for
allocator fragmentation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from transduction.config import InferConfig, LoraConfig, TrainConfig
from transduction.gpus import GPU
from transduction.model_dims import ModelDims

GIB = 2**30
CONTEXT_RESERVE = 1 * GIB        # CUDA context, cuBLAS/cuDNN workspaces: outside PyTorch's allocator
FRAGMENTATION = 0.05             # of the card, lost to the caching allocator's fragmentation
SCORE_TOKEN_BUDGET = 2048        # continuation tokens per scoring pass (arc_lm.hf_backend)
VLLM_BLOCK = 16                  # vLLM's KV-cache block size in tokens
RECOMPUTE_FACTOR = 1.5           # peak of one checkpointed layer's backward / its saved bytes (1.13-1.28 measured)
# peft module name -> the tensor it reads (modules reading the same tensor share it without autocast)
_INPUT_GROUP = {"q_proj": "attn_in", "k_proj": "attn_in", "v_proj": "attn_in", "o_proj": "attn_out",
                "gate_proj": "mlp_in", "up_proj": "mlp_in", "down_proj": "mlp_mid"}
Backend = Literal["hf", "vllm"]


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one phase, as named parts that add up to `total`."""

    kind: str                                   # "ttt" or "inference"
    parts: tuple[tuple[str, int], ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(b for _, b in self.parts)

    def part(self, name: str) -> int:
        return dict(self.parts)[name]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "total_bytes": self.total, "total_gib": round(self.total / GIB, 2),
                "parts_gib": {n: round(b / GIB, 3) for n, b in self.parts}, "notes": list(self.notes)}


def usable_bytes(gpu: GPU) -> int:
    """What a process can fill on `gpu`: its memory less the context reserve and fragmentation."""
    return int(gpu.memory_bytes * (1 - FRAGMENTATION)) - CONTEXT_RESERVE


def fits(estimate: MemoryEstimate, gpu: GPU) -> bool:
    return estimate.total <= usable_bytes(gpu)


def _check_modules(lora: LoraConfig) -> None:
    unknown = [m for m in lora.target_modules if m not in _INPUT_GROUP]
    if unknown:
        raise ValueError(f"memory estimate: LoRA target modules {unknown} are not Llama-style projections "
                         f"({', '.join(_INPUT_GROUP)})")


def lora_param_count(dims: ModelDims, lora: LoraConfig) -> int:
    """Trainable parameters of the adapter: r (in + out) per targeted projection (and lm_head)."""
    _check_modules(lora)
    shapes = dims.linear_shapes()
    per_layer = sum(lora.rank * sum(shapes[m]) for m in lora.target_modules)
    head = lora.rank * (dims.hidden + dims.vocab) if lora.lm_head else 0
    return dims.layers * per_layer + head


def layer_activation_bytes(dims: ModelDims, lora: LoraConfig, act: int, autocast: bool, masked: bool = False) -> int:
    """Bytes per token one decoder layer saves for backward (see the module docstring); `masked`: a
    padding mask is passed, so k and v are repeated to the query heads."""
    _check_modules(lora)
    d, q, kv, f = dims.hidden, dims.q_dim, dims.kv_dim, dims.intermediate
    widths = {"attn_in": d, "attn_out": q, "mlp_in": d, "mlp_mid": f}
    if autocast:
        lora_inputs = sum(act * widths[_INPUT_GROUP[m]] for m in lora.target_modules)
    else:
        lora_inputs = sum(act * widths[g] for g in {_INPUT_GROUP[m] for m in lora.target_modules})
    lora_a = act * lora.rank * len(lora.target_modules)
    norms = 2 * (4 * d + 4)
    attention = act * (2 * q + 2 * (q if masked else kv)) + 4 * dims.heads
    mlp = 3 * act * f
    return norms + lora_inputs + lora_a + attention + mlp


def _model_activation_bytes(dims: ModelDims, lora: LoraConfig, act: int) -> int:
    """Bytes per token saved outside the decoder layers, the loss's log-softmax included."""
    head_lora = act * (dims.hidden + lora.rank) if lora.lm_head else 0
    return 2 * act * dims.head_dim + (4 * dims.hidden + 4) + head_lora + 4 * dims.vocab + 8


def _dtype_bytes(train: TrainConfig) -> tuple[int, bool]:
    """(bytes per weight and activation, autocast?) on CUDA for train.dtype."""
    return (4, False) if train.dtype == "float32" else (2, True)


def estimate_ttt_memory(dims: ModelDims, lora: LoraConfig, train: TrainConfig, longest_tokens: int,
                        checkpointing: bool = False, rows: int | None = None) -> MemoryEstimate:
    """Peak memory of one TTT step on the largest batch: `rows` (default train.batch_size) examples
    padded to `longest_tokens`."""
    if longest_tokens < 1:
        raise ValueError(f"longest_tokens must be >= 1, got {longest_tokens}")
    rows = train.batch_size if rows is None else rows
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    act, autocast = _dtype_bytes(train)
    tokens, masked = rows * longest_tokens, rows > 1
    n_lora = lora_param_count(dims, lora)
    layer = layer_activation_bytes(dims, lora, act, autocast, masked)
    mask = rows * longest_tokens * longest_tokens * act if masked else 0  # one layer's float copy
    head = tokens * 8 * dims.vocab
    parts = [("weights", int(dims.n_params * act)),
             ("lora weights+grads+adamw", n_lora * (16 + (2 if autocast else 0))),
             ("activations outside layers", tokens * _model_activation_bytes(dims, lora, act))]
    if checkpointing:
        bool_mask = rows * longest_tokens * longest_tokens if masked else 0  # kept as a checkpoint input
        parts += [("checkpointed layer inputs", tokens * dims.layers * act * dims.hidden + bool_mask),
                  ("backward peak", max(head, int(RECOMPUTE_FACTOR * (tokens * layer + mask))))]
    else:
        parts += [("layer activations", dims.layers * (tokens * layer + mask)), ("backward peak", head)]
    notes = [f"{n_lora / 1e6:.1f}M LoRA parameters; batch {rows} x {longest_tokens} tokens"
             + (" (padding mask: k, v repeated to every head, a float mask per layer)" if masked else "")]
    return MemoryEstimate("ttt", tuple(parts), tuple(notes))


def estimate_inference_memory(dims: ModelDims, lora: LoraConfig, infer: InferConfig, longest_prompt: int,
                              longest_sequence: int, backend: Backend = "hf", rows: int | None = None,
                              max_loras: int = 4, dtype_bytes: int = 2) -> MemoryEstimate:
    """Peak memory of one task's inference: `rows` (default infer.batch_size) sequences of up to
    `longest_sequence` tokens (prompt + answer budget) decoded at once, then scoring or DFS if on."""
    if not 1 <= longest_prompt <= longest_sequence:
        raise ValueError(f"need 1 <= longest_prompt <= longest_sequence, got {longest_prompt}, {longest_sequence}")
    if backend not in ("hf", "vllm"):
        raise ValueError(f"backend must be 'hf' or 'vllm', got {backend!r}")
    rows = infer.batch_size if rows is None else rows
    a, v = dtype_bytes, dims.vocab
    kv_token = 2 * dims.layers * dims.kv_dim * a
    n_lora = lora_param_count(dims, lora)
    seq = math.ceil(longest_sequence / VLLM_BLOCK) * VLLM_BLOCK if backend == "vllm" else longest_sequence
    width = 3 * dims.intermediate + dims.hidden + dims.q_dim + 2 * dims.kv_dim
    generation = [("kv cache", rows * seq * kv_token), ("prefill working set", rows * longest_prompt * a * width)]
    if backend == "hf" and rows > 1:
        generation.append(("padding mask", rows * longest_prompt * longest_prompt * (1 + a)))
    phases = {"generation": generation}
    if infer.score_views > 0 and backend == "hf":
        chunk_rows = max(1, min(rows, SCORE_TOKEN_BUDGET // max(1, longest_sequence - longest_prompt)))
        phases["scoring"] = [("prompt logits", longest_prompt * v * a),
                             ("scoring chunk logits", SCORE_TOKEN_BUDGET * v * (a + 8)),
                             ("scoring KV copies", (1 + chunk_rows) * longest_prompt * kv_token)]
    if infer.dfs_views > 0:
        phases["dfs"] = [("prompt logits", longest_prompt * v * a),
                         ("dfs branches' KV cache", 2 * infer.dfs_max_branches * longest_sequence * kv_token)]
    phase = max(phases, key=lambda k: sum(b for _, b in phases[k]))  # the phases run one after another
    parts = [("weights", int(dims.n_params * a)),
             ("adapter", n_lora * 4 if backend == "hf" else max_loras * n_lora * a), *phases[phase]]
    notes = [f"{rows} sequence(s) of {longest_sequence} tokens at once ({backend}); peak phase: {phase}"]
    if backend == "vllm":
        notes.append("vLLM reserves gpu_memory_utilization x memory up front and queues sequences beyond its KV "
                     "pool: fewer rows at once, not an error")
    return MemoryEstimate("inference", tuple(parts), tuple(notes))


def longest_fitting_ttt(dims: ModelDims, lora: LoraConfig, train: TrainConfig, gpu: GPU, checkpointing: bool,
                        rows: int | None = None, limit: int = 1 << 17) -> int:
    """The longest padded example (tokens) whose TTT step fits `gpu` at `rows` rows; 0 if none does.
    The answer for `data.max_tokens` on that card (the estimate grows with the width)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(estimate_ttt_memory(dims, lora, train, mid, checkpointing, rows), gpu):
            lo = mid
        else:
            hi = mid - 1
    return lo


def largest_batch(lengths: list[int], batch_size: int) -> tuple[int, int]:
    """(rows, width) of the TTT batch with the most padded tokens, as `train.length_batches` cuts
    them (length-sorted chunks; the shuffle only reorders the chunks); (0, 0) without examples."""
    import numpy as np

    from transduction.train import length_batches

    best = (0, 0)
    for idx in length_batches(lengths, batch_size, np.random.default_rng(0)):
        shape = (len(idx), max(lengths[i] for i in idx))
        best = max(best, shape, key=lambda s: (s[0] * s[1], s[1]))
    return best


def kv_sequences_that_fit(dims: ModelDims, sequence: int, free_bytes: int, dtype_bytes: int = 2) -> int:
    """How many sequences of `sequence` tokens a KV pool of `free_bytes` holds (vLLM blocks of 16)."""
    per_seq = math.ceil(sequence / VLLM_BLOCK) * VLLM_BLOCK * 2 * dims.layers * dims.kv_dim * dtype_bytes
    return max(0, free_bytes // per_seq)
