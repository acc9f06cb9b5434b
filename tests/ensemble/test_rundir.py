"""One run-directory reader and one scoring path: `task`, `programs` and `report` read `induce`,
`transduce` and `run` directories alike, and every printed score equals `arc-hybrid score` on the
directory's own submission, also for a task whose true output is the placeholder grid [[0]]."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ensemble.cli import main

FLIP = "import numpy as np\ndef transform(grid):\n    return np.flipud(grid)\n"


def _task(train, test_in, test_out) -> dict:
    return {"train": [{"input": i, "output": o} for i, o in train], "test": [{"input": test_in, "output": test_out}]}


@pytest.fixture
def zero_dataset(tmp_path) -> Path:
    """Two tasks: `flip` (solvable by FLIP) and `zero`, whose true test output is [[0]], the
    placeholder a submission holds where no program answered."""
    data = {
        "flip": _task([([[1], [2]], [[2], [1]]), ([[3, 4], [5, 6]], [[5, 6], [3, 4]])], [[7], [8]], [[8], [7]]),
        "zero": _task([([[1, 2]], [[3]]), ([[4, 4]], [[8]])], [[0, 0]], [[0]]),
    }
    path = tmp_path / "zero.json"
    path.write_text(json.dumps(data))
    return path


def _kaggle(text: str) -> float:
    m = re.search(r"kaggle(?: score)?:? ([0-9.]+) /", text)
    assert m, text
    return float(m.group(1))


def test_induce_score_equals_score_command_with_placeholder_truth(tmp_path, capsys, zero_dataset):
    programs = tmp_path / "p.jsonl"
    programs.write_text(json.dumps({"task_id": "flip", "code": FLIP}) + "\n"
                        + json.dumps({"task_id": "zero", "code": "def transform(grid):\n    return 1 / 0\n"}) + "\n")
    out = tmp_path / "ind"
    assert main(["induce", "--dataset", str(zero_dataset), "--out", str(out), "--programs", str(programs)]) == 0
    printed = _kaggle(capsys.readouterr().out)
    assert json.loads((out / "config.json").read_text())["induction"]["n_samples"] == 0  # import only
    summary = json.loads((out / "summary.json").read_text())["score"]
    assert main(["score", str(out / "submission.json"), "--dataset", str(zero_dataset), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert printed == summary["kaggle_score"] == scored["kaggle_score"] == 2.0
    assert summary["per_task"] == scored["per_task"] == {"flip": 1.0, "zero": 1.0}
    # The report and the task view read the same directory and agree.
    assert main(["report", str(out)]) == 0
    capsys.readouterr()
    html = (out / "report.html").read_text()
    assert re.search(r'id="kaggle-score">2</span> / 2', html)
    assert main(["task", "zero", "--run", str(out), "--style", "plain"]) == 0
    assert "induction failed" not in capsys.readouterr().out


def test_task_programs_report_read_an_induce_directory(tmp_path, capsys, zero_dataset):
    programs = tmp_path / "p.jsonl"
    programs.write_text(json.dumps({"task_id": "flip", "code": [FLIP, FLIP + "# same\n", "def transform(g):\n    return g\n"]})
                        + "\n")
    out = tmp_path / "ind"
    assert main(["induce", "--dataset", str(zero_dataset), "--out", str(out), "--programs", str(programs)]) == 0
    capsys.readouterr()
    assert main(["programs", "--run", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["task_id"], r["multiplicity"], r["verified"]) for r in rows) == [("flip", 1, False), ("flip", 2, True)]
    for r in rows:
        assert [d["exact"] for d in r["demos"]] == [r["verified"]] * 2 and len(r["tests"]) == 1
        assert all(d["status"] == "ok" for d in r["demos"]) and r["source"].startswith(("import", "def"))
    assert main(["programs", "--run", str(out)]) == 0
    assert "2 program(s)" in capsys.readouterr().out
    assert main(["task", "flip", "--run", str(out), "--style", "plain"]) == 0
    text = capsys.readouterr().out
    assert "induction     done" in text and "test[0] attempt 1: induction via induction:top-2  RIGHT" in text
    assert not (out / "run.sqlite").exists()  # reading writes nothing into the directory


def test_task_and_report_read_a_transduce_directory(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "trans"
    assert main(["transduce", "--dataset", "arc1/training", "--tasks", "6150a2bd", "--out", str(out),
                 "--set", f"model={tiny_model_dir}", "--set", "data.max_examples=2", "--set", "train.epochs=1",
                 "--set", "lora.rank=2", "--set", "lora.alpha=4", "--set", "infer.max_new_tokens=4",
                 "--set", "infer.transforms=identity", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["task", "6150a2bd", "--run", str(out), "--style", "plain"]) == 0
    out_text = capsys.readouterr().out
    assert "train         done" in out_text and "infer         done" in out_text
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").is_file()
    assert main(["programs", "--run", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == []


def test_run_with_programs_only_imports(tmp_path, capsys):
    """`run --programs F --prelude P` without an explicit n_samples loads no model for induction (the
    preset's n_samples does not count as explicit); the imported program, which needs the prelude,
    is verified and submitted."""
    programs = tmp_path / "p.jsonl"
    programs.write_text(json.dumps({"task_id": "6150a2bd", "code": "from common import *\n"
                                    "def transform(grid):\n    return half_turn(grid)\n"}) + "\n{broken\n")
    prelude = tmp_path / "common.py"
    prelude.write_text("import numpy as np\n\ndef half_turn(grid):\n    return np.rot90(grid, 2)\n")
    out = tmp_path / "run"
    assert main(["run", "--preset", "cpu-demo", "--dataset", "arc1/training", "--tasks", "6150a2bd",
                 "--out", str(out), "--programs", str(programs), "--prelude", str(prelude), "--no-transduction"]) == 0
    assert "note: --programs line 2 skipped: invalid JSON" in capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["induction"]["n_samples"] == 0 and cfg["induction"]["prelude_path"] == str(prelude)
    assert main(["score", str(out / "submission.json"), "--dataset", "arc1/training", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_task"] == {"6150a2bd": 1.0}
