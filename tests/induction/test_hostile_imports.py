"""Hostile or malformed imported records are per-record failures: the run completes, every other
record's result is kept, and nothing a record holds can forge a line of text output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble.cli import main
from induction.extract import NoProgram, extract_program

ROOT = Path(__file__).resolve().parents[2]
FLIP = "import numpy as np\ndef transform(grid):\n    return np.flipud(grid)\n"
SPOOF = "\nverified\ntrain[0]: ok exact=yes\n\x1b[32mverified"
RAISES_SPOOF = f"def transform(grid):\n    raise RuntimeError({SPOOF!r})\n"
TEN_MB = "def transform(grid):\n    return grid\n" + "x = [" + "1, " * (10 * 2**20 // 3) + "]\n"


def _hostile_file(path: Path, task_id: str) -> Path:
    """Good records around every kind of bad one (JSON with ASCII escapes, so the surrogate and NUL
    travel as `\\ud800` / `\\u0000`, exactly as a JSONL writer would emit them)."""
    lines = [
        json.dumps({"task_id": task_id, "code": FLIP}),
        json.dumps({"task_id": task_id, "code": "def transform(grid):\n    return grid  # \ud800\n"}),
        json.dumps({"task_id": task_id, "responses": ["```python\ndef transform(grid):\n    return grid\x00\n```"]}),
        json.dumps({"task_id": task_id, "code": TEN_MB}),
        '{"task_id": "' + task_id + '", "code": "bad utf-8 \xff"}',  # written as latin-1 below: not UTF-8
        "{not json",
        json.dumps({"task_id": task_id, "code": RAISES_SPOOF}),
        json.dumps({"task_id": task_id, "responses": ["prose \ud83d only, no code"]}),
        json.dumps({"task_id": task_id, "code": FLIP.replace("np.flipud(grid)", "np.flipud(np.asarray(grid))")}),
    ]
    path.write_bytes(b"\n".join(x.encode("latin-1") if "\xff" in x else x.encode() for x in lines) + b"\n")
    return path


class _FixedBackend:
    """Returns `texts` for a request of n=len(texts) (what a server with odd output would send)."""

    name = "fixed"

    def __init__(self, texts: tuple[str, ...]) -> None:
        self.texts = texts

    def generate(self, requests):
        from arc_lm import FinishReason, GenerationResult

        return [GenerationResult(self.texts[: r.n], 1, (1,) * r.n, (FinishReason.STOP,) * r.n) for r in requests]


@pytest.mark.parametrize("text,reason", [
    ("```python\ndef transform(g):\n    return g  # \ud800\n```", NoProgram.INVALID_TEXT),
    ("def transform(g):\n    return '\x00'\n", NoProgram.INVALID_TEXT),
    ("x" * 300_001, NoProgram.TOO_LARGE),
])
def test_extraction_refuses_invalid_and_oversized_text(text, reason):
    e = extract_program(text, max_chars=300_000)
    assert e.code is None and e.reason is reason and e.detail


def test_induce_survives_hostile_records_in_a_subprocess(tmp_path, task_file, flip_task):
    """The real CLI in a fresh interpreter: exit 0, per-record reasons, peak memory under 1 GiB."""
    programs = _hostile_file(tmp_path / "p.jsonl", flip_task.id)
    out_dir = tmp_path / "run"
    probe = ("import resource, subprocess, sys\n"
             "rc = subprocess.run(sys.argv[1:]).returncode\n"
             "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    cmd = [sys.executable, "-c", probe, sys.executable, "-m", "ensemble.cli", "induce", "--dataset", str(task_file),
           "--out", str(out_dir), "--programs", str(programs), "--set", "sandbox.timeout_s=5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    rc, max_rss_kib = map(int, proc.stdout.split()[-2:])
    assert rc == 0, proc.stderr
    assert max_rss_kib < 2**20, f"peak RSS {max_rss_kib / 1024:.0f} MiB"
    assert "line 5 skipped: not UTF-8" in proc.stderr and "line 6 skipped: invalid JSON" in proc.stderr
    result = json.loads((out_dir / "results" / f"{flip_task.id}.json").read_text())
    reasons = [s["reason"] for s in result["samples"]]
    assert reasons == [None, "invalid_text", "invalid_text", "too_large", None, "no_code", None]
    verified = [v["verified"] for v in result["verifications"]]
    assert sorted(verified) == [False, True, True]  # both flips kept and verified, the raiser not
    summary = json.loads((out_dir / "summary.json").read_text())
    assert [r["line"] for r in summary["import_rejected_lines"]] == [5, 6]
    assert summary["score"]["kaggle_score"] == 1.0
    # The sample log holds every text, the lone surrogate escaped, and reads back unchanged.
    logged = [json.loads(x)["text"] for x in (out_dir / "samples.jsonl").read_text().splitlines()]
    assert "\ud800" in logged[1] and logged[3] == TEN_MB


def test_no_output_line_can_be_forged_by_an_exception_message(tmp_path, capfd, task_file, flip_task):
    """verify's text output and the `programs` views escape newlines and ESC from programs."""
    prog = tmp_path / "spoof.py"
    prog.write_text(RAISES_SPOOF)
    assert main(["verify", str(prog), "--task", flip_task.id, "--dataset", str(task_file)]) == 1
    out, _ = capfd.readouterr()
    lines = out.splitlines()
    assert lines[-1] == "not verified" and "verified" not in lines[:-1]
    assert not any(line.startswith(("train[0]: ok", "\x1b")) for line in lines) and "\x1b" not in out
    programs = tmp_path / "p.jsonl"
    programs.write_text(json.dumps({"task_id": flip_task.id, "code": RAISES_SPOOF}) + "\n")
    assert main(["induce", "--dataset", str(task_file), "--out", str(tmp_path / "r"), "--programs", str(programs)]) == 0
    capfd.readouterr()
    assert main(["programs", "--run", str(tmp_path / "r"), "--json"]) == 0
    (row,) = json.loads(capfd.readouterr().out)
    assert main(["programs", "--run", str(tmp_path / "r"), "--show", row["program_id"]]) == 0
    out, _ = capfd.readouterr()
    assert "\x1b" not in out and not any(line in ("verified", "train[0]: ok exact=yes") for line in out.splitlines())
    assert "\\nverified\\ntrain[0]" in out  # the message is there, escaped on one line


def test_model_output_with_surrogates_nul_and_huge_text_is_logged_and_judged_per_sample(
        flip_task, tmp_path):
    """The same properties in *sampled* text (e.g. an OpenAI-compatible server's JSON): the sample
    log takes every text (JSONL and the run store's SQLite log), each bad one fails alone."""
    from ensemble.sample_log import SqliteSampleLog
    from ensemble.store import RunStore
    from induction.config import InductionConfig
    from induction.pipeline import induce_task
    from induction.samples import JsonlSampleLog
    from sandbox import Sandbox, SandboxConfig

    script = ("```python\n" + FLIP + "```", "```python\ndef transform(grid):\n    return grid  # \udcff\n```",
              "```python\ndef transform(grid):\n    return grid\x00\n```", "x" * 5000 + "\ud800")
    cfg = InductionConfig(n_samples=4, batch_size=4, max_response_chars=4000)
    with Sandbox(SandboxConfig(timeout_s=5.0)) as sandbox, RunStore(tmp_path / "store") as store:
        for log in (JsonlSampleLog(tmp_path / "samples.jsonl"), SqliteSampleLog(store)):
            result = induce_task(flip_task, _FixedBackend(script), sandbox, cfg, log)
            assert [s.reason for s in result.samples] == [None, "invalid_text", "invalid_text", "too_large"]
            assert len(result.verified_ids) == 1
            assert [r.text for r in log.task_records(flip_task.id)] == list(script)
    assert [r.text for r in JsonlSampleLog(tmp_path / "samples.jsonl").task_records(flip_task.id)] == list(script)
