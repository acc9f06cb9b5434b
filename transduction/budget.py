"""Answer budgets from the tokenizer, and which inference prompts fit the model's context.

The budget of a query is what the largest possible answer (a 30x30 grid) needs in the query's
format with this tokenizer: the answer text rendered for the worst-case cell pattern, tokenised,
plus one end token (EOS or end-of-turn). It is capped by `context - prompt` and by the optional
speed cap `infer.max_new_tokens`. A query *fits* when `context - prompt` holds its full budget (a
30x30 answer, or the speed cap) and its longest plausible answer: the worst-case rendering of the
largest shape the prompt suggests (demo outputs, the query input, and a consistent output/input
size ratio applied to the query input; every dihedral transform of the prompt is already applied).
The plausible shape is a guess, so it never lowers a budget: every query that runs can write any
ARC answer. Queries that do not fit are dropped with a reason; when no identity prompt of a test
input fits, prompts with fewer demonstrations are added, one level at a time: leave-two-out first,
as the TTT paper's code does (ekinakyurek/marc, predict.py), then (beyond marc, which gives such a
task no answer) leave-three-out and so on down to a single demonstration (transduction.queries).
The plan records how many demonstrations each such test input's prompts kept (`fewer_demos`). All
of it is recorded (`QueryPlan`).

`TokenCounter` counts tokens exactly and fast by caching per line: the byte-level BPE
pre-tokenizers of Llama-3 and SmolLM2 never join a newline with the text after it, so a text's
tokens are the sum of its lines' tokens (checked on probe texts when the counter is built, and by
tests against full tokenisation).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from arc_core.grid import MAX_SIDE, Grid
from arc_core.task import Task
from transduction.config import InferConfig
from transduction.formats import Format, PseudoTask
from transduction.queries import build_queries

# Two ways to cut a text into independently tokenisable pieces, both after each run of newlines:
# "runs" keeps the run whole (Llama-3 makes "\n\n" one pre-token whatever follows); "gpt2" splits
# off the run's last newline when text follows (GPT-2-style pre-tokenizers such as SmolLM2's cut
# "\n\n\nHere" into "\n\n", "\n", "Here").
_CHUNKS = re.compile(r"[^\n]*\n+|[^\n]+")
MODES = ("runs", "gpt2")
_PROBES = (
    "system\n\nFigure out:\n[[0 1 2]\n [3 4 5]] -> [[1]]#\n[[7]] -> [[8 9]]#<|eot_id|>user\n\n[[1 1]] ->",
    "input:\n012\n345\noutput:\n99\n\ninput:\n7\noutput:\n",
    "Example 1:\nInput:\nBlack Blue\nRed Green\n\nOutput:\nBrown\n\n\nHere is\n```\nGray Pink\n```",
)


class TokenCounter:
    """Exact token counts of texts, cached per line (see the module docstring). The way lines are
    cut is chosen by checking probe texts against full tokenisation; a tokenizer for which neither
    way is exact is counted by full tokenisation (`mode` "full")."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.n_special = len(tokenizer("", add_special_tokens=True)["input_ids"])
        self._cache: dict[str, int] = {}
        self.mode = "full"
        for mode in MODES:
            self.mode = mode
            if all(self._by_lines(p) == len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in _PROBES):
                break
            self.mode = "full"
        self._cache.clear()

    def _pieces(self, text: str) -> list[str]:
        chunks = _CHUNKS.findall(text)
        if self.mode == "runs":
            return chunks
        out = []
        for i, c in enumerate(chunks):
            if c.endswith("\n") and i + 1 < len(chunks) and len(c) > 1:
                out += [c[:-1], "\n"]
            else:
                out.append(c)
        return out

    def _by_lines(self, text: str) -> int:
        pieces = self._pieces(text)
        misses = [p for p in dict.fromkeys(pieces) if p not in self._cache]
        if misses:  # one batched call for the new pieces
            for piece, ids in zip(misses, self.tokenizer(misses, add_special_tokens=False)["input_ids"]):
                self._cache[piece] = len(ids)
        return sum(self._cache[p] for p in pieces)

    def count(self, text: str, special: bool = True) -> int:
        """Tokens of `text`, with the tokenizer's added special tokens (e.g. BOS) when `special`."""
        n = (len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if self.mode == "full"
             else self._by_lines(text))
        return n + (self.n_special if special else 0)


def _patterns(h: int, w: int) -> list[Grid]:
    """Cell patterns whose renderings bound an h x w answer's length: each uniform colour, two
    alternating colours, and a seeded random grid."""
    uniform = [Grid(((c,) * w,) * h) for c in range(10)]
    checker = Grid(tuple(tuple((r + c) % 2 * 9 for c in range(w)) for r in range(h)))
    rand = Grid.from_array(np.random.default_rng(h * 31 + w).integers(0, 10, size=(h, w)), "pattern")
    return [*uniform, checker, rand]


class AnswerSizes:
    """Worst-case answer tokens per grid shape for one format and tokenizer (cached)."""

    def __init__(self, fmt: Format, counter: TokenCounter) -> None:
        self.fmt, self.counter = fmt, counter
        self.tokens = lru_cache(maxsize=None)(self._tokens)

    def _tokens(self, h: int, w: int) -> int:
        return 1 + max(self.counter.count(self.fmt.answer_text(g), special=False) for g in _patterns(h, w))

    @property
    def bound(self) -> int:
        """Tokens of the largest answer any ARC task can have (30x30), end token included."""
        return self.tokens(MAX_SIDE, MAX_SIDE)


def plausible_shape(pt: PseudoTask) -> tuple[int, int]:
    """The largest output shape the prompt suggests (see the module docstring), capped at 30x30."""
    shapes = [p.output.shape for p in pt.demos] + [pt.query_input.shape]
    h, w = max(s[0] for s in shapes), max(s[1] for s in shapes)
    if pt.demos:
        ratios_h = {p.output.shape[0] / p.input.shape[0] for p in pt.demos}
        ratios_w = {p.output.shape[1] / p.input.shape[1] for p in pt.demos}
        if len(ratios_h) == 1:
            h = max(h, math.ceil(ratios_h.pop() * pt.query_input.shape[0]))
        if len(ratios_w) == 1:
            w = max(w, math.ceil(ratios_w.pop() * pt.query_input.shape[1]))
    return min(h, MAX_SIDE), min(w, MAX_SIDE)


@dataclass(frozen=True)
class Fitted:
    """A query that fits: its prompt length, longest plausible answer and budget (tokens)."""

    query: Any                 # transduction.predict.Query
    prompt_tokens: int
    plausible: int
    budget: int


@dataclass(frozen=True)
class Dropped:
    query: Any
    prompt_tokens: int
    plausible: int
    reason: str                # "context": prompt + full budget (or plausible answer) exceed the context


@dataclass
class QueryPlan:
    """The queries of a task that will run, those dropped, and the fallbacks added."""

    context: int
    bound: int                                        # worst-case 30x30 answer tokens
    fitted: list[Fitted] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    fallbacks: int = 0                                # queries added with fewer demonstrations
    fewer_demos: dict[int, int] = field(default_factory=dict)  # test input -> demonstrations its
                                                      # fallback prompts show (absent: no fallback)
    unanswerable: list[int] = field(default_factory=list)  # test inputs with no query at all

    @property
    def queries(self) -> list[Any]:
        return [f.query for f in self.fitted]

    @property
    def budgets(self) -> list[int]:
        return [f.budget for f in self.fitted]

    def summary(self) -> dict[str, Any]:
        reasons: dict[str, int] = {}
        for d in self.dropped:
            reasons[d.reason] = reasons.get(d.reason, 0) + 1
        return {"queries": len(self.fitted), "dropped": len(self.dropped), "drop_reasons": reasons,
                "fallbacks": self.fallbacks, "unanswerable_tests": list(self.unanswerable),
                "fewer_demos": {str(k): v for k, v in self.fewer_demos.items()},
                "context": self.context, "answer_bound": self.bound,
                "min_budget": min(self.budgets, default=0),
                "max_prompt_tokens": max((f.prompt_tokens for f in self.fitted), default=0)}


def context_length(cfg: InferConfig, model: Any = None, tokenizer: Any = None) -> int:
    """infer.context, else the model config's max_position_embeddings, else the tokenizer's
    model_max_length when it is a real number (HF uses 1e30 for "unknown")."""
    if cfg.context:
        return cfg.context
    n = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if n:
        return int(n)
    n = getattr(tokenizer, "model_max_length", None)
    if n and n < 10**7:
        return int(n)
    raise ValueError("cannot tell the model's context length: set infer.context (e.g. --set infer.context=8192)")


def answer_budget(bound: int, cfg: InferConfig, room: int | None = None) -> int:
    """Max new tokens of one answer: the worst-case answer `bound`, capped by the `room` left in the
    context (when known) and by the optional speed cap infer.max_new_tokens (0: none)."""
    cap = bound if room is None else min(bound, room)
    return min(cap, cfg.max_new_tokens or cap)


def fit_queries(task: Task, queries: Sequence[Any], fmt: Format, counter: TokenCounter, sizes: AnswerSizes,
                cfg: InferConfig, context: int) -> QueryPlan:
    """Budgets for `queries`; drops what cannot fit; adds prompts with fewer demonstrations where
    no identity prompt of a test input fits (see the module docstring)."""
    plan = QueryPlan(context, sizes.bound)
    _fit_into(plan, queries, fmt, counter, sizes, cfg, context)
    k = len(task.train)
    for ti in range(task.n_test):
        leave = 1
        while leave + 1 < k and not any(f.query.test_index == ti and f.query.transform == "identity"
                                         for f in plan.fitted):
            leave += 1
            before = len(plan.fitted)
            extra = [q for q in build_queries(task, cfg, leave=leave) if q.test_index == ti]
            _fit_into(plan, extra, fmt, counter, sizes, cfg, context)
            plan.fallbacks += len(plan.fitted) - before
            if len(plan.fitted) > before:
                plan.fewer_demos[ti] = k - leave
        if not any(f.query.test_index == ti for f in plan.fitted):
            plan.unanswerable.append(ti)
    return plan


def _fit_into(plan: QueryPlan, queries: Sequence[Any], fmt: Format, counter: TokenCounter, sizes: AnswerSizes,
              cfg: InferConfig, context: int) -> None:
    full = answer_budget(sizes.bound, cfg)
    for q in queries:
        enc = fmt.encode(q.pseudo_task, counter.tokenizer)
        prompt = counter.count(enc.text[:enc.prompt_end])
        plausible = sizes.tokens(*plausible_shape(q.pseudo_task))
        room = context - prompt
        if room < max(plausible, full):
            plan.dropped.append(Dropped(q, prompt, plausible, "context"))
            continue
        plan.fitted.append(Fitted(q, prompt, plausible, answer_budget(sizes.bound, cfg, room)))
