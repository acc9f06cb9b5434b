"""Exact threshold search over output grids (the ARChitects' DFS), grid-constrained, on an HF model.

`search(model, prompt_ids, grammar, cfg)` returns every completion whose probability (the product of
its tokens' probabilities, each renormalised over the tokens the grammar allows at that point) is at
least `cfg.threshold`, with caps: at most `max_branches` live branches per depth (the most probable
are kept, ties by parent order then token id), `max_new_tokens` tokens per branch, `max_candidates`
results (the most probable). A prefix's probability only falls as it grows, so pruning a prefix
below the threshold loses no qualifying completion: without a cap hit (`SearchResult.capped`) the
set is exactly the set a depth-first search finds, found here level by level so that all live
branches share one forward pass. The prompt runs once; its KV cache is re-indexed
(`Cache.reorder_cache`) to follow the branches, so the shared prefix is never recomputed. No
sampling: the same model and prompt give the same result.

`GridGrammar` is the output grammar of the `compact` format: rows of digits (one token each) joined
by a newline token, all rows as wide as the first, at most 30 x 30, ended by an end token (EOS or a
blank-line token) right after a complete row; the end tokens' probabilities are summed (one grid). Its allowed-token sets come from the tokenizer's
vocabulary (the ids whose text is one digit, a newline, a blank line). Other formats have no
grammar yet (`grammar_for` says so); vLLM's API offers neither per-branch KV-cache forking nor
full next-token distributions beyond top-k log-probs, so DFS runs on the HF backend only.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arc_core.grid import MAX_SIDE, Grid
from arc_core.task import Task
from arc_core.transforms import Augmentation
from transduction.formats import PseudoTask

EPS = 1e-6  # log-space slack so a completion exactly at the threshold survives float rounding


@dataclass(frozen=True)
class SearchConfig:
    threshold: float = 0.1        # keep completions with probability >= threshold
    max_candidates: int = 8
    max_branches: int = 32        # live branches per depth (memory and time cap)
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"dfs threshold must be in (0, 1], got {self.threshold}")
        if self.max_candidates < 1 or self.max_branches < 1 or self.max_new_tokens < 1:
            raise ValueError("dfs max_candidates, max_branches and max_new_tokens must be >= 1")


@dataclass(frozen=True)
class State:
    """Grammar state: complete rows so far, cells in the current row, the grid's width (0: unknown)."""

    rows: int = 0
    cells: int = 0
    width: int = 0


class GridGrammar:
    """Digit rows separated by newline tokens, then an end token (see the module docstring)."""

    def __init__(self, digit_ids: dict[int, str], newline_ids: set[int], end_ids: set[int]):
        if len(set(digit_ids.values())) != 10 or not newline_ids or not end_ids:
            raise ValueError("grid grammar needs ten digit tokens, a newline token and an end token")
        self.digit_ids = sorted(digit_ids)
        self.newline_ids = sorted(newline_ids)
        self.end_ids = sorted(end_ids)
        self.text = {**digit_ids, **{i: "\n" for i in newline_ids}}

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, eos_ids: set[int]) -> GridGrammar:
        digits, newlines, ends = {}, set(), set(eos_ids)
        for tid in range(len(tokenizer)):
            text = tokenizer.decode([tid])
            if len(text) == 1 and text.isdigit() and text.isascii():
                digits[tid] = text
            elif text == "\n":
                newlines.add(tid)
            elif text == "\n\n":
                ends.add(tid)
        return cls(digits, newlines, ends)

    def allowed(self, s: State) -> list[int]:
        row_done = s.cells > 0 and (s.width == 0 or s.cells == s.width)
        out = []
        if s.cells < (s.width or MAX_SIDE):
            out += self.digit_ids
        if row_done and s.rows + 1 < MAX_SIDE:
            out += self.newline_ids
        if row_done:
            out += self.end_ids
        return out

    def advance(self, s: State, tid: int) -> State:
        if tid in self.newline_ids:
            return State(s.rows + 1, 0, s.width or s.cells)
        return State(s.rows, s.cells + 1, s.width)

    def is_end(self, tid: int) -> bool:
        return tid in self.end_ids

    def decode(self, tokens: tuple[int, ...]) -> str:
        return "".join(self.text[t] for t in tokens)


def grammar_for(format_name: str, tokenizer: Any, eos_ids: set[int]) -> GridGrammar:
    if format_name != "compact":
        raise ValueError(f"DFS has a grid grammar for format 'compact' only, not {format_name!r}; "
                         "set infer.dfs_views=0 or data.format=compact")
    return GridGrammar.from_tokenizer(tokenizer, eos_ids)


@dataclass(frozen=True)
class Completion:
    text: str                     # the grid text (end token excluded)
    logprob: float                # natural log of its (renormalised) probability
    n_tokens: int


@dataclass(frozen=True)
class SearchResult:
    completions: tuple[Completion, ...]     # most probable first
    steps: int                              # forward passes after the prompt
    capped: bool                            # a branch or candidate cap cut the search (not exact)


def search(model: Any, prompt_ids: list[int], grammar: GridGrammar, cfg: SearchConfig) -> SearchResult:
    """All grammar-valid completions with probability >= cfg.threshold (see the module docstring)."""
    import torch

    if not prompt_ids:
        raise ValueError("dfs: empty prompt")
    device = next(model.parameters()).device
    floor = math.log(cfg.threshold)
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt_ids], device=device), use_cache=True)
        cache, logits = out.past_key_values, out.logits[:, -1].float()
        live: list[tuple[tuple[int, ...], float, State]] = [((), 0.0, State())]
        done: list[Completion] = []
        capped, steps = False, 0
        for depth in range(cfg.max_new_tokens):
            nxt = []
            for parent, (tokens, lp, state) in enumerate(live):
                allowed = grammar.allowed(state)
                if not allowed:
                    continue
                logp = torch.log_softmax(logits[parent, allowed], dim=-1)
                ends = [k for k, tid in enumerate(allowed) if grammar.is_end(tid)]
                if ends:  # all end tokens end the same grid: one completion, their mass summed
                    total = lp + float(torch.logsumexp(logp[ends], dim=0))
                    if total >= floor - EPS:
                        done.append(Completion(grammar.decode(tokens), total, len(tokens) + 1))
                for tid, tok_lp in zip(allowed, logp.tolist()):
                    if not grammar.is_end(tid) and lp + tok_lp >= floor - EPS:
                        nxt.append((parent, tid, lp + tok_lp))
            if len(nxt) > cfg.max_branches:
                capped = True
                nxt = sorted(nxt, key=lambda c: (-c[2], c[0], c[1]))[:cfg.max_branches]
            if not nxt:
                break
            if depth == cfg.max_new_tokens - 1:
                capped = True  # live branches reached the token cap unfinished
                break
            index = torch.tensor([p for p, _, _ in nxt], device=device)
            cache.reorder_cache(index)
            live = [(live[p][0] + (tid,), total, grammar.advance(live[p][2], tid)) for p, tid, total in nxt]
            step_ids = torch.tensor([[tid] for _, tid, _ in nxt], device=device)
            out = model(input_ids=step_ids, past_key_values=cache, use_cache=True)
            cache, logits = out.past_key_values, out.logits[:, -1].float()
            steps += 1
    done.sort(key=lambda c: (-c.logprob, c.text))
    if len(done) > cfg.max_candidates:
        capped, done = True, done[:cfg.max_candidates]
    return SearchResult(tuple(done), steps, capped)


# ---- DFS under augmented views of a task --------------------------------------------------------
@dataclass(frozen=True)
class DFSHit:
    """One DFS completion under one view, parsed and mapped back to the task's frame."""

    test_index: int
    view: str                     # dihedral transform of the view's prompt
    grid: Grid
    logprob: float

    def to_dict(self) -> dict:
        return {"test_index": self.test_index, "view": self.view, "grid": self.grid.to_list(),
                "logprob": self.logprob}

    @classmethod
    def from_dict(cls, d: dict) -> DFSHit:
        return cls(d["test_index"], d["view"], Grid.parse(d["grid"]), d["logprob"])


def dfs_views(task: Task, model: Any, tokenizer: Any, fmt: Any, views: Sequence[str], cfg: SearchConfig,
              eos_ids: set[int], deadline: float | None = None) -> tuple[list[DFSHit], bool]:
    """DFS on each test input under each view (all demonstrations, every grid transformed by the
    view); returns the hits and whether any search hit a cap (or `deadline`, time.time() seconds,
    passed: the views not started by then are skipped)."""
    grammar = grammar_for(fmt.name, tokenizer, eos_ids)
    hits, capped = [], False
    for ti, query in enumerate(task.test_inputs):
        for name in views:
            if deadline is not None and time.time() >= deadline:
                return hits, True
            aug = Augmentation(name)
            prompt = fmt.encode(PseudoTask(aug.apply_pairs(task.train), aug.apply(query)), tokenizer).text
            ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
            res = search(model, ids, grammar, cfg)
            capped |= res.capped
            for c in res.completions:
                parsed = fmt.parse(c.text)
                if parsed.grid is not None:  # the grammar makes this always true for valid sizes
                    hits.append(DFSHit(ti, name, aug.invert(parsed.grid), c.logprob))
    return hits, capped
