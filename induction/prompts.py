"""Prompt formats for program synthesis: a registry of task -> chat messages.

- `barc-induction`: the exact layout BARC's Llama-3.1-ARC-Potpourri-Induction-8B was trained on
  (../shared/FORMATS.md §3): colour words, each grid followed by one extra newline.
- `compact` (default): for general instruction-tuned models: digit grids, the demonstrations and
  the test input(s), and a request for ONE fenced python block defining `transform(grid)`.

A prompt is built from a `Task` only, and a `Task` never holds test outputs, so no test output can
reach a prompt (tests poison `Dataset.solutions` and check the prompts are unchanged). A prompt is
a tuple of `(role, content)` pairs; `prompt_hash` identifies it in the sample log.
Refinement prompts (`refinement_messages`) extend a task prompt with a program and its failures.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from arc_core import barc_text
from arc_core.grid import Grid
from arc_core.task import Task

Chat = tuple[tuple[str, str], ...]  # ((role, content), ...), roles: system, user, assistant



def grid_digits(grid: Grid) -> str:
    """Compact layout: one line per row, one digit per cell, no trailing newline."""
    return str(grid)


def grid_words(grid: Grid) -> str:
    """BARC induction layout: colour words separated by spaces, rows by newlines, plus one final newline."""
    return barc_text.grid_words(grid) + "\n"


# ---- barc-induction (FORMATS.md §3, reproduced exactly) ----------------------------------------
BARC_SYSTEM = (
    "You are a world-class puzzle solver with exceptional pattern recognition skills and expertise "
    "in Python programming. Your task is to analyze puzzles and provide Python solutions."
)
BARC_INTRO = barc_text.USER_PREAMBLE
BARC_REQUEST = (
    "Write a Python function `transform` that can convert any given input grid to its corresponding "
    "output grid based on the pattern observed in the reference examples."
)


def barc_induction(task: Task) -> Chat:
    parts = [BARC_INTRO]
    for i, pair in enumerate(task.train, start=1):
        # grid_words ends in "\n", so this is `Input:⏎<grid>⏎⏎Output:⏎<grid>⏎⏎⏎` of FORMATS.md.
        parts.append(f"Example {i}\nInput:\n{grid_words(pair.input)}\nOutput:\n{grid_words(pair.output)}\n\n")
    parts.append("Here is the input grid for the test example:\nInput:\n")
    parts.append("\n".join(grid_words(g) for g in task.test_inputs))
    parts.append("\n" + BARC_REQUEST)
    return (("system", BARC_SYSTEM), ("user", "".join(parts)))


# ---- compact (our default) -----------------------------------------------------------------------
COMPACT_SYSTEM = (
    "You are an expert at abstract reasoning puzzles and at Python programming. You solve a puzzle by "
    "writing a Python function that implements its transformation rule."
)
COMPACT_REQUEST = (
    "Write a Python function `transform(grid)` that turns every example input into its output. `grid` is "
    "a 2-D numpy array of ints (colours 0-9); return a 2-D numpy array (or a list of lists) of ints 0-9. "
    "You may use numpy (`import numpy as np`) and the standard library. Answer with exactly one "
    "```python code block that defines `transform`."
)


def compact(task: Task) -> Chat:
    lines = [
        "Each example shows an input grid and its output grid. A grid is written one row per line, "
        "one digit (a colour 0-9) per cell. All examples follow the same rule.",
        "",
    ]
    for i, pair in enumerate(task.train, start=1):
        lines += [f"Example {i}", "Input:", grid_digits(pair.input), "Output:", grid_digits(pair.output), ""]
    for i, grid in enumerate(task.test_inputs, start=1):
        lines += [f"Test input {i}:", grid_digits(grid), ""]
    lines.append(COMPACT_REQUEST)
    return (("system", COMPACT_SYSTEM), ("user", "\n".join(lines)))


@dataclass(frozen=True)
class PromptFormat:
    """A named layout: how to prompt for a program and how to show grids in feedback."""

    name: str
    description: str
    build: Callable[[Task], Chat]
    render_grid: Callable[[Grid], str]


PROMPT_FORMATS: dict[str, PromptFormat] = {
    f.name: f
    for f in (
        PromptFormat("compact", "digit grids, one fenced python block (default)", compact, grid_digits),
        PromptFormat("barc-induction", "BARC Potpourri-Induction-8B layout (FORMATS.md §3)", barc_induction,
                     grid_words),
    )
}


def get_format(name: str) -> PromptFormat:
    """The registered format `name`, or a ValueError with a 'did you mean' hint."""
    try:
        return PROMPT_FORMATS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(PROMPT_FORMATS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown induction prompt format {name!r}{hint} (known: {', '.join(PROMPT_FORMATS)})"
        ) from None


def build_prompt(task: Task, format_name: str) -> Chat:
    return get_format(format_name).build(task)


def prompt_hash(messages: Chat) -> str:
    """Short stable hash of a chat prompt (roles and contents)."""
    blob = json.dumps([list(m) for m in messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# ---- refinement ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """One demonstration a program got wrong: its produced grid, or the error it raised."""

    example: int  # 1-based, as numbered in the prompt
    expected: Grid
    produced: Grid | None
    error: str | None  # "TypeError: ..." / "timeout" / ... when no grid was produced


def refinement_messages(base: Chat, source: str, failures: Sequence[Failure], format_name: str) -> Chat:
    """`base` + the model's program (as its answer) + feedback on failing demos + a correction request."""
    render = get_format(format_name).render_grid
    lines = ["Your program is not correct. Here is what it does on the examples where it fails:", ""]
    for f in failures:
        lines += [f"Example {f.example}", "Expected output:", render(f.expected).rstrip("\n")]
        if f.produced is not None:
            lines += ["Your output:", render(f.produced).rstrip("\n")]
        else:
            lines.append(f"Your program failed: {f.error}")
        lines.append("")
    lines.append(
        "Find the mistake and write a corrected `transform` function. Answer with exactly one ```python "
        "code block."
    )
    answer = f"```python\n{source.rstrip()}\n```"
    return (*base, ("assistant", answer), ("user", "\n".join(lines)))
