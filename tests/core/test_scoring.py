"""Scoring (Kaggle and strict measures) and the Kaggle submission writer/reader."""
from __future__ import annotations

import json

import pytest

from arc_core.grid import Grid
from arc_core.scoring import ScoreReport, score, score_task
from arc_core.submission import PLACEHOLDER, parse_submission, read_submission, submission_dict, write_submission
from arc_core.task import Dataset, Pair, Task


def G(*rows: str) -> Grid:
    return Grid.parse([[int(c) for c in r] for r in rows])


A, B, C, D, E = G("1"), G("2"), G("3"), G("12", "34"), G("5")


@pytest.fixture
def ds() -> Dataset:
    pair = (Pair(G("0"), G("0")),)
    tasks = {
        "one": Task("one", pair, (G("9"),)),
        "two": Task("two", pair, (G("9"), G("8"))),
        "three": Task("three", pair, (G("9"), G("8"), G("7"))),
        "hidden": Task("hidden", pair, (G("9"),)),
    }
    return Dataset("toy", tasks, {"one": (A,), "two": (B, D), "three": (A, B, C)})


def test_partial_credit_and_strict(ds):
    report = score({
        "one": [(E, A)],                          # second attempt right
        "two": [(B, None), (A, C)],               # 1 of 2
        "three": [(A, None), (B, B), (None, C)],  # 3 of 3
    }, ds)
    assert isinstance(report, ScoreReport)
    assert report.tasks == 3
    assert report.per_task == {"one": 1.0, "two": 0.5, "three": 1.0}
    assert report.kaggle_score == pytest.approx(2.5)
    assert report.kaggle_fraction == pytest.approx(2.5 / 3)
    assert report.strict_solved == 2
    detail = {t.task_id: t.solved_by for t in report.task_scores}
    assert detail == {"one": (2,), "two": (1, 0), "three": (1, 1, 2)}
    d = report.to_dict()
    assert (d["tasks"], d["kaggle_score"], d["strict_solved"], d["test_inputs_solved"]) == (3, 2.5, 2, 5)
    assert json.loads(report.to_json())["per_task"]["two"] == 0.5
    assert "2.5 / 3 tasks" in report.summary() and "strict: 2 / 3" in report.summary()


def test_third_of_a_task(ds):
    report = score({"three": [(C, None), (None, None), (C, None)]}, ds)
    assert report.per_task["three"] == pytest.approx(1 / 3)
    assert report.strict_solved == 0


def test_denominator_is_the_tasks_asked_for(ds):
    report = score({"one": [(A, None)]}, ds, task_ids=["one", "two", "three"])
    assert report.tasks == 3 and report.kaggle_score == 1.0 and report.per_task["two"] == 0.0
    assert score({"one": [(A, None)]}, ds).tasks == 1
    assert score({}, ds).tasks == 0 and score({}, ds).kaggle_fraction == 0.0


def test_wrong_shape_and_single_attempt(ds):
    assert score_task("one", [(G("11"),)], ds).fraction == 0.0
    assert score_task("one", [(A,)], ds).solved_by == (1,)


@pytest.mark.parametrize("attempts,task_ids,error,message", [
    ({"nope": [(A, None)]}, None, KeyError, "task nope is not in dataset toy"),
    ({"hidden": [(A, None)]}, None, ValueError, "no known test outputs"),
    ({"two": [(A, None)]}, None, ValueError, "1 attempt entries but the task has 2 test input"),
    ({"one": [(A, B, C)]}, None, ValueError, "3 attempts; at most 2"),
    ({"one": [(A, None)]}, ["two"], ValueError, "not asked for: one"),
    ({}, ["hidden"], ValueError, "no known test outputs"),
    ({"one": [([[1]], None)]}, None, TypeError, "expected a Grid or None"),
])
def test_scoring_errors(ds, attempts, task_ids, error, message):
    with pytest.raises(error, match=message):
        score(attempts, ds, task_ids)


def test_submission_round_trip_fills_placeholders(ds, tmp_path):
    attempts = {"one": [(A, B)], "two": [(None, C)], "three": [(A, None), (B, D)]}
    path = write_submission(tmp_path / "out" / "submission.json", attempts, ds)
    raw = json.loads(path.read_text())
    assert list(raw) == ["hidden", "one", "three", "two"]  # every task of the dataset
    assert [len(v) for v in raw.values()] == [1, 1, 3, 2]  # every test input of each
    assert raw["hidden"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]
    assert raw["two"][0] == {"attempt_1": [[0]], "attempt_2": [[3]]}
    assert raw["three"][2] == {"attempt_1": [[0]], "attempt_2": [[0]]}
    back = read_submission(path)
    assert back["one"] == [(A, B)]
    assert back["three"] == [(A, PLACEHOLDER), (B, D), (PLACEHOLDER, PLACEHOLDER)]
    assert not list(tmp_path.glob("out/*.tmp"))


def test_submission_writer_errors(ds):
    with pytest.raises(ValueError, match="not in dataset toy: zz"):
        submission_dict({"zz": [(A, None)]}, ds)
    with pytest.raises(ValueError, match="2 attempt entries but the task has 1"):
        submission_dict({"one": [(A, None), (A, None)]}, ds)
    with pytest.raises(ValueError, match="3 attempts"):
        submission_dict({"one": [(A, B, C)]}, ds)


@pytest.mark.parametrize("data,message", [
    ([], "expected an object mapping task ids"),
    ({}, "contains no tasks"),
    ({"t": []}, "task t: expected a non-empty list"),
    ({"t": {"attempt_1": [[1]]}}, "task t: expected a non-empty list"),
    ({"t": [[[1]]]}, r"task t: \[0\]: expected an object"),
    ({"t": [{"attempt_1": [[1]]}]}, r"task t: \[0\]: missing 'attempt_2'"),
    ({"t": [{"attempt_1": [[1]], "attempt_2": [[1]], "attempt_3": [[1]]}]}, "unexpected key 'attempt_3'"),
    ({"t": [{"attempt_1": [[1]], "attempt_2": [[1, 2], [3]]}]}, r"task t: \[0\]\.attempt_2: invalid grid: ragged"),
    ({"t": [{"attempt_1": [[10]], "attempt_2": [[1]]}]}, r"\[0\]\.attempt_1: invalid grid: cell \[0\]\[0\] is 10"),
    ({"t": [{"attempt_1": None, "attempt_2": [[1]]}]}, "expected a list of rows, got NoneType"),
])
def test_submission_reader_is_strict(data, message):
    with pytest.raises(ValueError, match=message):
        parse_submission(data, "sub.json")


def test_read_submission_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such submission file"):
        read_submission(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"t": [\n{"attempt_1": [[1]],}]}')
    with pytest.raises(ValueError, match="invalid JSON at line 2 column"):
        read_submission(bad)
