"""Compatibility corpus: every program gives exactly what plain CPython gives, grid for grid.

Table-driven over corpora: each directory under tests/sandbox/corpora/ (and each directory named
in the environment variable ARC_SANDBOX_CORPORA, separated by os.pathsep) holds
  programs/*.py   programs defining `transform(grid)`;
  inputs.json     the grids every program runs on (programs/<name>.json overrides per program);
  prelude.py      optional helper library, importable as `common` (`from common import *`);
  corpus.json     optional: {"expect_ok": true} also requires every program not named fail_*
                  to give a grid on every input under plain CPython (so the corpus means something).
Each corpus runs once under plain CPython (tests/sandbox/plain_python.py, a subprocess importing
lazily from disk) and in the sandbox with and without bubblewrap, and the per-grid outcomes
(output grid, exception class, invalid output, timeout) must be identical for every program.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _sandbox_support import make_config  # type: ignore[import-not-found]
from arc_core.grid import Grid
from sandbox import DEFAULT_MODULE_TIERS, ExecStatus, ProgramJob, Sandbox
from sandbox.runner import program_seed

HERE = Path(__file__).resolve().parent
PLAIN = HERE / "plain_python.py"


def corpora() -> list[Path]:
    dirs = sorted(p for p in (HERE / "corpora").iterdir() if (p / "programs").is_dir())
    extra = os.environ.get("ARC_SANDBOX_CORPORA", "")
    return dirs + [Path(p) for p in extra.split(os.pathsep) if p]


def load(corpus: Path) -> tuple[list[tuple[str, str, list]], str | None, dict]:
    default = json.loads((corpus / "inputs.json").read_text())
    programs = []
    for path in sorted((corpus / "programs").glob("*.py")):
        own = path.with_suffix(".json")
        programs.append((path.stem, path.read_text(), json.loads(own.read_text()) if own.exists() else default))
    prelude = corpus / "prelude.py"
    meta = json.loads((corpus / "corpus.json").read_text()) if (corpus / "corpus.json").exists() else {}
    return programs, (str(prelude) if prelude.exists() else None), meta


def plain_outcomes(programs, prelude: str | None, seed: int, timeout_s: float) -> dict[str, list]:
    request = {"prelude": prelude, "timeout_s": timeout_s, "preimport": list(DEFAULT_MODULE_TIERS[-1]),
               "jobs": [{"source": src, "grids": grids, "seed": program_seed(seed, src)} for _, src, grids in programs]}
    proc = subprocess.run([sys.executable, str(PLAIN)], input=json.dumps(request), capture_output=True, text=True,
                          timeout=600, cwd=str(HERE), check=True)
    return {name: out for (name, _, _), out in zip(programs, json.loads(proc.stdout))}


def sandbox_outcome(result) -> list:
    out = []
    for g in result.grids:
        if g.status is ExecStatus.OK:
            out.append(["ok", g.output.to_list()])
        elif g.status in (ExecStatus.EXCEPTION, ExecStatus.MEMORY, ExecStatus.SYNTAX_ERROR):
            out.append(["error", g.error_type])
        else:
            out.append([{ExecStatus.INVALID_OUTPUT: "invalid"}.get(g.status, g.status.value)])
    return out


@pytest.fixture(scope="module", params=corpora(), ids=lambda p: p.name)
def corpus(request):
    programs, prelude, meta = load(request.param)
    cfg = make_config(prelude_path=prelude, timeout_s=10.0)
    return request.param.name, programs, prelude, meta, plain_outcomes(programs, prelude, cfg.seed, cfg.timeout_s)


@pytest.mark.parametrize("bwrap", ["on", "off"])
def test_sandbox_matches_plain_python(corpus, bwrap):
    name, programs, prelude, meta, plain = corpus
    if bwrap == "on" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    jobs = [ProgramJob(pid, src, tuple(Grid.parse(g) for g in grids)) for pid, src, grids in programs]
    with Sandbox(make_config(prelude_path=prelude, timeout_s=10.0, bwrap=bwrap)) as sb:
        results = sb.run(jobs)
    mismatches = {r.program_id: {"sandbox": sandbox_outcome(r), "plain": plain[r.program_id], "error": r.error}
                  for r in results if sandbox_outcome(r) != plain[r.program_id]}
    assert not mismatches, json.dumps(mismatches, indent=1)[:6000]
    verified = [r.program_id for r in results if r.ok]
    assert verified == [pid for pid, out in plain.items() if all(e[0] == "ok" for e in out)]


def test_corpus_programs_run_under_plain_python(corpus):
    """The corpus means something: its programs work in plain Python unless named fail_*."""
    name, programs, prelude, meta, plain = corpus
    if not meta.get("expect_ok"):
        pytest.skip(f"corpus {name} makes no claim about its programs")
    broken = {pid: out for pid, out in plain.items() if not pid.startswith("fail_") and any(e[0] != "ok" for e in out)}
    failing = {pid: out for pid, out in plain.items() if pid.startswith("fail_") and all(e[0] == "ok" for e in out)}
    assert not broken and not failing, (broken, failing)
