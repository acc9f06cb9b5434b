"""Prompt formats: the exact barc-induction layout, the compact default, and the leakage test."""
from __future__ import annotations

import dataclasses

import pytest

from arc_core.datasets import load_dataset
from arc_core.grid import Grid
from arc_core.task import Dataset, Pair, Task
from induction.prompts import (
    PROMPT_FORMATS, Failure, build_prompt, get_format, grid_words, prompt_hash, refinement_messages,
)


def test_barc_induction_layout_exact():
    g1 = Grid(((0, 1), (2, 3)))
    g2 = Grid(((4, 5), (6, 7)))
    t = Grid(((8, 9),))
    task = Task("t", (Pair(g1, g2),), (t,))
    (system, user) = build_prompt(task, "barc-induction")
    assert system == ("system", "You are a world-class puzzle solver with exceptional pattern recognition skills "
                      "and expertise in Python programming. Your task is to analyze puzzles and provide Python solutions.")
    expected = (
        "Given input-output grid pairs as reference examples, carefully observe the patterns to predict the output "
        "grid for new test input. Each pair follows the same transformation rule. Grids are 2D arrays represented "
        "as strings, with cells (colors) separated by spaces and rows by newlines.\n"
        "Here are the input and output grids for the reference examples:\n"
        "Example 1\nInput:\nBlack Blue\nRed Green\n\nOutput:\nYellow Gray\nPink Orange\n\n\n"
        "Here is the input grid for the test example:\nInput:\nPurple Brown\n\n"
        "Write a Python function `transform` that can convert any given input grid to its corresponding output "
        "grid based on the pattern observed in the reference examples."
    )
    assert user == ("user", expected)


def test_grid_words_has_one_trailing_newline():
    assert grid_words(Grid(((0, 9),))) == "Black Brown\n"


def test_compact_prompt_has_demos_and_all_test_inputs(flip_task):
    (_, (role, text)) = build_prompt(flip_task, "compact")
    assert role == "user"
    for pair in flip_task.train:
        assert "\n".join("".join(map(str, r)) for r in pair.output.rows) in text
    assert "Test input 1:" in text and "Test input 2:" in text
    assert "```python" in text and "transform(grid)" in text


@pytest.mark.parametrize("name", list(PROMPT_FORMATS))
def test_no_test_output_leaks_into_prompts(name):
    """Poison the solutions: prompts (and refinement prompts) must not change."""
    ds = load_dataset("arc1/training").select(limit=5)
    poisoned = Dataset(ds.name, ds.tasks, {
        tid: tuple(Grid(((9,) * 7,) * 7) for _ in sols) for tid, sols in ds.solutions.items()
    })
    for tid in ds.ids():
        assert build_prompt(ds.tasks[tid], name) == build_prompt(poisoned.tasks[tid], name)
        # And the true solutions (rendered) appear nowhere unless they equal a visible grid.
        text = "".join(c for _, c in build_prompt(ds.tasks[tid], name))
        visible = {get_format(name).render_grid(g) for g in ds.tasks[tid].all_grids()}
        for sol in ds.solutions[tid]:
            rendered = get_format(name).render_grid(sol)
            if rendered not in visible and sol.height > 2:
                assert rendered not in text


def test_task_has_no_field_for_test_outputs():
    assert {f.name for f in dataclasses.fields(Task)} == {"id", "train", "test_inputs"}


def test_unknown_format_suggests():
    with pytest.raises(ValueError, match="did you mean 'barc-induction'"):
        get_format("barc-inductoin")


def test_prompt_hash_changes_with_content(flip_task):
    a = build_prompt(flip_task, "compact")
    assert prompt_hash(a) == prompt_hash(build_prompt(flip_task, "compact"))
    assert prompt_hash(a) != prompt_hash(build_prompt(flip_task, "barc-induction"))


def test_refinement_prompt_shows_failures(flip_task):
    base = build_prompt(flip_task, "compact")
    fails = [Failure(1, flip_task.train[0].output, flip_task.train[0].input, None),
             Failure(2, flip_task.train[1].output, None, "ZeroDivisionError: division by zero")]
    msgs = refinement_messages(base, "def transform(grid):\n    return grid\n", fails, "compact")
    assert msgs[:2] == base
    assert msgs[2][0] == "assistant" and "return grid" in msgs[2][1]
    role, text = msgs[3]
    assert role == "user" and "Example 1" in text and "Your output:" in text
    assert "ZeroDivisionError: division by zero" in text
