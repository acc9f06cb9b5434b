"""Transduction inference and scoring on a backend that serves saved adapters, many tasks per call.

Which backend (one setting for both inference and augmentation scoring): the LM settings are an arc_lm
`LMConfig` — the run's `lm` section in `arc-hybrid run`, the `lm` table (or `--set lm.KEY=VALUE`) in
`arc-hybrid transduce`. `inference_lm` maps its `backend` to the transduction backend:
- "hf" (default): transformers; each task's saved adapter is loaded into the model by directory
  (`arc_lm.hf_backend`), on the training model itself in a local run (no second copy of the weights).
- "vllm": a vLLM engine over the same base model (`transduction.model`, never `lm.model`); each task's
  adapter is served from its peft `save_pretrained` directory (`adapter_dir`) with one `LoRARequest`
  per task, prefix caching per `lm.vllm.enable_prefix_caching`, `lm.vllm.max_lora_rank` raised to
  the adapter's rank when lower. vLLM leaves an lm_head LoRA out of prompt log-probs
  (vllm-project/vllm#51594), so scoring such adapters on vLLM is refused.
- "openai": a server holds no per-task adapters, so transduction stays on "hf" (induction still uses
  the server).
Training is always transformers + peft.

Batching: `predict_tasks` and `score_tasks` take several tasks' work (each with its own adapter
directory or None) and send all of it to the backend in one `generate` / `score` call, so vLLM
schedules every view of every task together. Each task's requests carry the task id as their batching
group, so on `hf` (padded batches of `infer.batch_size` rows) a task's answers are the same whether it
was sent alone or beside other tasks.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_core.task import Task
from arc_lm.config import LMConfig
from transduction.augscore import score_requests, sum_views
from transduction.budget import QueryPlan
from transduction.config import TransductionConfig
from transduction.formats import get_format
from transduction.dfs import DFSHit
from transduction.predict import Prediction, parse_predictions, prediction_requests
from transduction.queries import build_queries
from transduction.selection import pool
from transduction.train import TrainRecord, adapter_dir
from transduction.voting import VoteTable

# lm.backend -> the backend transduction runs on (see the module docstring).
ADAPTER_BACKENDS = {"hf": "hf", "vllm": "vllm", "openai": "hf"}
# LoRA ranks vLLM accepts for max_lora_rank.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def inference_lm(lm: LMConfig, config: TransductionConfig) -> LMConfig:
    """The LMConfig transduction serves its adapters with: model = `config.model`, and on `hf`
    `infer.batch_size` rows per padded batch (the one batching rule, transduction.pipeline)."""
    backend = ADAPTER_BACKENDS[lm.backend]
    vllm = lm.vllm
    if backend == "vllm" and vllm.max_lora_rank < config.lora.rank:
        fits = [r for r in VLLM_LORA_RANKS if r >= config.lora.rank]
        if not fits:
            raise ValueError(f"lora.rank={config.lora.rank} is above vLLM's largest LoRA rank {VLLM_LORA_RANKS[-1]}; "
                             "lower lora.rank or use lm.backend=hf")
        vllm = dataclasses.replace(vllm, max_lora_rank=fits[0])
    if backend == "vllm" and config.lora.lm_head and config.infer.score_views > 0:
        raise ValueError("vLLM leaves an lm_head LoRA's delta out of prompt log-probs (vllm-project/vllm#51594), "
                         "so its augmentation scores would be wrong: set lora.lm_head=false, "
                         "infer.score_views=0 or lm.backend=hf")
    return dataclasses.replace(lm, model=config.model, backend=backend, vllm=vllm, batch_size=config.infer.batch_size)


def served_adapter(workdir: str | Path, task_id: str, config: TransductionConfig,
                   record: TrainRecord | None, shared_id: str) -> str | None:
    """The saved adapter directory a serving backend uses for `task_id` (None: the base model)."""
    mode = config.train.mode
    if mode == "none" or record is None or record.skipped:
        return None  # no TTT, or nothing was trained (a fresh adapter is the base model)
    path = adapter_dir(workdir, shared_id if mode == "shared" else task_id)
    if not (path / "adapter_config.json").is_file():
        raise ValueError(f"{path}: no saved adapter to serve (expected peft's save_pretrained output)")
    return str(path)


@dataclass(frozen=True)
class InferenceJob:
    """One task's augmented inference: the task, the adapter directory to serve (None: base model) and
    its query plan (`pipeline.query_plan`: the queries that fit the context, each with its answer
    budget; None: every query with the worst-case answer budget and no context guard)."""

    task: Task
    adapter: str | None = None
    plan: QueryPlan | None = None
    deadline: float | None = None  # time.time() seconds: no generation after it (a time budget's cap)


@dataclass(frozen=True)
class ScoreJob:
    """One task's augmentation scoring: its vote tables, adapter directory and DFS hits (the pooled
    candidates of `selection.pool` are scored, as on the in-place path)."""

    task: Task
    tables: tuple[VoteTable, ...]
    adapter: str | None = None
    hits: tuple[DFSHit, ...] = ()
    views: int | None = None  # scoring views for this task (None: infer.score_views)


def predict_tasks(jobs: Sequence[InferenceJob], backend: Any, tokenizer: Any,
                  config: TransductionConfig) -> list[list[Prediction]]:
    """Every query of every job in one `backend.generate` call; predictions per job, in job order."""
    fmt = get_format(config.data.format)
    parts, requests = [], []
    for job in jobs:
        if job.deadline is not None and time.time() >= job.deadline:  # its cap is spent: nothing sent
            parts.append(([], [], len(requests), len(requests)))
            continue
        if job.plan is not None:
            queries, budgets = job.plan.queries, job.plan.budgets
        else:
            queries, budgets = build_queries(job.task, config.infer), None
        prompts, reqs = prediction_requests(job.task, queries, fmt, tokenizer, config.infer, job.adapter, budgets,
                                            job.deadline)
        parts.append((queries, prompts, len(requests), len(requests) + len(reqs)))
        requests += reqs
    results = backend.generate(requests) if requests else []
    if len(results) != len(requests):
        raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
    return [parse_predictions(queries, prompts, results[a:b], fmt) for queries, prompts, a, b in parts]


def score_tasks(jobs: Sequence[ScoreJob], backend: Any, tokenizer: Any,
                config: TransductionConfig) -> list[dict[int, list[float]] | None]:
    """Augmentation scores of every job's tables in one `backend.score` call (None where scoring is off)."""
    fmt = get_format(config.data.format)
    slices: list[list[tuple[int, int, int, int]] | None] = []  # per job: (test index, n grids, start, end)
    requests: list[Any] = []
    for job in jobs:
        k = config.infer.score_views if job.views is None else job.views
        if k == 0:
            slices.append(None)
            continue
        spans = []
        for table in job.tables:
            grids = pool(table, job.hits)
            reqs = score_requests(job.task, table.test_index, grids, fmt, tokenizer, k, config.infer.seed,
                                  job.adapter) if grids else []
            spans.append((table.test_index, len(grids), len(requests), len(requests) + len(reqs)))
            requests += reqs
        slices.append(spans)
    results = backend.score(requests) if requests else []
    if len(results) != len(requests):
        raise RuntimeError(f"backend returned {len(results)} score results for {len(requests)} requests")
    return [{i: sum_views(results[a:b], n) for i, n, a, b in spans} if spans is not None else None
            for spans in slices]
