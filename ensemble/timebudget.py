"""A run under a wall-clock budget (`arc-hybrid run --time-budget 12h`): how ARC Prize is run.

One deadline for the whole invocation (`start + budget`), and a safety margin before it (`margin_s`;
0 = 5 % of the budget, at least 10 s and at most 600 s, NVARC's margin for 12 hours): no stage starts
once the margin is reached, a stage still running on a cluster at half the margin is stopped, and the
submission, rewritten (atomically) whenever a task's attempts change, is final before the deadline.

Planning (`TimeBudget.limits`, asked just before each stage is dispatched, so it sees the latest
measurements):
- every task's cost comes from `transduction.plan` (training tokens over the planned optimiser
  steps, inference tokens over its queries), turned into seconds by rates *measured* on the stages
  finished so far (`observe`); before the first measurement, tasks share the time equally;
- the time left (times the workers running stages at once) is shared by the tasks not finished, in
  proportion to their cost; when the work left does not fit, every task is scaled by the same factor,
  and no task gets more than `max_share` times the equal share, so the costliest cannot starve the rest;
- a task's `train` gets its share's training part as a wall-time cap (TTT stops after the step
  running and the partly trained adapter is served) and a step cap; its `infer` gets what the task has
  left: fewer inference views, no DFS and fewer scoring views when behind (transduction.limits);
- once the margin is reached nothing more starts: those stages are recorded as unreached.
Every cut is recorded per task (`cuts`: the store's meta "budget", `arc-hybrid task`, the report). A
resume with a new budget continues: finished stages (cut or not) are kept, the rest run.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds of "240", "90s", "90m", "1.5h", "12h", "1h30m" (ValueError otherwise)."""
    s = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd]?)", s)
    if not s or not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhd]?)", "", s).strip():
        raise ValueError(f"time budget {text!r}: give seconds (240) or a duration like 90m, 1.5h, 12h, 1h30m")
    if len(parts) > 1 and any(u == "" for _, u in parts):
        raise ValueError(f"time budget {text!r}: every part of a compound duration needs a unit (1h30m)")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"time budget {text!r} must be longer than 0 s")
    return seconds


@dataclass(frozen=True)
class BudgetConfig:
    """The `[budget]` settings of a run (see the module docstring); free to change on resume.

    seconds:    the wall-clock budget of an invocation (0: none); `--time-budget` sets it.
    margin_s:   the safety margin before the deadline (0: automatic).
    max_share:  a task gets at most this many equal shares of the time left.
    train_part: a task's part of its share that TTT may take before rates are measured.
    """

    seconds: float = 0.0
    margin_s: float = 0.0
    max_share: float = 2.0
    train_part: float = 0.7

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.margin_s < 0:
            raise ValueError("budget.seconds and budget.margin_s must be >= 0")
        if self.seconds and self.margin_s >= self.seconds:
            raise ValueError(f"budget.margin_s={self.margin_s} leaves nothing of budget.seconds={self.seconds}")
        if self.max_share < 1:
            raise ValueError(f"budget.max_share must be >= 1, got {self.max_share}")
        if not 0 < self.train_part < 1:
            raise ValueError(f"budget.train_part must be in (0, 1), got {self.train_part}")

    @property
    def margin(self) -> float:
        return self.margin_s or min(600.0, max(10.0, 0.05 * self.seconds))


@dataclass(frozen=True)
class TaskCost:
    """What a task's transduction is planned to cost, in work units measured rates turn into seconds."""

    train_tokens: float   # tokens through the model in training (its planned steps' padded batches)
    infer_tokens: float   # prompt + plausible answer tokens over its inference queries
    steps: int            # planned optimiser steps
    transforms: int       # inference transforms queried
    queries: int          # inference queries planned

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TimeBudget:
    """The plan of one invocation (see the module docstring). `clock` is injectable for tests."""

    cfg: BudgetConfig
    costs: Mapping[str, TaskCost]
    workers: int = 1
    clock: Callable[[], float] | None = None  # None: time.monotonic (looked up when the plan is made)
    start: float = field(init=False)
    cuts: dict[str, list[str]] = field(default_factory=dict)
    _rates: dict[str, list[float]] = field(default_factory=lambda: {"train": [0.0, 0.0], "infer": [0.0, 0.0]})

    def __post_init__(self) -> None:
        self.clock = self.clock or time.monotonic
        self.start = self.clock()

    # ---- the clock ------------------------------------------------------------------------------
    def left(self) -> float:
        """Seconds until the margin (negative past it)."""
        return self.start + self.cfg.seconds - self.cfg.margin - self.clock()

    def stop_now(self) -> bool:
        """Past half the margin: what still runs is stopped, so the submission is final in time."""
        return self.start + self.cfg.seconds - self.cfg.margin / 2 - self.clock() <= 0

    # ---- measurements -----------------------------------------------------------------------------
    def observe(self, stage: str, seconds: float, work: float) -> None:
        """A stage ran `seconds` on `work` units (tokens): the rate of that kind of stage."""
        if stage in self._rates and work > 0 and seconds > 0:
            self._rates[stage][0] += seconds
            self._rates[stage][1] += work

    def rate(self, stage: str) -> float | None:
        seconds, work = self._rates[stage]
        return seconds / work if work else None

    def estimate(self, task_id: str, stages: tuple[str, ...] = ("train", "infer")) -> float | None:
        """Seconds `stages` of the task take at the measured rates (None before a rate is measured)."""
        c = self.costs.get(task_id)
        if c is None:
            return None
        total = 0.0
        for s in stages:
            r = self.rate(s)
            if r is None:
                return None
            total += r * (c.train_tokens if s == "train" else c.infer_tokens)
        return total

    # ---- planning ---------------------------------------------------------------------------------
    def capacity(self) -> float:
        """Worker-seconds left until the margin."""
        return max(0.0, self.left()) * self.workers

    def share(self, task_id: str, pending: Mapping[str, tuple[str, ...]]) -> tuple[float, float, str]:
        """(seconds this task's remaining stages may take, scale of their planned work, why), among the
        tasks `pending` (task -> its stages still to run, this one included)."""
        capacity = self.capacity()
        equal = capacity / max(1, len(pending))
        est = {t: self.estimate(t, stages) for t, stages in pending.items()}
        if any(v is None for v in est.values()):  # nothing measured yet: equal shares
            return equal, 1.0, "equal share before any rate was measured"
        total = sum(est.values())
        mine = est[task_id]
        scale = min(1.0, capacity / total) if total > 0 else 1.0
        allowed = min(mine * scale, self.cfg.max_share * equal) if mine > 0 else equal
        why = (f"{len(pending)} task(s) left need {total:.0f} s, {capacity:.0f} s left"
               + (f", this task capped at {self.cfg.max_share:g}x the equal share" if mine * scale > allowed else ""))
        return allowed, (min(1.0, allowed / mine) if mine > 0 else 1.0), why

    def limits(self, task_id: str, stage: str, pending: Mapping[str, tuple[str, ...]]) -> Any:
        """The `transduction.limits.TaskLimits` of a stage about to start (None: unlimited; False: do
        not start it, the margin is reached). `pending`: task -> stages still to run, for the tasks not
        finished (this one included)."""
        from transduction.limits import TaskLimits

        if self.left() <= 0:
            self.cuts.setdefault(task_id, []).append(f"{stage}: not started, the time budget's margin was reached")
            return False
        if stage == "induction":
            return None
        allowed, scale, why = self.share(task_id, pending)
        c = self.costs.get(task_id)
        if stage == "train":
            train_s, all_s = self.estimate(task_id, ("train",)), self.estimate(task_id)
            part = train_s / all_s if train_s is not None and all_s else self.cfg.train_part
            steps = max(1, math.floor(c.steps * scale)) if c is not None and c.steps and scale < 1 else None
            lim = TaskLimits(train_seconds=max(1e-3, allowed * part), max_steps=steps, why=why)
            if scale < 1:
                self.cuts.setdefault(task_id, []).append(
                    f"train: capped at {lim.train_seconds:.1f} s" + (f", {steps} of {c.steps} steps" if steps else "")
                    + f" ({why})")
            return lim
        # Inference always gets a wall cap: an estimate cannot see a model that never ends its answer
        # (it then generates up to the full 30x30 budget, minutes on a CPU). The cap bounds such a
        # runaway, not ordinary work: the most any task may take (max_share equal shares), never past
        # the margin. (Capped at the estimate itself, it cut most tasks' inference short, measured.)
        cap = max(1e-3, min(self.cfg.max_share * self.capacity() / max(1, len(pending)), self.left()))
        infer_s = self.estimate(task_id, ("infer",))
        if infer_s is None or c is None or infer_s <= allowed:
            return TaskLimits(infer_seconds=cap, why=why)
        r = allowed / infer_s
        lim = TaskLimits(transforms=max(1, math.floor(c.transforms * r)), per_transform=1, dfs_views=0,
                         score_views=0 if r < 0.5 else None, infer_seconds=cap, why=why)
        self.cuts.setdefault(task_id, []).append(
            f"infer: {lim.transforms} of {c.transforms} transforms, one prompt each, no DFS"
            + (", no scoring" if lim.score_views == 0 else "") + f" ({why})")
        return lim

    def summary(self) -> dict[str, Any]:
        return {"seconds": self.cfg.seconds, "margin_s": self.cfg.margin, "workers": self.workers,
                "elapsed_s": self.clock() - self.start,
                "rates_s_per_token": {s: self.rate(s) for s in self._rates}, "cuts": self.cuts}


def task_costs(tasks: list[Any], config: Any) -> dict[str, TaskCost]:
    """Every task's planned transduction cost (`transduction.plan`, no weights loaded): the padded
    tokens of its planned optimiser steps, and its inference queries' prompt + plausible answer tokens."""
    from transduction.budget import AnswerSizes, TokenCounter, context_length
    from transduction.formats import get_format
    from transduction.plan import Hardware, local_model_config, plan_task, plan_tokenizer

    tokenizer, _ = plan_tokenizer(config.model)
    context = config.infer.context or context_length(config.infer, local_model_config(config.model), tokenizer)
    fmt = get_format(config.data.format)
    counter = TokenCounter(tokenizer)
    sizes = AnswerSizes(fmt, counter)
    out = {}
    for t in tasks:
        r = plan_task(t, config, tokenizer, context, 1.0, Hardware(), counter, sizes)
        steps = r["train_steps"] if config.train.mode == "per-task" else 0
        out[t.id] = TaskCost(float(r["train_padded_tokens"]) if steps else 0.0, float(r["infer_tokens"]), steps,
                             len(config.infer.transforms), int(r["queries"]))
    return out
