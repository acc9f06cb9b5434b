"""Models made of a base model plus a LoRA adapter: shipped ones by name, and adapter directories.

An *embedded adapter model* (`EMBEDDED_ADAPTERS`) is a peft adapter directory shipped inside this
package (`arc_lm/embedded/<name>/`: `adapter_config.json`, `adapter_model.safetensors`, the
training provenance and configuration) over an embedded base model. `smollm2-135m-arc` is
SmolLM2-135M-Instruct plus a LoRA adapter that `arc-hybrid finetune` trained on re-ARC tasks with
small grids (bench/results/finetune.md says how, and what it does).

Any adapter directory (a peft `adapter_config.json` and no `config.json`, e.g. `finetune`'s
`OUT/adapter`) resolves the same way. The first use merges the adapter into its base
(`base_model_name_or_path`, itself resolved by `arc_lm.models.resolve_model`) with peft's
`merge_and_unload` on the CPU in float32 and caches the merged model as an ordinary Hugging Face
directory (`models/merged-<name>-<digest>-<format>/` under the cache root), keyed by a hash of the
adapter's files, so every backend (hf, vLLM) and TTT load it like any other model. The
provenance file travels with it into the merged directory (arc_core.provenance).

This module does not import `arc_lm.models` (which imports it): the base is resolved through the
function `merged_model_dir` is given.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arc_lm.cache import atomic_dir, cache_root, is_complete

MERGE_FORMAT = "v1"  # bump when the layout of merged model directories changes
ADAPTER_CONFIG = "adapter_config.json"
CARRIED = ("training_provenance.json", "finetune_config.json")  # copied next to the merged weights


@dataclass(frozen=True)
class EmbeddedAdapter:
    """A LoRA adapter shipped in this package over an embedded base model."""

    name: str
    directory: str        # under arc_lm/embedded/
    description: str


EMBEDDED_ADAPTERS: dict[str, EmbeddedAdapter] = {
    "smollm2-135m-arc": EmbeddedAdapter(
        "smollm2-135m-arc", "smollm2-135m-arc",
        "SmolLM2-135M-Instruct + a LoRA adapter fine-tuned by `arc-hybrid finetune` on re-ARC tasks (grids <= 10x10)"),
}


def embedded_adapter_dir(name: str) -> Path:
    """The shipped adapter directory of embedded adapter model `name`."""
    if name not in EMBEDDED_ADAPTERS:
        raise KeyError(f"{name!r} is not an embedded adapter model ({', '.join(EMBEDDED_ADAPTERS)})")
    path = Path(__file__).parent / "embedded" / EMBEDDED_ADAPTERS[name].directory
    if not (path / ADAPTER_CONFIG).is_file() or not (path / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"embedded model {name!r}: its adapter files are missing from {path}; "
                                "reinstall arc-hybrid from a complete checkout (`make install`)")
    return path


def is_adapter_dir(path: Path) -> bool:
    """A peft adapter directory that is not itself a full model."""
    return path.is_dir() and (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()


def adapter_base(adapter: Path) -> str:
    """The base model an adapter directory names (`base_model_name_or_path`)."""
    try:
        base = json.loads((adapter / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except json.JSONDecodeError as e:
        raise ValueError(f"{adapter / ADAPTER_CONFIG}: not valid JSON ({e})") from e
    if not base:
        raise ValueError(f"{adapter / ADAPTER_CONFIG}: no base_model_name_or_path; cannot tell which model it adapts")
    return str(base)


def adapter_digest(adapter: Path) -> str:
    """SHA-256 over the adapter directory's files (names and bytes), sorted by name."""
    h = hashlib.sha256()
    for f in sorted(p for p in adapter.iterdir() if p.is_file()):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def merged_cache_dir(adapter: Path, name: str | None = None) -> Path:
    label = name or adapter.resolve().name
    return cache_root() / "models" / f"merged-{label}-{adapter_digest(adapter)[:16]}-{MERGE_FORMAT}"


def merged_model_dir(adapter: Path, resolve_base: Callable[[str], Path], name: str | None = None) -> Path:
    """The merged model of `adapter` over its base (built and cached on first use)."""
    base_name = adapter_base(adapter)

    def build(tmp: Path) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base_dir = resolve_base(base_name)
        if is_adapter_dir(base_dir):
            raise ValueError(f"{adapter}: its base {base_name} is itself an adapter; merge that one first")
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        merged.save_pretrained(str(tmp), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(str(tmp))
        for extra in CARRIED:
            if (adapter / extra).is_file():
                shutil.copyfile(adapter / extra, tmp / extra)

    return atomic_dir(merged_cache_dir(adapter, name), build)


def merged_state(name: str) -> dict[str, object]:
    """Where an embedded adapter model's files are and whether its merged copy is built."""
    adapter = embedded_adapter_dir(name)
    target = merged_cache_dir(adapter, name)
    weights = adapter / "adapter_model.safetensors"
    return {"name": name, "kind": "embedded base + LoRA adapter", "base": adapter_base(adapter),
            "adapter_dir": str(adapter), "adapter_mb": round(weights.stat().st_size / 2**20, 1),
            "model_dir": str(target), "model_cached": is_complete(target),
            "description": EMBEDDED_ADAPTERS[name].description}
