"""CLI: `arc-hybrid datasets | show | score`, through ensemble.cli.main, plus the acceptance checks."""
from __future__ import annotations

import argparse
import json

import pytest

from arc_core.commands import COMMANDS
from arc_core.datasets import DATASETS, load_dataset
from arc_core.submission import write_submission
from ensemble.cli import build_parser, main


@pytest.fixture(autouse=True)
def only_core_commands(monkeypatch):
    """Build the real `arc-hybrid` parser from arc_core's commands alone, so these tests do not
    depend on the other packages' command modules importing."""
    import ensemble.cli

    monkeypatch.setattr(ensemble.cli, "_COMMAND_MODULES", ("arc_core.commands",))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arc-hybrid: error: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err


def test_every_flag_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in COMMANDS:
        p = sub.choices[cmd.name]
        for action in p._actions:
            assert action.help, f"{cmd.name}: {action.option_strings or action.dest} has no help"


def test_datasets_lists_names_and_counts(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    for name, spec in DATASETS.items():
        line = next(l for l in out.splitlines() if l.startswith(name + " "))
        assert line.split()[1] == str(spec.n_tasks)


def test_show_hides_test_output_unless_revealed(capsys):
    ds = load_dataset("arc1/training")
    task, answer = ds.tasks["007bbfb7"], ds.solutions["007bbfb7"][0]
    code, out, _ = run(capsys, "show", "007bbfb7")
    assert code == 0 and "\x1b" not in out  # not a TTY: plain digits
    assert out.startswith("[arc1/training] task 007bbfb7")
    assert "test[0]  3x3 -> ?" in out
    answer_rows = str(answer).splitlines()
    assert answer_rows[0] not in out.split("test[0]")[1]
    for row in str(task.train[0].output).splitlines():
        assert row in out
    code, out, _ = run(capsys, "show", "007bbfb7", "--reveal", "--dataset", "arc1/training")
    assert code == 0 and all(r in out.split("test[0]")[1] for r in answer_rows)


def test_show_formats(capsys, tmp_path):
    code, out, _ = run(capsys, "show", "00576224", "--format", "ansi")
    assert code == 0 and "\x1b[48;2;" in out and out.startswith("[arc1/evaluation]")
    code, out, _ = run(capsys, "show", "00576224", "--format", "svg")
    assert code == 0 and out.startswith("<svg ") and out.rstrip().endswith("</svg>")
    png = tmp_path / "t.png"
    code, _, err = run(capsys, "show", "00576224", "--format", "png", "--out", png)
    assert code == 0 and png.read_bytes().startswith(b"\x89PNG") and "wrote" in err
    txt = tmp_path / "t.txt"
    code, _, _ = run(capsys, "show", "00576224", "--out", txt)
    assert code == 0 and "task 00576224" in txt.read_text() and "\x1b" not in txt.read_text()


def test_show_task_from_a_file(capsys, tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3]]}]}))
    code, out, _ = run(capsys, "show", "mine", "--dataset", path)
    assert code == 0 and "task mine" in out
    code, _, err = run(capsys, "show", "mine", "--dataset", path, "--reveal")
    assert_one_line_error(code, err, "has no test outputs to reveal")


@pytest.mark.parametrize("argv,fragment", [
    (["show", "nope"], "task nope is in none of the built-in datasets"),
    (["show", "007bbfb8"], "(did you mean 007bbfb7?)"),
    (["show", "00576225", "--dataset", "arc1/evaluation"], "(did you mean 00576224?)"),
    (["show", "007bbfb7", "--dataset", "arc1/evaluation"], "task 007bbfb7 is not in dataset arc1/evaluation"),
    (["show", "007bbfb7", "--dataset", "arc1/trainig"], "did you mean 'arc1/training'"),
    (["show", "007bbfb7", "--format", "png"], "--format png needs --out FILE"),
])
def test_show_errors(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, fragment)


def _raw_split(name: str) -> dict:
    spec = DATASETS[name]
    return json.loads(spec.path.read_text())[spec.split]


def test_acceptance_true_outputs_score_400(capsys, tmp_path):
    ds = load_dataset("arc1/evaluation")
    path = write_submission(tmp_path / "sub.json", {t: [(g, None) for g in ds.solutions[t]] for t in ds.tasks}, ds)
    code, out, _ = run(capsys, "score", path, "--dataset", "arc1/evaluation", "--json")
    result = json.loads(out)
    assert code == 0
    assert (result["tasks"], result["kaggle_score"], result["strict_solved"]) == (400, 400.0, 400)
    assert set(result["per_task"].values()) == {1.0}
    code, out, _ = run(capsys, "score", path, "--dataset", "arc1/evaluation")
    assert code == 0 and "kaggle: 400 / 400 tasks (100.00%)" in out and "strict: 400 / 400" in out


@pytest.mark.parametrize("name", ["arc1/evaluation", "arc1/training"])
def test_acceptance_identity_submission_scores_tasks_whose_output_is_the_input(capsys, tmp_path, name):
    raw = _raw_split(name)  # computed from the raw file, independently of our loader and scorer
    expected = sum(sum(p["input"] == p["output"] for p in t["test"]) / len(t["test"]) for t in raw.values())
    strict = sum(all(p["input"] == p["output"] for p in t["test"]) for t in raw.values())
    sub = {tid: [{"attempt_1": p["input"], "attempt_2": p["input"]} for p in t["test"]] for tid, t in raw.items()}
    path = tmp_path / "identity.json"
    path.write_text(json.dumps(sub))
    code, out, _ = run(capsys, "score", path, "--dataset", name, "--json")
    result = json.loads(out)
    assert code == 0 and result["tasks"] == len(raw) == 400
    assert result["kaggle_score"] == pytest.approx(expected) and result["strict_solved"] == strict


def test_identity_submission_on_a_file_where_some_outputs_equal_inputs(capsys, tmp_path):
    def task(*tests):
        return {"train": [{"input": [[1]], "output": [[1]]}],
                "test": [{"input": i} for i, _ in tests]}
    tests = {"a": [([[1]], [[1]])], "b": [([[2]], [[3]])], "c": [([[4]], [[4]]), ([[5]], [[6]])]}
    (tmp_path / "x_challenges.json").write_text(json.dumps({k: task(*v) for k, v in tests.items()}))
    (tmp_path / "x_solutions.json").write_text(json.dumps({k: [o for _, o in v] for k, v in tests.items()}))
    sub = {k: [{"attempt_1": i, "attempt_2": [[0]]} for i, _ in v] for k, v in tests.items()}
    (tmp_path / "sub.json").write_text(json.dumps(sub))
    code, out, _ = run(capsys, "score", tmp_path / "sub.json", "--dataset", tmp_path / "x_challenges.json", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["per_task"] == {"a": 1.0, "b": 0.0, "c": 0.5}
    assert (result["tasks"], result["kaggle_score"], result["strict_solved"]) == (3, 1.5, 1)


def test_score_only_counts_tasks_in_the_submission(capsys, tmp_path):
    ds = load_dataset("arc1/evaluation").select(limit=3)
    path = write_submission(tmp_path / "s.json", {}, ds)
    code, out, _ = run(capsys, "score", path, "--dataset", "arc1/evaluation", "--json")
    assert code == 0 and json.loads(out)["tasks"] == 3 and json.loads(out)["kaggle_score"] == 0.0


def test_score_errors(capsys, tmp_path):
    good = {"attempt_1": [[1]], "attempt_2": [[1]]}
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"zzzz": [good]}))
    code, _, err = run(capsys, "score", unknown, "--dataset", "arc1/evaluation")
    assert_one_line_error(code, err, "task zzzz is not in dataset arc1/evaluation")

    (tmp_path / "k_challenges.json").write_text(json.dumps(
        {"t": {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[1]]}]}}))
    sub = tmp_path / "sub.json"
    sub.write_text(json.dumps({"t": [good]}))
    code, _, err = run(capsys, "score", sub, "--dataset", tmp_path / "k_challenges.json")
    assert_one_line_error(code, err, "has no known test outputs")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"t": [{"attempt_1": [[1, 2], [3]], "attempt_2": [[1]]}]}))
    code, _, err = run(capsys, "score", bad, "--dataset", "arc1/evaluation")
    assert_one_line_error(code, err, "task t: [0].attempt_1: invalid grid: ragged")

    code, _, err = run(capsys, "score", tmp_path / "missing.json", "--dataset", "arc1/evaluation")
    assert_one_line_error(code, err, "no such submission file")

    two = tmp_path / "two.json"
    two.write_text(json.dumps({"00576224": [good, good]}))
    code, _, err = run(capsys, "score", two, "--dataset", "arc1/evaluation")
    assert_one_line_error(code, err, "2 attempt entries but the task has 1 test input")


def test_debug_shows_the_exception(capsys):
    with pytest.raises(KeyError):
        main(["--debug", "show", "nope"])


def test_score_requires_dataset(capsys):
    with pytest.raises(SystemExit) as e:
        main(["score", "x.json"])
    assert e.value.code == 2 and "--dataset" in capsys.readouterr().err
