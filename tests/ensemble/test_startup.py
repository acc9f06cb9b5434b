"""What a run imports before its first stage: a process that loads no model never imports torch
(about 2 s of start-up on the reference machine), which matters most to short `--programs` imports
and to Ray drivers, whose actors compute."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ensemble.config import build_run_config
from ensemble.runner import _runs_a_model_here

from .conftest import REPO


@pytest.mark.parametrize("overrides, expected", [
    ([], True),  # transduction on, induction samples
    (["ensemble.transduction=false"], True),  # induction still samples its model here
    (["ensemble.transduction=false", "induction.n_samples=0"], False),  # a --programs import: sandbox only
    (["ensemble.induction=false", "induction.n_samples=0"], True),  # transduction trains here
    (["ray.enabled=true"], False),  # the actors load the models and seed their own processes
])
def test_which_runs_load_a_model_in_this_process(overrides, expected):
    assert _runs_a_model_here(build_run_config("cpu-small", overrides=overrides)) is expected


def test_programs_import_without_sampling_never_imports_torch(tmp_path, tiny_inputs):
    cfg, progs = tiny_inputs
    args = ["run", "--dataset", "arc1/training", "--tasks", "6150a2bd", "--out", str(tmp_path / "run"),
            "--config", str(cfg), "--programs", str(progs), "--no-transduction", "--set", "induction.n_samples=0"]
    code = f"import sys\nfrom ensemble.cli import main\nrc = main({args!r})\nprint('torch' in sys.modules, rc)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.stdout.split()[-2:] == ["False", "0"], proc.stderr[-3000:]
    assert (tmp_path / "run" / "submission.json").is_file()
