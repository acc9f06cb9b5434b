"""Inference queries: which prompts a task's test inputs are asked under (TTT_METHOD §4.2).

Per test input, as in the released TTT code: the leave-one-out subsets of the demonstrations (all
of them when K = 1; with `infer.query_demos = "all"` the one full set), each in its original order
plus `permutations` random orders (deduplicated), form the identity pool; every other transform in
`infer.transforms` takes `per_transform` prompts drawn from that pool, with all grids transformed.
The real test input is always the query; `leave=n` builds the leave-n-out fallback sets (for n >= 3
only the K smallest subsets; at least one demonstration always stays). Draws come
from a generator seeded by (seed, task id). Only `Task` objects are read: test outputs never reach a
prompt. Budgets (transduction.budget) and generation (transduction.predict) build on this module.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from arc_core.task import Pair, Task
from arc_core.transforms import Augmentation
from transduction.config import InferConfig
from transduction.data import task_seed
from transduction.formats import PseudoTask


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



def _subsets(task: Task, leave: int = 1) -> list[tuple[int, ...]]:
    """Demonstration subsets without `leave` of them (all of them when K = 1). Past leave-two-out
    (marc's last fallback) only the K subsets with the fewest cells are kept (ties: index order), so
    a deep fallback asks as many prompts as leave-one-out would, the smallest ones."""
    k = len(task.train)
    if k == 1:
        return [(0,)]
    if not 1 <= leave < k:
        raise ValueError(f"task {task.id}: cannot leave {leave} of {k} demonstrations out (at least one must stay)")
    subsets = [tuple(j for j in range(k) if j not in out) for out in itertools.combinations(range(k), leave)]
    if leave >= 3:
        size = [p.input.height * p.input.width + p.output.height * p.output.width for p in task.train]
        subsets = sorted(subsets, key=lambda s: (sum(size[j] for j in s), s))[:k]
    return subsets


def build_queries(task: Task, cfg: InferConfig, leave: int = 1) -> list[Query]:
    """All inference prompts of a task, test input by test input (see the module docstring).
    `leave=n` (1 <= n < K): leave-n-out subsets, the fallbacks when prompts with more
    demonstrations do not fit (transduction.budget)."""
    rng = np.random.default_rng(task_seed(cfg.seed, task.id + ("/infer" if leave == 1 else f"/infer-leave{leave}")))
    queries = []
    for ti, test_input in enumerate(task.test_inputs):
        pool: dict[tuple[int, ...], None] = {}
        if cfg.query_demos == "all" and leave == 1:
            subsets = [tuple(range(len(task.train)))]
        else:
            subsets = _subsets(task, leave)
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


