"""Per-task limits on transduction's work, for a run under a time budget (`ensemble.timebudget` plans them).

`TaskLimits` scales one task's `train` and `infer` stages down from the configured recipe:
- `train_seconds`: a wall-time cap on TTT: training stops after the step running when it is reached
  and the adapter as trained so far is saved and served (a partly trained adapter: at least one step);
- `max_steps`: a planned cap on optimiser steps (the cosine schedule spans the capped total);
- `transforms`: how many of `infer.transforms` are queried (identity always first, so the vote keeps
  its anchor), `per_transform` likewise;
- `dfs_views`, `score_views`: DFS and augmentation-scoring views (scoring keeps at least one view when
  the ranking needs scores);
- `infer_seconds`: a wall-time cap on inference: greedy generation stops at it (an answer cut short
  parses to nothing), DFS views not started by then are skipped; scoring, a bounded pass over the
  candidates found, still runs. Reported only when reached (`TransductionResult.stopped`).
`apply(config, limits)` returns the config a stage runs with; `describe` says what was cut, for the
store, `arc-hybrid task` and the report. Limits never read a test output: they are sized from costs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from transduction.config import TransductionConfig, replace


@dataclass(frozen=True)
class TaskLimits:
    train_seconds: float | None = None
    max_steps: int | None = None
    transforms: int | None = None
    per_transform: int | None = None
    dfs_views: int | None = None
    score_views: int | None = None
    infer_seconds: float | None = None
    why: str = ""

    def __post_init__(self) -> None:
        for name in ("train_seconds", "infer_seconds"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be > 0, got {v}")
        for name in ("max_steps", "transforms", "per_transform"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        for name in ("dfs_views", "score_views"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskLimits:
        return cls(**d)


def apply(config: TransductionConfig, limits: TaskLimits | None) -> TransductionConfig:
    """The transduction config a task's stages run with under `limits` (None: the config itself)."""
    if limits is None:
        return config
    train: dict[str, Any] = {}
    if limits.max_steps is not None and (config.train.max_steps == 0 or limits.max_steps < config.train.max_steps):
        train["max_steps"] = limits.max_steps
    inf = config.infer
    infer: dict[str, Any] = {}
    if limits.transforms is not None and limits.transforms < len(inf.transforms):
        infer["transforms"] = inf.transforms[:limits.transforms]
    if limits.per_transform is not None and limits.per_transform < inf.per_transform:
        infer["per_transform"] = limits.per_transform
    n_transforms = len(infer.get("transforms", inf.transforms))
    dfs = min(inf.dfs_views, n_transforms) if limits.dfs_views is None else min(limits.dfs_views, inf.dfs_views,
                                                                               n_transforms)
    if dfs != inf.dfs_views:
        infer["dfs_views"] = dfs
    if limits.score_views is not None and limits.score_views < inf.score_views:
        infer["score_views"] = max(limits.score_views, 1 if inf.ranking != "votes" else 0)
    parts = {k: v for k, v in (("train", train), ("infer", infer)) if v}
    return replace(config, **parts) if parts else config


def describe(config: TransductionConfig, limits: TaskLimits | None) -> list[str]:
    """What `limits` cut from `config`, one line per knob (empty: nothing)."""
    if limits is None:
        return []
    cut = apply(config, limits)
    lines = []
    if limits.train_seconds is not None:
        lines.append(f"TTT capped at {limits.train_seconds:.1f} s")
    for section, key in (("train", "max_steps"), ("infer", "per_transform"), ("infer", "dfs_views"),
                         ("infer", "score_views")):
        before, after = getattr(getattr(config, section), key), getattr(getattr(cut, section), key)
        if before != after:
            lines.append(f"{section}.{key} {before or 'uncapped'} -> {after}")
    if cut.infer.transforms != config.infer.transforms:
        lines.append(f"infer.transforms {len(config.infer.transforms)} -> {len(cut.infer.transforms)}")
    return [f"{line} ({limits.why})" if limits.why else line for line in lines]
