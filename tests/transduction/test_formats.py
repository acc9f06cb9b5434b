"""Prompt formats: round trips on every ARC-AGI-1 grid, exact published layouts, typed parse failures."""
from __future__ import annotations

import numpy as np
import pytest

from arc_core.grid import Grid
from arc_core.task import Pair
from arc_core.barc_text import grid_words
from transduction.formats import FORMATS, ParseStatus, PseudoTask, get_format, numpy_grid_text


def all_grids(arc1):
    seen = {}
    for ds in arc1:
        for tid in ds.ids():
            for g in ds.tasks[tid].all_grids():
                seen.setdefault(g)
            for g in ds.solutions.get(tid, ()):
                seen.setdefault(g)
    return list(seen)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_round_trip_every_arc1_grid(arc1, name):
    fmt = get_format(name)
    grids = all_grids(arc1)
    assert len(grids) > 5000
    for g in grids:
        res = fmt.parse(fmt.answer_text(g))
        assert res.status is ParseStatus.OK and res.grid == g, (name, g)


def test_marc_grid_text_is_numpy_str(arc1):
    for g in all_grids(arc1)[:3000]:
        assert numpy_grid_text(g) == str(g.to_array())


def test_compact_is_one_token_per_cell(embedded_tokenizer, arc1):
    """The embedded SmolLM2 tokenizer splits every digit: h*w cell tokens plus h-1 newlines."""
    fmt = get_format("compact")
    for g in all_grids(arc1)[:500]:
        ids = embedded_tokenizer(fmt.answer_text(g), add_special_tokens=False)["input_ids"]
        assert len(ids) == g.height * g.width + g.height - 1


def test_compact_rejects_digit_merging_tokenizers(embedded_tokenizer):
    fmt = get_format("compact")
    fmt.check_tokenizer(embedded_tokenizer)

    def merging(text, add_special_tokens=False):  # a Llama-3-like tokenizer: runs of 3 digits per token
        return {"input_ids": [0] * sum((len(run) + 2) // 3 + 1 for run in text.split("\n"))}

    with pytest.raises(ValueError, match="data.format=marc"):
        fmt.check_tokenizer(merging)


def _pt(grid, with_output=True):
    demos = (Pair(grid("12"), grid("21")), Pair(grid("3"), grid("3")))
    return PseudoTask(demos, grid("45"), grid("54") if with_output else None)


def test_compact_layout(grid):
    enc = get_format("compact").encode(_pt(grid))
    assert enc.text == "input:\n12\noutput:\n21\n\ninput:\n3\noutput:\n3\n\ninput:\n45\noutput:\n54"
    assert [enc.text[s:e] for s, e in enc.demo_output_spans] == ["21\n", "3\n"]
    assert enc.text[slice(*enc.query_output_span)] == "54"
    assert enc.text[:enc.prompt_end].endswith("output:\n")


def test_marc_layout_exact(grid, embedded_tokenizer):
    enc = get_format("marc").encode(_pt(grid), embedded_tokenizer)
    system = ("Figure out the underlying transformation in the following examples and apply it to the test case. "
              "Here are some examples from this transformation, your answer must follow the format.\n"
              "The input-output grids are provided as python arrays:\n[[1 2]] -> [[2 1]]#\n[[3]] -> [[3]]#\n")
    expected = (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n[[4 5]] -> <|im_end|>\n"
                "<|im_start|>assistant\n[[5 4]]#<|im_end|>\n")
    assert enc.text == expected
    assert [enc.text[s:e] for s, e in enc.demo_output_spans] == ["[[2 1]]#", "[[3]]#"]
    assert enc.text[slice(*enc.query_output_span)] == "[[5 4]]#<|im_end|>"
    prompt = get_format("marc").encode(_pt(grid, False), embedded_tokenizer)
    assert prompt.text == enc.text[:enc.prompt_end] and prompt.query_output_span is None


def test_barc_layout_exact(grid, embedded_tokenizer):
    enc = get_format("barc-transduction").encode(_pt(grid), embedded_tokenizer)
    user = ("Given input-output grid pairs as reference examples, carefully observe the patterns to predict the "
            "output grid for new test input. Each pair follows the same transformation rule. Grids are 2D arrays "
            "represented as strings, with cells (colors) separated by spaces and rows by newlines.\n"
            "Here are the input and output grids for the reference examples:\n"
            "Example 1:\nInput:\nBlue Red\n\nOutput:\nRed Blue\nExample 2:\nInput:\nGreen\n\nOutput:\nGreen\n"
            "\n\nHere is the input grid for the test example:\nInput:\nYellow Gray\n\n"
            "Directly provide the output grids corresponding to the given test input grids, based on the "
            "patterns observed in the reference examples.")
    assert f"<|im_start|>user\n{user}<|im_end|>" in enc.text
    assert enc.text.startswith("<|im_start|>system\nYou are a world-class puzzle solver with exceptional pattern "
                               "recognition skills. Your task is to analyze puzzles, spot patterns, and provide "
                               "direct solutions.<|im_end|>\n")
    answer = "The output grid for the test input grid is:\n\n```\nGray Yellow\n```"
    assert enc.text[slice(*enc.query_output_span)] == answer + "<|im_end|>"
    assert grid_words(grid("09")) == "Black Brown"


@pytest.mark.parametrize("name,text,status", [
    ("compact", "", ParseStatus.EMPTY),
    ("compact", "12\n345", ParseStatus.RAGGED),
    ("compact", "hello", ParseStatus.BAD_CELL),
    ("compact", "1" * 31, ParseStatus.TOO_LARGE),
    ("compact", "12\n34\n\ninput:\n99", ParseStatus.OK),
    ("compact", "12\n34\ninput:", ParseStatus.OK),
    ("marc", "[[1 2]\n [3 4]]#garbage", ParseStatus.OK),
    ("marc", "[[1 2]\n [3]]#", ParseStatus.RAGGED),
    ("marc", "[[1 x]]#", ParseStatus.BAD_CELL),
    ("marc", "[[12 3]]", ParseStatus.BAD_CELL),
    ("marc", "#", ParseStatus.EMPTY),
    ("barc-transduction", "The output grid is:\n\n```\nRed Blue\nBlack Black\n```", ParseStatus.OK),
    ("barc-transduction", "```\nRed Teal\n```", ParseStatus.BAD_CELL),
    ("barc-transduction", "```\nRed Red\nRed\n", ParseStatus.RAGGED),
    ("barc-transduction", "``````", ParseStatus.EMPTY),
])
def test_parse_failures_are_typed(name, text, status):
    res = get_format(name).parse(text)
    assert res.status is status
    assert (res.grid is not None) == (status is ParseStatus.OK)
    assert (res.error is None) == (status is ParseStatus.OK)


def test_parse_grid_values():
    assert get_format("compact").parse("12\n34\n\n56").grid == Grid(((1, 2), (3, 4)))
    assert get_format("marc").parse("[[1 2]\n [3 4]]#").grid == Grid(((1, 2), (3, 4)))


def test_unknown_format_suggests():
    with pytest.raises(ValueError, match="did you mean 'compact'"):
        get_format("compakt")


def test_chat_format_needs_chat_template(grid):
    with pytest.raises(ValueError, match="chat template"):
        get_format("marc").encode(_pt(grid), None)


def test_numpy_text_single_row():
    assert numpy_grid_text(Grid(((1, 2, 3),))) == str(np.array([[1, 2, 3]]))
