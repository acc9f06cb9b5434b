"""Prompt formats: a pseudo-task to text with character spans, and model text back to a grid.

A `PseudoTask` is what one prompt shows: demonstration pairs, a query input and, for training, the
query output. A `Format` encodes it to text (`compact`) or to chat messages rendered with the
tokenizer's own chat template (`marc`, `barc-transduction`, exactly as in ../shared/FORMATS.md).
`Encoded` carries the character spans of every demonstration output and of the query output (for
chat formats the latter includes the template's end-of-turn token), so loss masks are derived from
offsets (transduction.masks), never from token ids. `Format.parse` turns generated text into a
`ParseResult`: a grid or a typed failure, never an exception.

Registry: `FORMATS`, `get_format(name)` (unknown names get a "did you mean" error).
"""
from __future__ import annotations

import difflib
import enum
import functools
from dataclasses import dataclass
from typing import Any, Protocol

from arc_core.barc_text import USER_PREAMBLE, WORD_TO_COLOUR, grid_words
from arc_core.grid import MAX_SIDE, Grid
from arc_core.task import Pair

Span = tuple[int, int]


@dataclass(frozen=True)
class PseudoTask:
    """One prompt's content. `name` records how it was made (e.g. "loo1|rot90+order:1,0")."""

    demos: tuple[Pair, ...]
    query_input: Grid
    query_output: Grid | None = None
    name: str = ""

    def grids(self) -> tuple[Grid, ...]:
        extra = (self.query_output,) if self.query_output is not None else ()
        return tuple(g for p in self.demos for g in (p.input, p.output)) + (self.query_input, *extra)


@dataclass(frozen=True)
class Encoded:
    """Text of a pseudo-task and where the outputs are in it.

    prompt_end: index where the model's answer starts (text[:prompt_end] is the inference prompt).
    """

    text: str
    demo_output_spans: tuple[Span, ...]
    query_output_span: Span | None
    prompt_end: int

    def loss_spans(self, loss_on: str) -> tuple[Span, ...]:
        """'outputs': demo outputs 2..k and the query output (the paper's loss); 'query': query only."""
        query = (self.query_output_span,) if self.query_output_span is not None else ()
        if loss_on == "query":
            return query
        if loss_on == "outputs":
            return self.demo_output_spans[1:] + query
        raise ValueError(f"unknown loss_on {loss_on!r}; use 'outputs' or 'query'")


class ParseStatus(str, enum.Enum):
    OK = "ok"
    EMPTY = "empty"              # nothing that looks like a grid
    BAD_CELL = "bad_cell"        # a token that is not a colour
    RAGGED = "ragged"            # rows of different lengths
    TOO_LARGE = "too_large"      # more than 30 rows or columns
    TRUNCATED = "truncated"      # generation hit its token budget: never parsed


@dataclass(frozen=True)
class ParseResult:
    grid: Grid | None
    status: ParseStatus
    error: str | None = None

    @classmethod
    def fail(cls, status: ParseStatus, error: str) -> ParseResult:
        return cls(None, status, error)


def rows_to_grid(rows: list[list[int]]) -> ParseResult:
    """Validate parsed rows into a grid or a typed failure."""
    rows = [r for r in rows if r]
    if not rows:
        return ParseResult.fail(ParseStatus.EMPTY, "no grid rows found")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        return ParseResult.fail(ParseStatus.RAGGED, f"row lengths {sorted(widths)}")
    if len(rows) > MAX_SIDE or len(rows[0]) > MAX_SIDE:
        return ParseResult.fail(ParseStatus.TOO_LARGE, f"size {len(rows)}x{len(rows[0])}")
    return ParseResult(Grid(tuple(tuple(r) for r in rows)), ParseStatus.OK)


class Format(Protocol):
    name: str
    chat: bool               # rendered with the tokenizer's chat template (ends turns itself: no EOS appended)
    stop: tuple[str, ...]    # stop strings for generation

    def encode(self, pt: PseudoTask, tokenizer: Any = None) -> Encoded: ...
    def answer_text(self, grid: Grid) -> str: ...
    def parse(self, text: str) -> ParseResult: ...


def _assemble(segments: list[tuple[str, str | None]]) -> tuple[str, dict[str, list[Span]]]:
    """Join (text, tag) segments; return the text and the spans of tagged segments by tag."""
    out, spans, pos = [], {}, 0
    for text, tag in segments:
        if tag is not None:
            spans.setdefault(tag, []).append((pos, pos + len(text)))
        out.append(text)
        pos += len(text)
    return "".join(out), spans


# ---- compact: one token per cell, short headers ------------------------------------------------
@dataclass(frozen=True)
class CompactFormat:
    """`input:⏎<rows>⏎output:⏎<rows>⏎⏎` per demo; digits without separators, one row per line.

    One token per cell with digit-splitting tokenizers such as SmolLM2's (`check_tokenizer` refuses
    tokenizers that merge digit runs, e.g. Llama-3's); a demo output's span includes its final newline.
    """

    name: str = "compact"
    chat: bool = False
    stop: tuple[str, ...] = ("\n\n",)

    def grid_text(self, grid: Grid) -> str:
        return str(grid)

    def answer_text(self, grid: Grid) -> str:
        return self.grid_text(grid)

    def encode(self, pt: PseudoTask, tokenizer: Any = None) -> Encoded:
        segs: list[tuple[str, str | None]] = []
        for p in pt.demos:
            segs += [("input:\n" + self.grid_text(p.input) + "\noutput:\n", None),
                     (self.grid_text(p.output) + "\n", "demo"), ("\n", None)]
        segs.append(("input:\n" + self.grid_text(pt.query_input) + "\noutput:\n", None))
        prompt_end = sum(len(t) for t, _ in segs)
        if pt.query_output is not None:
            segs.append((self.answer_text(pt.query_output), "query"))
        text, spans = _assemble(segs)
        query = spans.get("query", [None])[0]
        return Encoded(text, tuple(spans.get("demo", [])), query, prompt_end)

    def check_tokenizer(self, tokenizer: Any) -> None:
        """Raise unless every cell is one token (digits not merged) for this tokenizer."""
        text = "0123456789\n9876543210"
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != len(text):
            raise ValueError(f"format 'compact' needs a tokenizer that splits digits into single tokens; this one "
                             f"encodes {text!r} as {len(ids)} tokens, not {len(text)}. Use data.format=marc")

    def parse(self, text: str) -> ParseResult:
        rows: list[list[int]] = []
        for line in text.strip("\n").split("\n"):
            line = line.strip()
            if not line:
                break  # a blank line ends the grid
            if not line.isdigit() or not line.isascii():
                if rows:
                    break  # the grid ended; trailing text is ignored
                return ParseResult.fail(ParseStatus.BAD_CELL, f"not a grid row: {line[:40]!r}")
            rows.append([int(c) for c in line])
        return rows_to_grid(rows)


# ---- chat formats ------------------------------------------------------------------------------
_END_OF_TURN = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>")


def _render_chat(messages: list[tuple[str, list[tuple[str, str | None]]]], tokenizer: Any,
                 with_answer: bool) -> Encoded:
    """Render messages with the tokenizer's chat template and locate tagged segments in the result.

    Each message's content is found verbatim (after the template's optional strip) in the rendered
    text, searching left to right; tagged spans are shifted accordingly. The query span (the whole
    assistant message) is extended over an end-of-turn token that directly follows it.
    """
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError("this format renders chat messages and needs a tokenizer with a chat template")
    contents = [(role, *_assemble(segs)) for role, segs in messages]
    chat = [{"role": role, "content": text} for role, text, _ in contents]
    rendered = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=not with_answer)
    assert isinstance(rendered, str), type(rendered)
    rendered = _strip_added_bos(rendered, tokenizer)
    cursor, demo, query, prompt_end = 0, [], None, len(rendered)
    for role, text, spans in contents:
        stripped = text.strip()
        at = rendered.find(stripped, cursor)
        if at < 0:
            raise ValueError(f"chat template altered the {role} message; cannot locate its content")
        shift = at - (len(text) - len(text.lstrip()))
        demo += [(s + shift, e + shift) for s, e in spans.get("demo", [])]
        if role == "assistant":
            prompt_end = at
            end = at + len(stripped)
            for tok in (getattr(tokenizer, "eos_token", None) or "", *_END_OF_TURN):
                if tok and rendered.startswith(tok, end):
                    end += len(tok)
                    break
            query = (at, end)
        cursor = at + len(stripped)
    return Encoded(rendered, tuple(demo), query, prompt_end)


def _strip_added_bos(rendered: str, tokenizer: Any) -> str:
    """Drop a template-written BOS when tokenizing adds one anyway (prompts are tokenised with special tokens)."""
    bos = getattr(tokenizer, "bos_token", None)
    if bos and rendered.startswith(bos):
        ids = tokenizer("", add_special_tokens=True)["input_ids"]
        if ids and ids[0] == tokenizer.bos_token_id:
            return rendered[len(bos):]
    return rendered


@functools.lru_cache(maxsize=1 << 16)  # the same grids recur across a task's many pseudo-tasks
def numpy_grid_text(grid: Grid) -> str:
    """numpy's default str() of the grid as an int array: `[[0 1]⏎ [2 3]]`."""
    return "[" + "\n ".join("[" + " ".join(map(str, row)) + "]" for row in grid.rows) + "]"


MARC_SYSTEM = ("Figure out the underlying transformation in the following examples and apply it to the "
               "test case. Here are some examples from this transformation, your answer must follow the "
               "format.\nThe input-output grids are provided as python arrays:\n")


@dataclass(frozen=True)
class MarcFormat:
    """The TTT paper's "new format" (FORMATS.md §1): numpy grids, `in -> out#`, demos in the system turn."""

    name: str = "marc"
    chat: bool = True
    stop: tuple[str, ...] = ("#",)

    def answer_text(self, grid: Grid) -> str:
        return numpy_grid_text(grid) + "#"

    def encode(self, pt: PseudoTask, tokenizer: Any = None) -> Encoded:
        system: list[tuple[str, str | None]] = [(MARC_SYSTEM, None)]
        for p in pt.demos:
            system += [(numpy_grid_text(p.input) + " -> ", None), (numpy_grid_text(p.output) + "#", "demo"),
                       ("\n", None)]
        msgs = [("system", system), ("user", [(numpy_grid_text(pt.query_input) + " -> ", None)])]
        if pt.query_output is not None:
            msgs.append(("assistant", [(self.answer_text(pt.query_output), None)]))
        return _render_chat(msgs, tokenizer, pt.query_output is not None)

    def parse(self, text: str) -> ParseResult:
        body = text.split("#", 1)[0]
        rows = []
        for line in body.strip().split("\n"):
            cells = line.replace("[", " ").replace("]", " ").split()
            if not all(c.isdigit() and c.isascii() and len(c) == 1 for c in cells):
                return ParseResult.fail(ParseStatus.BAD_CELL, f"not a grid row: {line[:40]!r}")
            rows.append([int(c) for c in cells])
        return rows_to_grid(rows)


BARC_SYSTEM = ("You are a world-class puzzle solver with exceptional pattern recognition skills. Your task is "
               "to analyze puzzles, spot patterns, and provide direct solutions.")
BARC_USER_PREAMBLE = USER_PREAMBLE
BARC_USER_END = ("Directly provide the output grids corresponding to the given test input grids, based on the "
                 "patterns observed in the reference examples.")
BARC_ANSWER_PREFIX = "The output grid for the test input grid is:\n\n```\n"


@dataclass(frozen=True)
class BarcTransductionFormat:
    """BARC's transduction checkpoint layout (FORMATS.md §2): colour words, demos in the user turn."""

    name: str = "barc-transduction"
    chat: bool = True
    stop: tuple[str, ...] = ()

    def answer_text(self, grid: Grid) -> str:
        return BARC_ANSWER_PREFIX + grid_words(grid) + "\n```"

    def encode(self, pt: PseudoTask, tokenizer: Any = None) -> Encoded:
        user: list[tuple[str, str | None]] = [(BARC_USER_PREAMBLE, None)]
        for i, p in enumerate(pt.demos, start=1):
            user += [(f"Example {i}:\nInput:\n{grid_words(p.input)}\n\nOutput:\n", None),
                     (grid_words(p.output) + "\n", "demo")]
        user.append(("\n\nHere is the input grid for the test example:\nInput:\n"
                     + grid_words(pt.query_input) + "\n\n" + BARC_USER_END, None))
        msgs = [("system", [(BARC_SYSTEM, None)]), ("user", user)]
        if pt.query_output is not None:
            msgs.append(("assistant", [(self.answer_text(pt.query_output), None)]))
        return _render_chat(msgs, tokenizer, pt.query_output is not None)

    def parse(self, text: str) -> ParseResult:
        parts = text.split("```")
        body = parts[1] if len(parts) >= 2 else text  # an unclosed fence: take what follows it
        rows = []
        for line in body.strip().split("\n"):
            words = line.split()
            bad = [w for w in words if w not in WORD_TO_COLOUR]
            if bad:
                return ParseResult.fail(ParseStatus.BAD_CELL, f"unknown colour word {bad[0][:20]!r}")
            rows.append([WORD_TO_COLOUR[w] for w in words])
        return rows_to_grid(rows)


FORMATS: dict[str, Format] = {f.name: f for f in (CompactFormat(), MarcFormat(), BarcTransductionFormat())}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(FORMATS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(FORMATS)}"
        raise ValueError(f"unknown prompt format {name!r} ({hint})") from None

