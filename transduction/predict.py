"""Augmented inference: prompts under invertible transforms, their requests, parsing, inverse mapping.
Generation itself goes through `transduction.serving.predict_tasks`, the one path for every backend.

The queries (which test input, transform and demonstrations) come from transduction.queries. Each
query gets its own answer budget (transduction.budget); a generation that hits it is recorded as
TRUNCATED and never parsed. Every other generated text is parsed by the format (a typed failure,
never an exception) and mapped back through the inverse transform. Sampled queries (temperature > 0)
get request seeds derived from (seed, task id, query index).
Only `Task` objects are read: test outputs never reach a prompt.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from arc_core.grid import Grid
from arc_core.seeds import derive_seed
from arc_core.task import Task
from transduction.config import InferConfig
from transduction.budget import AnswerSizes, TokenCounter, answer_budget
from transduction.formats import Format, ParseResult, ParseStatus
from transduction.queries import Query


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


def prompt_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prediction_requests(task: Task, queries: Sequence[Query], fmt: Format, tokenizer: Any, cfg: InferConfig,
                        adapter: str | None = None, budgets: Sequence[int] | None = None,
                        deadline: float | None = None) -> tuple[list[str], list[Any]]:
    """The prompt text and the arc_lm GenerationRequest of every query (query i samples with the seed
    derived from (infer.seed, task id, i), see arc_core.seeds). `budgets`: max new tokens per query
    (transduction.budget.fit_queries); default: the worst-case 30x30 answer bound, capped by
    infer.max_new_tokens. Every request is in the task's own batching group (`GenerationRequest.group`),
    so the task's answers do not depend on other tasks sent in the same backend call. `deadline`
    (time.time() seconds): generation stops there (a run under a time budget)."""
    from arc_lm.api import GenerationRequest

    if budgets is None:
        budgets = [answer_budget(AnswerSizes(fmt, TokenCounter(tokenizer)).bound, cfg)] * len(queries)
    assert len(budgets) == len(queries), (len(budgets), len(queries))
    prompts = [fmt.encode(q.pseudo_task, tokenizer).text for q in queries]
    requests = [GenerationRequest(prompt=p, n=1, temperature=cfg.temperature, max_new_tokens=budget,
                                  stop=fmt.stop, seed=derive_seed(cfg.seed, task.id, "infer", i)
                                  if cfg.temperature > 0 else None, adapter=adapter, group=task.id,
                                  deadline=deadline)
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

