"""CLI tests on a real run with the tiny random model (`run` is the shared reference run, made in
a subprocess): `task`, `programs`, `report`, and the one-line errors of `run`."""
from __future__ import annotations

import json

import pytest

from ensemble.cli import main


def test_run_outputs(tiny_reference_run):
    run = tiny_reference_run
    sub = json.loads((run / "submission.json").read_text())
    assert set(sub) == {"6150a2bd", "25ff71a9"} and len(sub["25ff71a9"]) == 2
    cfg = json.loads((run / "config.json").read_text())
    assert {"config", "versions", "seeds"} <= set(cfg) and "torch" in cfg["versions"]
    assert cfg["seeds"]["transduction.train.seed"] == 0
    scores = json.loads((run / "scores.json").read_text())
    # the imported rot180 program is right for 6150a2bd: prefer-programs submits it first
    assert scores["solved_by"]["6150a2bd"] == [1]


def test_task_command(tiny_reference_run, capsys):
    assert main(["task", "6150a2bd", "--run", str(tiny_reference_run), "--style", "plain"]) == 0
    out = capsys.readouterr().out
    assert "task 6150a2bd" in out and "induction candidates" in out and "transduction candidates" in out
    assert "verified programs (1)" in out
    assert "attempt 1: induction via prefer-programs:verified-program  RIGHT" in out
    assert "started 1x" in out and "induction samples: 5, with a program: 4" in out  # 1 model + 4 imported
    assert "inference queries: " in out and " dropped" in out and "leave-two-out fallbacks" in out


def test_task_command_cell_diff(tiny_reference_run, capsys):
    main(["task", "25ff71a9", "--run", str(tiny_reference_run), "--style", "plain"])
    out = capsys.readouterr().out
    assert "final attempts:" in out
    if "wrong" in out:  # a wrong attempt comes with its cell diff
        assert "cells wrong" in out or "expected" in out


def test_programs_command(tiny_reference_run, capsys):
    assert main(["programs", "--run", str(tiny_reference_run), "--task", "6150a2bd"]) == 0
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.startswith("6150a2bd")]
    statuses = sorted(l.split()[2] for l in lines)
    assert statuses == ["error", "failed", "verified"]
    verified = next(l for l in lines if " verified " in l)
    assert verified.split()[3] == "2"  # sampled twice (comment differs), one program of weight 2
    assert main(["programs", "--run", str(tiny_reference_run), "--status", "error"]) == 0
    err_lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith(("6150a2bd", "25ff71a9"))]
    assert len(err_lines) == 1 and " EE " in err_lines[0]  # 6150a2bd has two demonstrations
    pid = verified.split()[1]
    assert main(["programs", "--run", str(tiny_reference_run), "--show", pid]) == 0
    shown = capsys.readouterr().out
    assert "np.rot90(grid, 2)" in shown and "demo[0]: ok, exact" in shown and "test[0]: ok" in shown
    assert main(["programs", "--run", str(tiny_reference_run), "--task", "6150a2bd", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["status"], r["verified"]) for r in rows) == [("error", False), ("failed", False), ("verified", True)]
    assert all(r["task_id"] == "6150a2bd" and len(r["demos"]) == 2 and r["tests"] for r in rows)


def test_report_command(tiny_reference_run, capsys):
    assert main(["report", str(tiny_reference_run)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (tiny_reference_run / "report.html").read_text()
    assert 'id="task-6150a2bd"' in page and 'id="task-25ff71a9"' in page and 'class="loss-curve"' in page


@pytest.mark.parametrize("argv,message", [
    (["run", "--out", "X"], "no dataset"),
    (["run", "--preset", "cpu-dmo", "--out", "X"], "did you mean 'cpu-demo'"),
    (["run", "--preset", "cpu-demo", "--out", "X", "--set", "ensemble.policy=bark"], "did you mean 'barc'"),
    (["run", "--preset", "cpu-demo", "--out", "X", "--set", "induction.n_sample=3"], "did you mean 'n_samples'"),
    (["task", "nope", "--run", "MISSING"], "not a run directory"),
])
def test_user_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "X").exists()
