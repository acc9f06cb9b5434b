"""Sample log and sampling: nothing is resampled; JSONL import goes through the same path."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from arc_lm.api import FinishReason, GenerationResult
from induction.config import InductionConfig
from induction.prompts import build_prompt
from induction.sample import sample_seed, sample_task
from induction.samples import JsonlSampleLog, MemorySampleLog, import_samples, read_program_file


@dataclass
class CountingBackend:
    """A scripted backend: sample text = f"r{seed}-{j}"; records every request it gets."""

    name: str = "scripted"
    requests: list = field(default_factory=list)
    calls: int = 0

    def generate(self, requests):
        self.calls += 1
        out = []
        for r in requests:
            self.requests.append(r)
            texts = tuple(f"r{r.seed}-{j}" for j in range(r.n))
            out.append(GenerationResult(texts, 11, tuple(3 + j for j in range(r.n)),
                                        tuple(FinishReason.STOP for _ in range(r.n))))
        return out


def test_sampling_batches_records_and_resumes(flip_task, tmp_path):
    cfg = InductionConfig(n_samples=5, batch_size=2, seed=100, temperature=0.5, top_p=0.9, max_new_tokens=64)
    msgs = build_prompt(flip_task, cfg.prompt_format)
    backend = CountingBackend()
    log = JsonlSampleLog(tmp_path / "s.jsonl")
    recs = sample_task(flip_task.id, msgs, 5, backend, cfg, log, prompt_format="compact")
    assert [r.index for r in recs] == [0, 1, 2, 3, 4]
    assert [r.n for r in backend.requests] == [2, 2, 1]
    assert [r.seed for r in backend.requests] == [sample_seed(100, flip_task.id, 0, None, i) for i in (0, 2, 4)]
    r0 = recs[0]
    assert r0.settings == {"temperature": 0.5, "top_p": 0.9, "max_new_tokens": 64, "seed": 100}
    assert r0.prompt_tokens == 11 and [r.completion_tokens for r in recs[:2]] == [3, 4]
    assert r0.finish_reason == "stop" and r0.backend == "scripted" and r0.text == f"r{backend.requests[0].seed}-0"
    # A rerun (fresh log object on the same file) draws nothing; asking for more draws only the rest.
    backend2 = CountingBackend()
    log2 = JsonlSampleLog(tmp_path / "s.jsonl")
    again = sample_task(flip_task.id, msgs, 5, backend2, cfg, log2, prompt_format="compact")
    assert backend2.requests == [] and again == recs
    more = sample_task(flip_task.id, msgs, 7, backend2, cfg, log2, prompt_format="compact")
    s5 = sample_seed(100, flip_task.id, 0, None, 5)
    assert [r.seed for r in backend2.requests] == [s5] and backend2.requests[0].n == 2
    assert [r.text for r in more[5:]] == [f"r{s5}-0", f"r{s5}-1"]
    # Other settings are other samples.
    backend3 = CountingBackend()
    sample_task(flip_task.id, msgs, 2, backend3, InductionConfig(n_samples=2, temperature=0.1), log2,
                prompt_format="compact")
    assert len(backend3.requests) == 1
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 9 and len({json.loads(x)["index"] for x in lines}) == 7


def test_requests_per_call_groups_batches(flip_task):
    cfg = InductionConfig(n_samples=7, batch_size=2, requests_per_call=3)
    backend = CountingBackend()
    log = MemorySampleLog()
    recs = sample_task(flip_task.id, build_prompt(flip_task, "compact"), 7, backend, cfg, log, prompt_format="compact")
    assert backend.calls == 2 and [r.n for r in backend.requests] == [2, 2, 2, 1]
    assert [r.index for r in recs] == list(range(7)) and len(log) == 7


def test_partial_last_line_is_cut(tmp_path, flip_task):
    log = JsonlSampleLog(tmp_path / "s.jsonl")
    cfg = InductionConfig(n_samples=2, batch_size=2)
    sample_task(flip_task.id, build_prompt(flip_task, "compact"), 2, CountingBackend(), cfg, log,
                prompt_format="compact")
    with open(tmp_path / "s.jsonl", "a") as f:
        f.write('{"task_id": "x", "trunc')
    log2 = JsonlSampleLog(tmp_path / "s.jsonl")
    assert log2.dropped_partial_line and len(log2) == 2
    assert (tmp_path / "s.jsonl").read_text().endswith("\n")


def test_corrupt_middle_line_is_an_error(tmp_path):
    (tmp_path / "s.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="s.jsonl:1"):
        JsonlSampleLog(tmp_path / "s.jsonl")


def test_duplicate_key_rejected(flip_task):
    log = MemorySampleLog()
    recs = import_samples("t", ["a"], "h", log)
    with pytest.raises(ValueError, match="already"):
        log.append(recs)


def test_read_program_file_and_import(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"task_id": "a", "responses": ["x", "y"]}) + "\n\n"
        + json.dumps({"task_id": "b", "code": "def transform(g):\n    return g\n"}) + "\n"
        + json.dumps({"task_id": "a", "code": ["z"]}) + "\n"
    )
    loaded = read_program_file(path)
    h, texts = loaded.file_hash, loaded.texts
    assert loaded.rejected == ()
    assert texts == {"a": ["x", "y", "z"], "b": ["def transform(g):\n    return g\n"]}
    log = MemorySampleLog()
    recs = import_samples("a", texts["a"], h, log)
    assert [r.text for r in recs] == ["x", "y", "z"] and all(r.source == "import" for r in recs)
    assert import_samples("a", texts["a"], h, log) == recs and len(log) == 3  # idempotent


@pytest.mark.parametrize("line,match", [
    ("{", "invalid JSON"),
    ('{"responses": ["x"]}', "task_id"),
    ('{"task_id": "a"}', "exactly one"),
    ('{"task_id": "a", "code": "x", "responses": []}', "exactly one"),
    ('{"task_id": "a", "code": 3}', "string or a list"),
    ('{"task_id": "a", "code": ["x", 3]}', "string or a list"),
    (b'{"task_id": "a", "code": "\xff"}', "not UTF-8 at byte 26"),
    ("[" * 100_000, "invalid JSON"),
])
def test_bad_program_file_lines_are_rejected_alone(tmp_path, line, match):
    """A bad line is a per-line failure: the good lines around it are still imported."""
    good = json.dumps({"task_id": "a", "code": "def transform(g):\n    return g\n"}).encode()
    path = tmp_path / "p.jsonl"
    path.write_bytes(good + b"\n" + (line if isinstance(line, bytes) else line.encode()) + b"\n" + good + b"\n")
    loaded = read_program_file(path)
    assert loaded.texts == {"a": ["def transform(g):\n    return g\n"] * 2}
    ((lineno, reason),) = loaded.rejected
    assert lineno == 2 and match in reason


@pytest.mark.parametrize("kwargs", [
    {"n_samples": -1}, {"batch_size": 0}, {"temperature": -0.1}, {"top_p": 0.0}, {"prompt_format": "nope"},
    {"seed": True}, {"near_miss_min_accuracy": 1.5}, {"max_candidates": 0},
])
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        InductionConfig(**kwargs)


def test_sample_zero_of_two_tasks_uses_different_seeds(flip_task):
    """Sample 0 of two tasks (and of two rounds or parents of one task) draws from unrelated seeds."""
    cfg = InductionConfig(n_samples=1, batch_size=1, seed=7, temperature=0.7)
    msgs = build_prompt(flip_task, cfg.prompt_format)
    backend = CountingBackend()
    first = sample_task("task-a", msgs, 1, backend, cfg, MemorySampleLog(), prompt_format="compact")
    second = sample_task("task-b", msgs, 1, backend, cfg, MemorySampleLog(), prompt_format="compact")
    assert backend.requests[0].seed != backend.requests[1].seed
    assert first[0].text != second[0].text
    seeds = {sample_seed(7, "task-a", 0, None, 0), sample_seed(7, "task-a", 1, None, 0),
             sample_seed(7, "task-a", 1, "prog-1", 0), sample_seed(7, "task-a", 0, None, 1)}
    assert len(seeds) == 4
    assert sample_seed(7, "task-a", 0, None, 0) == backend.requests[0].seed  # stable: a pure function
