"""ensemble.kaggle (what the bundle's notebook runs) and the notebook template itself."""
from __future__ import annotations

import json
import sys

import pytest

from arc_core.submission import read_submission
from ensemble.bundle import FILES
from ensemble.kaggle import find_challenges, kaggle_run, publish, run_argv


def _challenges(path, ids=("t1", "t2")):
    path.parent.mkdir(parents=True, exist_ok=True)
    task = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]]}, {"input": [[3]]}]}
    path.write_text(json.dumps({t: task for t in ids}))
    return path


def test_find_challenges_prefers_the_competition_test_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no challenges file"):
        find_challenges(tmp_path)
    evaluation = _challenges(tmp_path / "a" / "arc-agi_evaluation_challenges.json")
    assert find_challenges(tmp_path) == evaluation
    other_test = _challenges(tmp_path / "b" / "my_test_challenges.json")
    assert find_challenges(tmp_path) == other_test
    hidden = _challenges(tmp_path / "z" / "arc-agi_test_challenges.json")
    assert find_challenges(tmp_path) == hidden
    with pytest.raises(FileNotFoundError, match="no such input directory"):
        find_challenges(tmp_path / "missing")


def test_run_argv():
    argv = run_argv(tmp := __import__("pathlib").Path("/c.json"), tmp.parent / "run", "paper-1b", "/kaggle/input/m",
                    "", "11h30m", ["--ray"])
    assert argv[:3] == [sys.executable, "-m", "ensemble.cli"]
    assert argv[3:] == ["run", "--dataset", "/c.json", "--out", "/run", "--preset", "paper-1b", "--set",
                        "transduction.model=/kaggle/input/m", "--time-budget", "11h30m", "--ray"]
    assert "--time-budget" not in run_argv(tmp, tmp, "cpu-small")


def test_publish_only_valid_submissions(tmp_path):
    dest, src = tmp_path / "submission.json", tmp_path / "run.json"
    assert not publish(src, dest)
    src.write_text("{not json")
    assert not publish(src, dest) and not dest.exists()
    src.write_text(json.dumps({"t1": [{"attempt_1": [[1]], "attempt_2": [[0]]}]}))
    assert publish(src, dest) and read_submission(dest)["t1"]


def test_a_failing_run_leaves_a_complete_placeholder_submission(tmp_path):
    _challenges(tmp_path / "input" / "comp" / "arc-agi_test_challenges.json")
    rc = kaggle_run(tmp_path / "input", tmp_path / "work", tmp_path / "run", preset="no-such-preset", poll_s=0.2,
                    log=lambda m: None)
    assert rc == 2
    sub = read_submission(tmp_path / "work" / "submission.json")
    assert set(sub) == {"t1", "t2"} and len(sub["t1"]) == 2


def test_notebook_template_is_valid_nbformat_4():
    nb = json.loads((FILES / "kaggle_notebook.ipynb").read_text())
    assert (nb["nbformat"], nb["nbformat_minor"]) == (4, 5) and nb["metadata"]["kernelspec"]["language"] == "python"
    ids = [c["id"] for c in nb["cells"]]
    assert len(set(ids)) == len(ids)
    for cell in nb["cells"]:
        assert cell["cell_type"] in ("markdown", "code") and isinstance(cell["source"], list)
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            compile("".join(cell["source"]), "<cell>", "exec")
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and "TIME_BUDGET" in "".join(params[0]["source"])
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))
