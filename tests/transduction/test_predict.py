"""Augmented inference: the query set, inverse mapping of predictions, recorded parse failures."""
from __future__ import annotations

from arc_core.grid import Grid
from arc_core.task import Pair, Task
from arc_core.transforms import PAPER_INFERENCE_TRANSFORMS, Augmentation
from arc_lm.api import FinishReason, GenerationResult
from transduction.config import InferConfig
from transduction.formats import ParseStatus, get_format
from transduction.predict import Prediction
from transduction.queries import build_queries
from transduction.serving import InferenceJob, predict_tasks


def predict(task, queries, fmt, tokenizer, backend, cfg):
    """Every query of `task` through the one inference path (`serving.predict_tasks`, no plan: every
    query with the worst-case budget); `queries` must be the task's own (build_queries)."""
    from transduction.config import DataConfig, TransductionConfig

    assert list(queries) == build_queries(task, cfg)
    config = TransductionConfig(data=DataConfig(format=fmt.name), infer=cfg)
    return predict_tasks([InferenceJob(task)], backend, tokenizer, config)[0]


class ScriptedBackend:
    """Answers each prompt from a table (prompt text -> completion text)."""

    name = "scripted"

    def __init__(self, answers):
        self.answers = answers
        self.requests = []

    def generate(self, requests):
        self.requests += list(requests)
        return [GenerationResult((self.answers[r.prompt],), 1, (1,), (FinishReason.STOP,)) for r in requests]


def _task(n_demos, grid):
    ins = [grid("12", "30"), grid("045", "600"), grid("7", "8", "9"), grid("11", "22"), grid("3")][:n_demos]
    return Task("t", tuple(Pair(g, Grid(g.rows[::-1])) for g in ins), (grid("123", "456"), grid("98")))


def test_query_counts_follow_released_code(grid):
    """K leave-one-out subsets x (original + 2 shuffles, deduplicated) + one prompt per other transform."""
    cfg = InferConfig()
    for k, identity_max in ((2, 2), (3, 6), (4, 12)):
        qs = [q for q in build_queries(_task(k, grid), cfg) if q.test_index == 0]
        ident = [q for q in qs if q.transform == "identity"]
        assert k <= len(ident) <= identity_max
        assert len(qs) - len(ident) == len(PAPER_INFERENCE_TRANSFORMS) - 1
        assert all(len(q.order) == k - 1 for q in qs)
    assert len({q.test_index for q in build_queries(_task(3, grid), cfg)}) == 2
    single = build_queries(_task(1, grid), cfg)
    assert all(q.order == (0,) for q in single)
    assert build_queries(_task(4, grid), cfg) == build_queries(_task(4, grid), cfg)


def test_all_demo_queries_one_per_dihedral_view(grid):
    """query_demos="all", no shuffles, the 8 dihedral transforms: the CPU prototype's 8 prompts."""
    from arc_core.transforms import DIHEDRAL

    cfg = InferConfig(query_demos="all", permutations=0, transforms=tuple(DIHEDRAL))
    qs = [q for q in build_queries(_task(3, grid), cfg) if q.test_index == 0]
    assert [q.transform for q in qs] == list(DIHEDRAL)
    assert all(q.order == (0, 1, 2) for q in qs)


def test_predictions_map_back_through_inverse(grid, embedded_tokenizer):
    task = _task(3, grid)
    fmt = get_format("compact")
    queries = build_queries(task, InferConfig())
    truth = [Grid(x.rows[::-1]) for x in task.test_inputs]
    answers = {}
    for q in queries:
        # the correct answer in the augmented frame: transform the true output the same way
        answers[fmt.encode(q.pseudo_task).text] = fmt.answer_text(Augmentation(q.transform).apply(truth[q.test_index]))
    backend = ScriptedBackend(answers)
    preds = predict(task, queries, fmt, embedded_tokenizer, backend, InferConfig(batch_size=3))
    assert len(preds) == len(queries) == len(backend.requests)
    assert {p.transform for p in preds} == set(PAPER_INFERENCE_TRANSFORMS)
    assert all(p.status is ParseStatus.OK and p.grid == truth[p.test_index] for p in preds)
    assert all(r.stop == ("\n\n",) and r.temperature == 0 for r in backend.requests)
    assert Prediction.from_dict(preds[0].to_dict()) == preds[0]


def test_parse_failures_recorded_not_raised(grid, embedded_tokenizer):
    task = _task(2, grid)
    fmt = get_format("compact")
    queries = build_queries(task, InferConfig())
    backend = ScriptedBackend({fmt.encode(q.pseudo_task).text: "12\n3" for q in queries})
    preds = predict(task, queries, fmt, embedded_tokenizer, backend, InferConfig())
    assert all(p.status is ParseStatus.RAGGED and p.grid is None and p.error for p in preds)


def test_sampling_requests_carry_distinct_fixed_seeds(grid, embedded_tokenizer):
    task = _task(3, grid)
    fmt = get_format("compact")
    cfg = InferConfig(temperature=0.7)
    queries = build_queries(task, cfg)
    seeds = []
    for _ in range(2):
        backend = ScriptedBackend({fmt.encode(q.pseudo_task).text: "1" for q in queries})
        predict(task, queries, fmt, embedded_tokenizer, backend, cfg)
        seeds.append([r.seed for r in backend.requests])
        assert all(r.temperature == 0.7 for r in backend.requests)
    assert seeds[0] == seeds[1] and len(set(seeds[0])) == len(queries)
