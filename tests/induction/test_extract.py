"""Extraction on real-world messy responses: one table row per shape of mess."""
from __future__ import annotations

import ast

import pytest

from induction.extract import NoProgram, extract_program

GOOD = "def transform(grid):\n    return grid[::-1]\n"

CASES = [
    # (name, response, expected reason or None, substring the code must contain, method)
    ("plain python block", f"Here you go:\n```python\n{GOOD}```\nDone.", None, "grid[::-1]", "python_block"),
    ("py tag", f"```py\n{GOOD}```", None, "grid[::-1]", "python_block"),
    ("untagged block", f"Solution:\n```\n{GOOD}```", None, "grid[::-1]", "block"),
    ("python block preferred over earlier untagged",
     "```\nnot python at all\n```\n```python\n" + GOOD + "```", None, "grid[::-1]", "python_block"),
    ("first python block without transform skipped",
     "```python\nimport numpy as np\nx = 1\n```\nthen\n```python\n" + GOOD + "```", None, "grid[::-1]",
     "python_block"),
    ("several transform blocks: first wins",
     "```python\ndef transform(grid):\n    return grid\n```\n```python\n" + GOOD + "```", None, "return grid\n",
     "python_block"),
    ("CRLF line ends", f"text\r\n```python\r\n{GOOD.replace(chr(10), chr(13) + chr(10))}```\r\n", None,
     "grid[::-1]", "python_block"),
    ("indented fence in a list item", "1. Code:\n   ```python\n   def transform(grid):\n       return grid.T\n   ```\n",
     None, "grid.T", "python_block"),
    ("unterminated fence that parses", f"```python\n{GOOD}", None, "grid[::-1]", "python_block"),
    ("unterminated fence cut mid-statement", "```python\ndef transform(grid):\n    return np.rot90(grid,",
     NoProgram.TRUNCATED, None, "python_block"),
    ("bare code with prose around",
     "I think the rule is a flip.\nimport numpy as np\n\ndef transform(grid):\n    return np.flipud(grid)\n\n"
     "This flips the grid upside down, as seen in every example.", None, "np.flipud", "bare"),
    ("bare code only", GOOD, None, "grid[::-1]", "bare"),
    ("prose only", "The output is the input mirrored. I cannot write code.", NoProgram.NO_CODE, None, None),
    ("empty", "  \n\t", NoProgram.EMPTY, None, None),
    ("empty block", "```python\n\n```", NoProgram.EMPTY, None, "python_block"),
    ("syntax error", "```python\ndef transform(grid)\n    return grid\n```", NoProgram.SYNTAX_ERROR, None,
     "python_block"),
    ("no transform", "```python\ndef solve(grid):\n    return grid\n```", NoProgram.NO_TRANSFORM, None,
     "python_block"),
    ("tilde fence", f"~~~python\n{GOOD}~~~", None, "grid[::-1]", "python_block"),
    ("four-backtick fence with inner triple", "````python\ns = '```'\n" + GOOD + "````", None, "grid[::-1]",
     "python_block"),
    ("tab indentation", "```python\ndef transform(grid):\n\treturn grid.T\n```", None, "grid.T", "python_block"),
    ("null byte", "```python\ndef transform(grid):\n    return grid\x00\n```", NoProgram.INVALID_TEXT, None,
     "python_block"),
    ("transform as assignment", "```python\nimport numpy as np\ntransform = np.flipud\n```", None, "np.flipud",
     "python_block"),
]


@pytest.mark.parametrize("name,response,reason,needle,method", CASES, ids=[c[0] for c in CASES])
def test_extraction_table(name, response, reason, needle, method):
    e = extract_program(response)
    assert e.reason == reason, (name, e)
    assert e.method == method
    if reason is None:
        assert e.ok and needle in e.code
        assert "\r" not in e.code
        ast.parse(e.code)  # always valid Python
    else:
        assert e.code is None and e.detail


def test_syntax_error_detail_names_the_line():
    e = extract_program("```python\nimport numpy as np\ndef transform(grid)\n    return grid\n```")
    assert e.reason is NoProgram.SYNTAX_ERROR
    assert e.detail.startswith("line 2:")


def test_reason_is_from_the_main_block_when_all_fail():
    e = extract_program("```python\ndef transform(g:\n```\n```\nhello\n```")
    assert e.reason is NoProgram.SYNTAX_ERROR
