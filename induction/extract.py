"""Extract one program from a model response, or say why there is none.

Order of preference: fenced blocks tagged python (```python / ```py / ```python3), then any other
fenced block, then - only when the response has no fence at all - the bare text if it contains
`def transform`. Within that order the first block that parses (`ast`) and defines a top-level
`transform` wins: models often show a helper or a usage example in an earlier block. When none
does, the reason is the one of the first candidate, so "why no program" names the main block.

Real responses are messy: CRLF line ends, fences indented inside list items (dedented), several
blocks, a closing fence missing because the response hit the token limit (accepted if it parses,
else `TRUNCATED`), prose before or after bare code (code starts at the first line that looks like
code; trailing prose is cut at the line the parser first rejects).

Hostile or malformed text is a per-sample failure, never an exception: a response longer than
`max_chars` is refused before any scanning or parsing (`TOO_LARGE`: parsing a 10 MB source costs
about 2 GB and seconds, twice, since de-duplication parses again), and code that is not valid
text for the interpreter - a lone surrogate (possible from JSON `"\ud800"`), a NUL byte - is
`INVALID_TEXT` with the position of the first offending character.
"""
from __future__ import annotations

import ast
import enum
import functools
import re
import textwrap
from dataclasses import dataclass

_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+.-]*)[^`\n]*$")
_PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "python2"})
_CODE_START = re.compile(r"^(import\s|from\s+\S+\s+import\s|def\s|class\s|@|[A-Za-z_][A-Za-z0-9_]*\s*=)")
_DEFINES_TRANSFORM = re.compile(r"\bdef\s+transform\s*\(")
_MAX_TRIMS = 40  # bound on "cut trailing prose" retries for bare text
# Default cap on a response's length: real programs are a few KB, a BARC response with reasoning
# rarely passes 20 KB; 200,000 characters keeps the orchestrator's parse under ~50 MB and 0.3 s.
MAX_RESPONSE_CHARS = 200_000
_CACHED_CODE_CHARS = 16_000
_SURROGATE_OR_NUL = re.compile("[\x00\ud800-\udfff]")


class NoProgram(str, enum.Enum):
    """Why a response yielded no program."""

    EMPTY = "empty"  # the response (or its only block) is blank
    NO_CODE = "no_code"  # no fenced block and no `def transform` in the text
    SYNTAX_ERROR = "syntax_error"  # the chosen code does not parse
    TRUNCATED = "truncated"  # unterminated fence whose content does not parse (token limit)
    NO_TRANSFORM = "no_transform"  # parses, but defines no top-level `transform`
    TOO_LARGE = "too_large"  # the response is longer than the configured cap (not parsed at all)
    INVALID_TEXT = "invalid_text"  # the code holds a NUL byte or a lone surrogate (not valid source)


@dataclass(frozen=True, slots=True)
class Extraction:
    """The program found in a response (`code`), or `reason` + `detail` for why there is none."""

    code: str | None
    method: str | None = None  # "python_block" | "block" | "bare"
    reason: NoProgram | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None


@dataclass(frozen=True, slots=True)
class _Block:
    lang: str
    body: str
    terminated: bool


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")


def find_blocks(text: str) -> list[_Block]:
    """Every fenced block in order (fence = 3+ backticks or tildes at a line start)."""
    lines = text.split("\n")
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(2), m.group(3).lower()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            body.append(lines[j])
            j += 1
        blocks.append(_Block(lang, "\n".join(body), terminated=j < len(lines)))
        i = j + 1
    return blocks


def defines_transform(tree: ast.Module) -> bool:
    """A top-level `def transform(...)` or `transform = ...`."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "transform":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "transform" for t in node.targets
        ):
            return True
    return False


def parse_source(code: str) -> tuple[ast.Module | None, str | None]:
    """(tree, None) or (None, "line N: message")."""
    try:
        return ast.parse(code), None
    except SyntaxError as e:
        return None, f"line {e.lineno}: {e.msg}"
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return None, f"{type(e).__name__}: {e}"


def invalid_text(code: str) -> str | None:
    """Why `code` cannot be Python source text (NUL byte, lone surrogate), or None."""
    m = _SURROGATE_OR_NUL.search(code)
    if m is None:
        return None
    what = "NUL byte" if m.group() == "\x00" else f"lone surrogate U+{ord(m.group()):04X}"
    return f"{what} at character {m.start()}"


def _check(code: str, method: str, terminated: bool = True) -> Extraction:
    code = textwrap.dedent(code).strip("\n")
    if not code.strip():
        return Extraction(None, method, NoProgram.EMPTY, "empty code block")
    bad = invalid_text(code)
    if bad is not None:
        return Extraction(None, method, NoProgram.INVALID_TEXT, bad)
    parses, error, has_transform = _verdict(code)
    if not parses:
        reason = NoProgram.SYNTAX_ERROR if terminated else NoProgram.TRUNCATED
        return Extraction(None, method, reason, error)
    if not has_transform:
        return Extraction(None, method, NoProgram.NO_TRANSFORM, "no top-level `transform` defined")
    return Extraction(code + "\n", method)


def _verdict(code: str) -> tuple[bool, str | None, bool]:
    """(parses, error, defines `transform`) of `code`; remembered for short codes, since the same
    code comes back in many differently worded responses (parsing is most of extraction's time)."""
    return _cached_verdict(code) if len(code) <= _CACHED_CODE_CHARS else _cached_verdict.__wrapped__(code)


@functools.lru_cache(maxsize=1024)  # at most 1024 x 16 K characters held
def _cached_verdict(code: str) -> tuple[bool, str | None, bool]:
    tree, error = parse_source(code)
    return tree is not None, error, tree is not None and defines_transform(tree)


def _bare(text: str) -> Extraction:
    """Bare code possibly wrapped in prose: start at the first code-looking line, cut trailing prose."""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return Extraction(None, "bare", NoProgram.SYNTAX_ERROR, "`def transform` not at a line start")
    code_lines = lines[start:]
    first = _check("\n".join(code_lines), "bare")
    result = first
    for _ in range(_MAX_TRIMS):
        if result.ok or result.reason is not NoProgram.SYNTAX_ERROR:
            break
        m = re.match(r"line (\d+):", result.detail or "")
        if not m or int(m.group(1)) <= 1:
            break
        code_lines = code_lines[: int(m.group(1)) - 1]
        result = _check("\n".join(code_lines), "bare")
    return result if result.ok else first


def extract_program(response: str, max_chars: int = MAX_RESPONSE_CHARS) -> Extraction:
    """The program in `response` (see the module docstring for the rules)."""
    if len(response) > max_chars:
        return Extraction(None, None, NoProgram.TOO_LARGE,
                          f"{len(response)} characters, more than the cap of {max_chars} "
                          "(induction.max_response_chars); not parsed")
    text = _normalise_newlines(response)
    if not text.strip():
        return Extraction(None, None, NoProgram.EMPTY, "empty response")
    blocks = find_blocks(text)
    if not blocks:
        if not _DEFINES_TRANSFORM.search(text):
            return Extraction(None, None, NoProgram.NO_CODE, "no fenced code block and no `def transform`")
        return _bare(text)
    ordered = [b for b in blocks if b.lang in _PYTHON_TAGS] + [b for b in blocks if b.lang not in _PYTHON_TAGS]
    first: Extraction | None = None
    for block in ordered:
        method = "python_block" if block.lang in _PYTHON_TAGS else "block"
        result = _check(block.body, method, block.terminated)
        if result.ok:
            return result
        first = first or result
    assert first is not None
    return first
