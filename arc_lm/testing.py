"""Test helpers: a tiny randomly initialised Llama with the embedded tokenizer.

`tiny_llama_dir(path)` writes a ~6 MB `LlamaForCausalLM` (2 layers, hidden 64, 2 heads of
size 32, bf16 weights, tied embeddings) plus the embedded SmolLM2 tokenizer (chat template
included) to `path` in Hugging Face format, so every backend loads it by path. Same seed, same
weights. Unit tests of every package use it through the `tiny_model_dir` fixture in
tests/conftest.py instead of the real model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from arc_lm.cache import atomic_dir, is_complete
from arc_lm.models import DEFAULT_MODEL, load_tokenizer


def tiny_llama_config(tokenizer: Any, hidden_size: int = 64, num_layers: int = 2) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=hidden_size // 2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def tiny_llama_dir(path: str | Path, seed: int = 0, tokenizer: Any = None) -> Path:
    """Write the tiny random Llama + embedded tokenizer to `path` (atomically) and return it.

    If `path` already holds a complete copy it is returned unchanged.
    """
    import torch
    from transformers import LlamaForCausalLM

    path = Path(path)
    if is_complete(path):
        return path
    tok = tokenizer if tokenizer is not None else load_tokenizer(DEFAULT_MODEL)

    def build(tmp: Path) -> None:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_llama_config(tok)).to(torch.bfloat16)
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))

    return atomic_dir(path, build)
