"""Peak GPU memory of one TTT / fine-tuning step, estimated from the model's shape (for `plan`).

A rough, documented upper estimate for a dense Llama-style decoder trained as `transduction.train.fit`
does on CUDA: bf16 weights, LoRA weights (peft keeps them in float32) with their gradients and AdamW's
two moments (16 bytes per trainable parameter; full fine-tuning: every weight, plus bf16 gradients),
and for the longest example of a batch of `train.batch_size`:
- activations kept for the backward pass, bf16, per token and layer: the attention block's inputs and
  outputs (8 x hidden plus 2 x the key/value width) and the SwiGLU block's four intermediate tensors
  (4 x intermediate); attention scores are not stored (PyTorch SDPA / flash attention). With
  `train.activation_checkpointing` only each layer's input (hidden) stays, plus one layer's full set
  while it is recomputed;
- the logits over the vocabulary for every position: bf16 logits, their float32 copy for the loss and
  its gradient (10 bytes per position and vocabulary entry), which `fit` computes for all positions.
Not counted: the CUDA context and allocator fragmentation (add a few GiB), optimizer fusion buffers.
Shapes come from a local config.json or from `KNOWN_SHAPES` (the checkpoints the presets name).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from transduction.config import LoraConfig, TrainConfig

GIB = 2**30


@dataclass(frozen=True)
class ModelShape:
    """What the estimates need of a Llama-style model."""

    layers: int
    hidden: int
    intermediate: int
    vocab: int
    heads: int
    kv_heads: int
    tied_embeddings: bool = False

    @property
    def kv_width(self) -> int:
        return self.hidden * self.kv_heads // self.heads

    @property
    def params(self) -> float:
        d, kv = self.hidden, self.kv_width
        per_layer = 2 * d * d + 2 * d * kv + 3 * d * self.intermediate
        return float(self.layers * per_layer + self.vocab * d * (1 if self.tied_embeddings else 2))

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each per-layer linear module, by its Llama name."""
        d, kv, ff = self.hidden, self.kv_width, self.intermediate
        return {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
                "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}


_LLAMA3_8B = ModelShape(32, 4096, 14336, 128256, 32, 8)
KNOWN_SHAPES: dict[str, ModelShape] = {  # from the checkpoints' config.json files (model cards)
    "ekinakyurek/marc-8B-finetuned-llama3": _LLAMA3_8B,
    "barc0/Llama-3.1-ARC-Potpourri-Transduction-8B": _LLAMA3_8B,
    "barc0/Llama-3.1-ARC-Potpourri-Induction-8B": _LLAMA3_8B,
    "meta-llama/Meta-Llama-3-8B-Instruct": _LLAMA3_8B,
    "meta-llama/Llama-3.2-1B-Instruct": ModelShape(16, 2048, 8192, 128256, 32, 8, tied_embeddings=True),
    "smollm2-135m": ModelShape(30, 576, 1536, 49152, 9, 3, tied_embeddings=True),
}


def model_shape(model: str) -> ModelShape | None:
    """The shape of `model` from a local config.json (an adapter directory: its base's), else
    `KNOWN_SHAPES` (an embedded adapter model: its base's), else None."""
    from arc_lm.merged import EMBEDDED_ADAPTERS, adapter_base, embedded_adapter_dir, is_adapter_dir

    if model in EMBEDDED_ADAPTERS:
        return model_shape(adapter_base(embedded_adapter_dir(model)))
    if is_adapter_dir(Path(model)):
        return model_shape(adapter_base(Path(model)))
    cfg_path = Path(model) / "config.json"
    if cfg_path.is_file():
        c = json.loads(cfg_path.read_text())
        return ModelShape(c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], c["vocab_size"],
                          c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"]),
                          bool(c.get("tie_word_embeddings")))
    return KNOWN_SHAPES.get(model)


def lora_params(shape: ModelShape, lora: LoraConfig) -> int:
    """Trainable parameters of the adapter: rank x (in + out) per targeted module, lm_head included."""
    shapes = shape.linear_shapes()
    per_layer = sum(lora.rank * sum(shapes[m]) for m in lora.target_modules if m in shapes)
    return shape.layers * per_layer + (lora.rank * (shape.hidden + shape.vocab) if lora.lm_head else 0)


def training_memory_gib(shape: ModelShape, lora: LoraConfig, train: TrainConfig, longest_tokens: int,
                        method: str = "lora") -> float:
    """Estimated peak memory (GiB) of a step on `train.batch_size` examples of `longest_tokens` tokens."""
    tokens = train.batch_size * longest_tokens
    weights = 2 * shape.params
    trainable = shape.params if method == "full" else lora_params(shape, lora)
    state = 16 * trainable + (2 * shape.params if method == "full" else 0)
    per_layer = 2 * (8 * shape.hidden + 2 * shape.kv_width + 4 * shape.intermediate)  # bytes per token
    if train.activation_checkpointing:
        activations = tokens * (shape.layers * 2 * shape.hidden + per_layer)
    else:
        activations = tokens * shape.layers * per_layer
    logits = tokens * shape.vocab * 10
    return (weights + state + activations + logits) / GIB
