"""Augmentation scoring ("product of experts", the ARChitects, ICML 2025); rankings: transduction.selection.

Each distinct candidate grid of a test input is scored by its total log-probability, summed over K
augmented views of the task (the task's adapter stays active): view k transforms every grid by a
dihedral transform (identity, rot90, ... in table order), views past the 8th also permute colours
(keeping 0), and views after the first shuffle the demonstration order. Under one view all candidates
share the prompt, so each view is one `ScoreRequest` whose continuations are the candidates' answer
texts (for chat formats including the end-of-turn token). Draws are seeded by (seed, task id).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from arc_core.grid import Grid
from arc_core.task import Task
from arc_core.transforms import DIHEDRAL, Augmentation, ColourMap
from transduction.data import task_seed
from transduction.formats import Format, PseudoTask


def score_views(task: Task, k: int, seed: int) -> list[Augmentation]:
    """The K augmentations used for scoring (deterministic)."""
    rng = np.random.default_rng(task_seed(seed, task.id + "/score"))
    names = list(DIHEDRAL)
    views = []
    for i in range(k):
        colours = ColourMap.random(rng, keep_zero=True) if i >= len(names) else ColourMap.identity()
        order = tuple(int(j) for j in rng.permutation(len(task.train))) if i > 0 else None
        views.append(Augmentation(names[i % len(names)], colours, order))
    return views


def _view_texts(task: Task, test_index: int, grids: Sequence[Grid], view: Augmentation, fmt: Format,
                tokenizer: Any) -> tuple[str, list[str]]:
    """The shared prompt of a view and each candidate's continuation text."""
    demos = view.apply_pairs(task.train)
    query = view.apply(task.test_inputs[test_index])
    prompt, conts = None, []
    for g in grids:
        enc = fmt.encode(PseudoTask(demos, query, view.apply(g)), tokenizer)
        assert enc.query_output_span is not None
        start, end = enc.query_output_span
        p = enc.text[:start]
        assert prompt is None or p == prompt, "candidates of one view must share the prompt"
        prompt = p
        conts.append(enc.text[start:end])
    assert prompt is not None
    return prompt, conts


def score_requests(task: Task, test_index: int, grids: Sequence[Grid], fmt: Format, tokenizer: Any, k: int,
                   seed: int, adapter: str | None = None) -> list[Any]:
    """One arc_lm ScoreRequest per augmented view (continuations aligned with `grids`), in the task's
    batching group."""
    from arc_lm.api import ScoreRequest

    requests = []
    for view in score_views(task, k, seed):
        prompt, conts = _view_texts(task, test_index, grids, view, fmt, tokenizer)
        requests.append(ScoreRequest(prompt, tuple(conts), adapter, group=task.id))
    return requests


def sum_views(results: Sequence[Any], n_grids: int) -> list[float]:
    """Per-grid log-probabilities summed over the views' ScoreResults."""
    totals = np.zeros(n_grids)
    for res in results:
        totals += np.asarray(res.logprobs, dtype=float)
    return [float(x) for x in totals]


def score_candidates(task: Task, test_index: int, grids: Sequence[Grid], fmt: Format, tokenizer: Any,
                     backend: Any, k: int, seed: int, adapter: str | None = None) -> list[float]:
    """Summed log-probability of each grid over K augmented views (same order as `grids`)."""
    if not grids or k == 0:
        return [0.0] * len(grids)
    requests = score_requests(task, test_index, grids, fmt, tokenizer, k, seed, adapter)
    return sum_views(backend.score(requests), len(grids))

