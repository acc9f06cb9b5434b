"""`induction.prepare`: extraction and normal forms of a large import computed ahead, over worker
processes, give exactly what the per-task path computes itself."""
from __future__ import annotations

import pytest

import induction.prepare as prep
from induction.config import InductionConfig
from induction.dedupe import normalise
from induction.extract import extract_program
from induction.pipeline import induce_task
from induction.samples import MemorySampleLog

FLIP = "import numpy as np\ndef transform(grid):\n    return np.flipud(grid)\n"
TEXTS = [
    "```python\n" + FLIP + "```", FLIP, FLIP + "# same program\n", "no code at all", "```python\ndef transform(g)\n```",
    "```python\ndef transform(grid):\n    return grid  # \ud800\n```", "x" * 900, "def transform(grid):\n    return grid[::-1]\n",
] * 40  # repeats, as in real imports


@pytest.mark.parametrize("workers", [1, 2])
def test_prepare_equals_extracting_text_by_text(workers, monkeypatch):
    monkeypatch.setattr(prep, "MIN_PARALLEL", 4)  # use the pool even for this small input
    prepared = prep.prepare(TEXTS, max_chars=800, workers=workers)
    assert len(prepared.extractions) == 8
    for text in TEXTS:
        assert prepared.extractions[text] == extract_program(text, 800)
    assert prepared.normal_forms == {e.code: normalise(e.code) for e in prepared.extractions.values() if e.code}


def test_induce_task_with_prepared_imports_is_unchanged(flip_task, monkeypatch):
    """The result does not depend on whether extraction happened ahead, in worker processes."""
    from sandbox import Sandbox, SandboxConfig

    monkeypatch.setattr(prep, "MIN_PARALLEL", 4)
    cfg = InductionConfig(n_samples=0, max_response_chars=800)
    with Sandbox(SandboxConfig(timeout_s=5.0)) as sandbox:
        plain = induce_task(flip_task, None, sandbox, cfg, MemorySampleLog(), imported=TEXTS, import_hash="h")
        ahead = induce_task(flip_task, None, sandbox, cfg, MemorySampleLog(), imported=TEXTS, import_hash="h",
                            prepared=prep.prepare(TEXTS, 800, workers=2))
    assert ahead.samples == plain.samples and ahead.programs == plain.programs
    assert ahead.candidates == plain.candidates and len(plain.verified_ids) == 2


def test_workers_setting_is_validated():
    with pytest.raises(ValueError, match="workers"):
        InductionConfig(workers=-1)
    assert prep.resolve_workers(0) >= 1 and prep.resolve_workers(3) == 3
