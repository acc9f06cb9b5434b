"""The shape of a Llama-style decoder, for cost and memory estimates without loading weights.

`model_dims(model)` reads a local directory's `config.json` (hidden size, layers, attention and
key-value heads, head dimension, MLP width, vocabulary, tied embeddings), or, for the checkpoints this
project's presets name and no weights are on disk (`plan` offline), the same fields from
`KNOWN_DIMS`: the released checkpoints' config.json values (Llama-3-8B for marc's and BARC's 8B
fine-tunes, which keep its shape; Llama-3.2-1B; SmolLM2-135M, the embedded model). Their parameter
counts reproduce the model cards' 8.03B, 1.24B and 135M, which a test checks.

Caveat: the count is that of a dense Llama-style model (attention q/k/v/o, gated MLP, embeddings,
untied or tied head); norms and biases (a few hundred thousand parameters) are left out, and
mixture-of-experts or other architectures are not modelled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelDims:
    """A Llama-style decoder's dimensions (the fields of a Hugging Face config.json)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    head_dim: int = 0                 # 0: hidden // heads
    tied_embeddings: bool = False
    max_positions: int = 0            # 0: unknown

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "heads", "kv_heads", "intermediate", "vocab"):
            if getattr(self, name) < 1:
                raise ValueError(f"model dims: {name} must be >= 1, got {getattr(self, name)}")
        if self.heads % self.kv_heads:
            raise ValueError(f"model dims: heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.head_dim == 0:
            if self.hidden % self.heads:
                raise ValueError(f"model dims: hidden {self.hidden} is not divisible by heads {self.heads}; "
                                 "give head_dim")
            object.__setattr__(self, "head_dim", self.hidden // self.heads)

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each projection of one decoder layer, by module name."""
        d, q, kv, ff = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        return {"q_proj": (d, q), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (q, d),
                "gate_proj": (d, ff), "up_proj": (d, ff), "down_proj": (ff, d)}

    @property
    def n_params(self) -> float:
        per_layer = sum(i * o for i, o in self.linear_shapes().values())
        return float(self.layers * per_layer + self.vocab * self.hidden * (1 if self.tied_embeddings else 2))

    @classmethod
    def from_config(cls, c: dict[str, Any], where: str = "config.json") -> ModelDims:
        try:
            heads = c["num_attention_heads"]
            return cls(hidden=c["hidden_size"], layers=c["num_hidden_layers"], heads=heads,
                       kv_heads=c.get("num_key_value_heads") or heads, intermediate=c["intermediate_size"],
                       vocab=c["vocab_size"], head_dim=c.get("head_dim") or 0,
                       tied_embeddings=bool(c.get("tie_word_embeddings", False)),
                       max_positions=c.get("max_position_embeddings") or 0)
        except KeyError as e:
            raise ValueError(f"{where}: no {e.args[0]!r}; not a Llama-style decoder config") from None


_LLAMA3_8B = ModelDims(hidden=4096, layers=32, heads=32, kv_heads=8, intermediate=14336, vocab=128256,
                       max_positions=8192)
# Released checkpoints the presets name: their config.json fields (see the module docstring).
KNOWN_DIMS: dict[str, ModelDims] = {
    "ekinakyurek/marc-8B-finetuned-llama3": _LLAMA3_8B,
    "meta-llama/Meta-Llama-3-8B-Instruct": _LLAMA3_8B,
    "barc0/Llama-3.1-ARC-Potpourri-Transduction-8B": ModelDims(4096, 32, 32, 8, 14336, 128256, max_positions=131072),
    "barc0/Llama-3.1-ARC-Potpourri-Induction-8B": ModelDims(4096, 32, 32, 8, 14336, 128256, max_positions=131072),
    "meta-llama/Llama-3.2-1B-Instruct": ModelDims(2048, 16, 32, 8, 8192, 128256, head_dim=64, tied_embeddings=True,
                                                  max_positions=131072),
    "smollm2-135m": ModelDims(576, 30, 9, 3, 1536, 49152, tied_embeddings=True, max_positions=8192),
}


def model_dims(model: str) -> ModelDims:
    """Dimensions from `model`'s local config.json, else from `KNOWN_DIMS`; an adapter model (an
    embedded one such as smollm2-135m-arc, or a peft adapter directory) has its base model's."""
    from arc_lm.merged import EMBEDDED_ADAPTERS, adapter_base, embedded_adapter_dir, is_adapter_dir

    if model in EMBEDDED_ADAPTERS:
        return model_dims(adapter_base(embedded_adapter_dir(model)))
    if is_adapter_dir(Path(model)):
        return model_dims(adapter_base(Path(model)))
    cfg_path = Path(model) / "config.json"
    if cfg_path.is_file():
        return ModelDims.from_config(json.loads(cfg_path.read_text()), str(cfg_path))
    if model in KNOWN_DIMS:
        return KNOWN_DIMS[model]
    raise ValueError(f"unknown dimensions for model {model!r}: give a local model directory (with config.json) "
                     f"or one of {', '.join(KNOWN_DIMS)}")
