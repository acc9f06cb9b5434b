"""Answer budgets from the tokenizer, the context guard with leave-two-out fallback, and the rule
that a generation cut by its budget is never parsed."""
from __future__ import annotations

import numpy as np
import pytest

from arc_core.grid import Grid
from arc_core.task import Pair, Task
from arc_lm.api import FinishReason, GenerationResult
from transduction.budget import AnswerSizes, TokenCounter, fit_queries, plausible_shape
from transduction.config import InferConfig
from transduction.formats import ParseStatus, PseudoTask, get_format
from transduction.predict import parse_predictions, prediction_requests
from transduction.queries import build_queries


def _random_grid(rng, h, w):
    return Grid.from_array(rng.integers(0, 10, size=(h, w)))


@pytest.mark.parametrize("fmt_name", ["marc", "barc-transduction"])
def test_line_cached_counts_equal_full_tokenisation(llama3_tokenizer, fmt_name):
    fmt, counter = get_format(fmt_name), TokenCounter(llama3_tokenizer)
    rng = np.random.default_rng(0)
    for k in range(6):
        shapes = [(int(rng.integers(1, 31)), int(rng.integers(1, 31))) for _ in range(3)]
        demos = tuple(Pair(_random_grid(rng, *s), _random_grid(rng, *s[::-1])) for s in shapes[:k % 3])
        pt = PseudoTask(demos, _random_grid(rng, *shapes[2]), _random_grid(rng, 3, 4) if k % 2 else None)
        text = fmt.encode(pt, llama3_tokenizer).text
        assert counter.mode == "runs" and counter.count(text) == len(llama3_tokenizer(text)["input_ids"])


def test_line_cached_counts_with_the_embedded_tokenizer(embedded_tokenizer):
    fmt, counter = get_format("compact"), TokenCounter(embedded_tokenizer)
    rng = np.random.default_rng(1)
    pt = PseudoTask((Pair(_random_grid(rng, 5, 7), _random_grid(rng, 2, 2)),), _random_grid(rng, 30, 30),
                    _random_grid(rng, 9, 9))
    text = fmt.encode(pt).text
    assert counter.mode == "gpt2" and counter.count(text) == len(embedded_tokenizer(text)["input_ids"])


def test_marc_answer_bound_with_llama3(llama3_tokenizer):
    """About 2 tokens per cell: 30x30 needs 1831 answer tokens, plus one end-of-turn token."""
    sizes = AnswerSizes(get_format("marc"), TokenCounter(llama3_tokenizer))
    assert sizes.bound == 1832
    assert sizes.tokens(20, 20) >= 821 and sizes.tokens(23, 23) >= 1082
    assert sizes.tokens(1, 1) < sizes.tokens(3, 3) < sizes.bound


def test_plausible_shape_follows_a_consistent_size_ratio(grid):
    demos = (Pair(grid("12", "30"), Grid(((1,) * 6,) * 6)), Pair(grid("1"), Grid(((2,) * 3,) * 3)))
    assert plausible_shape(PseudoTask(demos, Grid(((1,) * 5,) * 4))) == (12, 15)
    assert plausible_shape(PseudoTask(demos, Grid(((1,) * 20,) * 20))) == (30, 30)
    mixed = (Pair(grid("12"), grid("1")), Pair(grid("1"), grid("12", "34")))
    assert plausible_shape(PseudoTask(mixed, grid("123"))) == (2, 3)


def _marc_plan(task, tokenizer, context=8192, cfg=InferConfig()):
    """(query plan of `task` in the marc format, its AnswerSizes)."""
    fmt, counter = get_format("marc"), TokenCounter(tokenizer)
    sizes = AnswerSizes(fmt, counter)
    return fit_queries(task, build_queries(task, cfg), fmt, counter, sizes, cfg, context=context), sizes


def test_queries_that_cannot_fit_are_dropped_and_fall_back_to_leave_two_out(llama3_tokenizer):
    """Four demos of 24x24 grids: a leave-one-out prompt (3 demos) overflows 8192 tokens, a
    leave-two-out one (2 demos) fits; every budget holds a full 30x30 answer inside the context."""
    rng = np.random.default_rng(2)
    task = Task("big", tuple(Pair(_random_grid(rng, 24, 24), _random_grid(rng, 24, 24)) for _ in range(4)),
                (_random_grid(rng, 24, 24),))
    plan, sizes = _marc_plan(task, llama3_tokenizer)
    assert plan.dropped and all(d.reason == "context" for d in plan.dropped)
    assert plan.fallbacks == len(plan.fitted) > 0 and not plan.unanswerable
    assert all("leave2" in f.query.pseudo_task.name for f in plan.fitted)
    assert all(f.budget == sizes.bound and f.prompt_tokens + f.budget <= 8192 for f in plan.fitted)
    assert plan.fewer_demos == {0: 2} and plan.summary()["fewer_demos"] == {"0": 2}
    tight, _ = _marc_plan(task, llama3_tokenizer, context=4096)
    assert tight.unanswerable == [0] and not tight.fitted
    assert tight.summary()["drop_reasons"] == {"context": len(tight.dropped)}


def test_demonstrations_are_dropped_down_to_one_until_a_full_answer_fits(llama3_tokenizer):
    """Five demos of 30x30 grids (marc format): only a single-demonstration prompt leaves room for a
    full 30x30 answer in 8192 tokens (about 7.4k in all), so the fallback goes past leave-two-out to
    leave-four-out, with the K = 5 smallest subsets, and says so; never to zero demonstrations."""
    rng = np.random.default_rng(3)
    task = Task("huge", tuple(Pair(_random_grid(rng, 30, 30), _random_grid(rng, 30, 30)) for _ in range(5)),
                (_random_grid(rng, 30, 30),))
    plan, sizes = _marc_plan(task, llama3_tokenizer)
    assert not plan.unanswerable and plan.fewer_demos == {0: 1} and plan.fallbacks == len(plan.fitted)
    assert all(len(f.query.order) == 1 and "leave4" in f.query.pseudo_task.name for f in plan.fitted)
    assert len({f.query.order for f in plan.fitted}) == 5
    assert all(f.budget == sizes.bound and f.prompt_tokens + f.budget <= 8192 for f in plan.fitted)
    two = Task("two", task.train[:2], task.test_inputs)  # K = 2: one demonstration already; no zero-demo prompt
    plan2, _ = _marc_plan(two, llama3_tokenizer)
    assert plan2.fewer_demos == {} and plan2.fallbacks == 0 and all(len(f.query.order) == 1 for f in plan2.fitted)
    with pytest.raises(ValueError, match="at least one must stay"):
        build_queries(two, InferConfig(), leave=2)


def test_a_query_fits_only_with_room_for_a_full_answer(grid, llama3_tokenizer):
    """A prompt whose room holds its plausible (small) answer but not a 30x30 one is dropped, so no
    budget is ever under the worst case (or the speed cap, when one is set)."""
    rng = np.random.default_rng(4)
    big = _random_grid(rng, 20, 20)  # 20x20 inputs, 1x1 outputs: the plausible answer is 20x20
    task = Task("wide", (Pair(big, grid("1")), Pair(_random_grid(rng, 20, 20), grid("2"))), (big,))
    fmt, counter = get_format("marc"), TokenCounter(llama3_tokenizer)
    sizes = AnswerSizes(fmt, counter)
    q = build_queries(task, InferConfig())
    prompt = max(counter.count(fmt.encode(x.pseudo_task, llama3_tokenizer).text) for x in q)
    context = prompt + sizes.bound - 1
    plan = fit_queries(task, q, fmt, counter, sizes, InferConfig(), context=context)
    assert all(d.plausible < sizes.bound for d in plan.dropped)
    assert all(f.budget == sizes.bound for f in plan.fitted) and len(plan.dropped) >= 1
    capped = fit_queries(task, q, fmt, counter, sizes, InferConfig(max_new_tokens=64), context=context)
    assert not capped.dropped and all(f.budget == 64 for f in capped.fitted)


class TruncatingBackend:
    """Returns a well-formed grid text but says the budget was hit."""

    name = "truncating"

    def __init__(self):
        self.requests = []

    def generate(self, requests):
        self.requests += list(requests)
        return [GenerationResult(("12\n34",), 1, (r.max_new_tokens,), (FinishReason.LENGTH,)) for r in requests]


def test_a_truncated_generation_is_never_parsed(grid, embedded_tokenizer):
    task = Task("t", (Pair(grid("12", "34"), grid("21", "43")),), (grid("56", "78"),))
    fmt = get_format("compact")
    queries = build_queries(task, InferConfig())
    backend = TruncatingBackend()
    prompts, requests = prediction_requests(task, queries, fmt, embedded_tokenizer, InferConfig(), budgets=[7] * len(queries))
    preds = parse_predictions(queries, prompts, backend.generate(requests), fmt)
    assert [r.max_new_tokens for r in backend.requests] == [7] * len(queries)
    assert all(p.status is ParseStatus.TRUNCATED and p.grid is None for p in preds)


def test_answer_budget_caps_by_room_and_speed_cap():
    from transduction.budget import answer_budget

    assert answer_budget(1832, InferConfig()) == 1832                       # no room known, no speed cap
    assert answer_budget(1832, InferConfig(), room=900) == 900              # the context left
    assert answer_budget(1832, InferConfig(max_new_tokens=512), room=900) == 512
    assert answer_budget(300, InferConfig(max_new_tokens=512), room=900) == 300
