"""Augmented inference: prompts under invertible transforms, generation, parsing, inverse mapping.

Query set per test input, as in the released TTT code (TTT_METHOD §4.2): the leave-one-out subsets of
the demonstrations (all of them when K = 1; with `infer.query_demos = "all"` the one full set), each
in its original order plus `permutations` random orders (deduplicated) form the identity pool; every
other transform in `infer.transforms` takes `per_transform` prompts drawn from that pool, with all
grids transformed. The real test input is always the query; `leave=2` builds the leave-two-out
fallback set. Each query gets its own answer budget (transduction.budget); a generation that hits it
is recorded as TRUNCATED and never parsed. Every other generated text is parsed by the format (a
typed failure, never an exception) and mapped back through the inverse transform. Draws come from a
generator seeded by (seed, task id); sampled queries (temperature > 0) get request seeds derived
from (seed, task id, query index).
Only `Task` objects are read: test outputs never reach a prompt.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from arc_core.grid import Grid
from arc_core.seeds import derive_seed
from arc_core.task import Pair, Task
from arc_core.transforms import Augmentation
from transduction.config import InferConfig
from transduction.data import task_seed
from transduction.budget import AnswerSizes, TokenCounter, answer_budget
from transduction.formats import Format, ParseResult, ParseStatus, PseudoTask


@dataclass(frozen=True)
class Query:
    """One inference prompt: which test input, under which transform, with which demonstrations."""

    test_index: int
    transform: str                     # the vote group (a dihedral name)
    order: tuple[int, ...]             # demonstration indices, in prompt order
    pseudo_task: PseudoTask            # already transformed

    @property
    def augmentation(self) -> Augmentation:
        return Augmentation(self.transform)


@dataclass(frozen=True)
class Prediction:
    """One generated answer, parsed and mapped back to the task's frame (grid None on failure)."""

    test_index: int
    transform: str
    order: tuple[int, ...]
    prompt_sha: str                    # first 16 hex digits of SHA-256 of the prompt text
    raw_text: str
    status: ParseStatus
    grid: Grid | None
    error: str | None = None
    completion_tokens: int = 0
    finish_reason: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(order=list(self.order), status=self.status.value,
                 grid=self.grid.to_list() if self.grid is not None else None)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Prediction:
        return cls(**{**d, "order": tuple(d["order"]), "status": ParseStatus(d["status"]),
                      "grid": Grid.parse(d["grid"]) if d["grid"] is not None else None})


def _subsets(k: int, leave: int = 1) -> list[tuple[int, ...]]:
    """Demonstration subsets without `leave` of them (all of them when K = 1)."""
    if k == 1:
        return [(0,)]
    return [tuple(j for j in range(k) if j not in out) for out in itertools.combinations(range(k), leave)]


def build_queries(task: Task, cfg: InferConfig, leave: int = 1) -> list[Query]:
    """All inference prompts of a task, test input by test input (see the module docstring).
    `leave=2`: leave-two-out subsets, the fallback when leave-one-out prompts do not fit."""
    rng = np.random.default_rng(task_seed(cfg.seed, task.id + ("/infer" if leave == 1 else f"/infer-leave{leave}")))
    queries = []
    for ti, test_input in enumerate(task.test_inputs):
        pool: dict[tuple[int, ...], None] = {}
        if cfg.query_demos == "all" and leave == 1:
            subsets = [tuple(range(len(task.train)))]
        else:
            subsets = _subsets(len(task.train), leave)
        for subset in subsets:
            pool.setdefault(subset)
            for _ in range(cfg.permutations):
                pool.setdefault(tuple(subset[int(j)] for j in rng.permutation(len(subset))))
        orders = list(pool)
        chosen = [("identity", o) for o in orders]
        for t in cfg.transforms[1:]:
            picks = rng.choice(len(orders), size=min(cfg.per_transform, len(orders)), replace=False)
            chosen += [(t, orders[int(p)]) for p in sorted(picks)]
        for t, order in chosen:
            aug = Augmentation(t)
            demos = tuple(Pair(aug.apply(task.train[j].input), aug.apply(task.train[j].output)) for j in order)
            pt = PseudoTask(demos, aug.apply(test_input), None,
                            f"test{ti}|{t}|order:{','.join(map(str, order))}" + (f"|leave{leave}" if leave > 1 else ""))
            queries.append(Query(ti, t, order, pt))
    return queries


def prompt_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prediction_requests(task: Task, queries: Sequence[Query], fmt: Format, tokenizer: Any, cfg: InferConfig,
                        adapter: str | None = None, budgets: Sequence[int] | None = None
                        ) -> tuple[list[str], list[Any]]:
    """The prompt text and the arc_lm GenerationRequest of every query (query i samples with the seed
    derived from (infer.seed, task id, i), see arc_core.seeds). `budgets`: max new tokens per query
    (transduction.budget.fit_queries); default: the worst-case 30x30 answer bound, capped by
    infer.max_new_tokens."""
    from arc_lm.api import GenerationRequest

    if budgets is None:
        budgets = [answer_budget(AnswerSizes(fmt, TokenCounter(tokenizer)).bound, cfg)] * len(queries)
    assert len(budgets) == len(queries), (len(budgets), len(queries))
    prompts = [fmt.encode(q.pseudo_task, tokenizer).text for q in queries]
    requests = [GenerationRequest(prompt=p, n=1, temperature=cfg.temperature, max_new_tokens=budget,
                                  stop=fmt.stop, seed=derive_seed(cfg.seed, task.id, "infer", i)
                                  if cfg.temperature > 0 else None, adapter=adapter)
                for i, (p, budget) in enumerate(zip(prompts, budgets))]
    return prompts, requests


def parse_predictions(queries: Sequence[Query], prompts: Sequence[str], results: Sequence[Any],
                      fmt: Format) -> list[Prediction]:
    """Generation results (aligned with `queries`) parsed and mapped back through the inverse transform.
    A generation cut by its budget is never parsed (status TRUNCATED): a cut on a row boundary would
    read as a smaller grid."""
    from arc_lm.api import FinishReason

    assert len(queries) == len(prompts) == len(results)
    out = []
    for q, prompt, res in zip(queries, prompts, results):
        text = res.texts[0]
        reason = res.finish_reasons[0]
        if reason == FinishReason.LENGTH:
            parsed = ParseResult.fail(ParseStatus.TRUNCATED, f"cut at the budget of {res.completion_tokens[0]} tokens")
        else:
            parsed = fmt.parse(text)
        grid = q.augmentation.invert(parsed.grid) if parsed.grid is not None else None
        out.append(Prediction(q.test_index, q.transform, q.order, prompt_sha(prompt), text, parsed.status, grid,
                              parsed.error, res.completion_tokens[0], getattr(reason, "value", str(reason))))
    return out


def predict(task: Task, queries: Sequence[Query], fmt: Format, tokenizer: Any, backend: Any,
            cfg: InferConfig, adapter: str | None = None, budgets: Sequence[int] | None = None) -> list[Prediction]:
    """Generate for every query (in backend calls of `infer.batch_size`), parse, map back."""
    prompts, requests = prediction_requests(task, queries, fmt, tokenizer, cfg, adapter, budgets)
    results = []
    for start in range(0, len(requests), cfg.batch_size):
        results += backend.generate(requests[start:start + cfg.batch_size])
    return parse_predictions(queries, prompts, results, fmt)
