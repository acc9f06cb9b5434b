"""induce_task end to end with a scripted backend and the real sandbox; refinement; result round trip."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from arc_core.grid import Grid
from arc_lm.api import FinishReason, GenerationResult
from induction.config import InductionConfig
from induction.pipeline import InductionResult, induce_task
from induction.samples import JsonlSampleLog, MemorySampleLog
from sandbox import Sandbox, SandboxConfig

FLIP_A = "Rule: flip vertically.\n```python\nimport numpy as np\n\ndef transform(grid):\n    # flip\n    return np.flipud(grid)\n```"
FLIP_B = "```python\nimport numpy as np\ndef transform(grid):\n    '''Upside down.'''\n    return np.flipud(grid)\n```\nDone."
FLIP_ROWS = "```python\ndef transform(grid):\n    return grid[::-1]\n```"
IDENT = "```python\ndef transform(grid):\n    return grid\n```"
BROKEN = "```python\ndef transform(grid)\n    return grid\n```"
PROSE = "I do not know."


@dataclass
class ScriptedBackend:
    """Answers the i-th sample of a task prompt with script[i % len]; refinement prompts get `fix`."""

    script: tuple[str, ...]
    fix: str = FLIP_ROWS
    name: str = "scripted"
    calls: int = 0
    drawn: int = 0  # task-prompt samples answered so far (sample i gets script[i % len])
    refinement_requests: list = field(default_factory=list)

    def generate(self, requests):
        out = []
        for r in requests:
            self.calls += 1
            if r.messages[-1].role == "user" and "Your program is not correct" in r.messages[-1].content:
                self.refinement_requests.append(r)
                texts = tuple(self.fix for _ in range(r.n))
            else:
                texts = tuple(self.script[(self.drawn + j) % len(self.script)] for j in range(r.n))
                self.drawn += r.n
            out.append(GenerationResult(texts, 10, tuple(5 for _ in texts), tuple(FinishReason.STOP for _ in texts)))
        return out


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(timeout_s=2.0)) as sb:
        yield sb


def test_induce_task_votes_dedupes_and_logs(flip_task, sandbox, tmp_path):
    backend = ScriptedBackend((FLIP_A, FLIP_B, IDENT, BROKEN, PROSE, FLIP_ROWS))
    cfg = InductionConfig(n_samples=12, batch_size=5)
    log = JsonlSampleLog(tmp_path / "samples.jsonl")
    result = induce_task(flip_task, backend, sandbox, cfg, log)
    assert len(result.samples) == 12 and len(log.task_records(flip_task.id)) == 12
    c = result.counts()
    assert c["with_program"] == 8 and c["no_program:syntax_error"] == 2 and c["no_program:no_code"] == 2
    # FLIP_A and FLIP_B normalise alike; FLIP_ROWS is a different program; IDENT is wrong.
    mult = sorted(p.multiplicity for p in result.programs)
    assert mult == [2, 2, 4] and len(result.verified_ids) == 2
    for i, test_input in enumerate(flip_task.test_inputs):
        (best,) = result.candidates[i]  # both verified programs agree: one candidate, weight 6
        assert best.grid == Grid.from_array(test_input.to_array()[::-1])
        assert best.weight == 6.0 and len(best.provenance) == 2
    flip_ab = next(p for p in result.programs if p.multiplicity == 4)
    assert best.provenance[0] == flip_ab.id
    assert {s.program_id for s in result.samples if s.program_id} == {p.id for p in result.programs}
    # Rerun: nothing is resampled and the result is the same.
    calls = backend.calls
    again = induce_task(flip_task, backend, sandbox, cfg, JsonlSampleLog(tmp_path / "samples.jsonl"))
    assert backend.calls == calls
    assert again.candidates == result.candidates and again.programs == result.programs
    # JSON round trip of the whole result.
    restored = InductionResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored.to_dict() == result.to_dict() and restored.candidates == result.candidates


def test_import_only_goes_through_the_same_path(flip_task, sandbox):
    log = MemorySampleLog()
    texts = [FLIP_ROWS, "def transform(grid):\n    return grid[::-1]\n", IDENT, PROSE]
    result = induce_task(flip_task, None, sandbox, InductionConfig(), log, imported=texts, import_hash="abc")
    assert len(result.samples) == 4 and all(s.source == "import" for s in result.samples)
    assert [p.multiplicity for p in result.programs] == [2, 1] and len(result.verified_ids) == 1
    assert result.candidates[0][0].weight == 2.0
    with pytest.raises(ValueError, match="import_hash"):
        induce_task(flip_task, None, sandbox, InductionConfig(), log, imported=texts)


def test_refinement_records_round_and_parent(flip_task, sandbox):
    backend = ScriptedBackend((IDENT, BROKEN))
    log = MemorySampleLog()
    cfg = InductionConfig(n_samples=4, batch_size=4, refine_rounds=2, refine_programs=1, refine_samples=2)
    result = induce_task(flip_task, backend, sandbox, cfg, log)
    assert len(backend.refinement_requests) == 1  # round 2 skipped: something is verified
    req = backend.refinement_requests[0]
    assert req.messages[-2].role == "assistant" and "return grid" in req.messages[-2].content
    ident = next(p for p in result.programs if p.round == 0)
    fixed = next(p for p in result.programs if p.round == 1)
    assert result.verified_ids == [fixed.id] and fixed.multiplicity == 2
    refined = [r for r in log.task_records(flip_task.id) if r.round == 1]
    assert len(refined) == 2 and all(r.parent == ident.id for r in refined)
    assert len(result.samples) == 6


def test_no_samples_no_candidates(flip_task, sandbox):
    result = induce_task(flip_task, None, sandbox, InductionConfig(n_samples=0), MemorySampleLog())
    assert result.programs == () and result.candidates == {0: [], 1: []}
