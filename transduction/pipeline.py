"""The transduction recipe, stage by stage, and `transduce_task` which runs them all for one task.

Stages (each callable on its own; every result type has `to_dict` / `from_dict` so the ensemble
runner can persist it):
  make_ttt_data -> tokenize_data -> run_ttt (TrainRecord) -> query_plan (budgets, drops,
  fallbacks; recorded in the result's data["inference"]) -> run_inference (predictions)
  -> vote (VoteTables, rule infer.voting) -> run_dfs (DFS hits, infer.dfs_views > 0)
  -> score (augmentation log-probs of each pooled candidate) -> make_candidates (ranked by
  infer.ranking, transduction.selection)
`transduce_task` = `train_task` (data, TTT, plan, DFS on the training model; a `TrainedTask`, plain
data) then inference/vote/score: in place on the training model, or, when a backend serves the saved
adapters, `finish_tasks`, which takes several trained tasks in one backend call (the ensemble's Ray
inference actors call it with many tasks; one task here).

`TransductionModel` holds what is loaded once per run: the base model wrapped with one LoRA adapter
(peft), its tokenizer, and the inference backend: an arc_lm `HFBackend` over that same model (adapter
in place), or, with `lm.backend = "vllm"`, a vLLM engine serving each task's saved adapter
(`served`; see transduction.serving for the selection rule). Modes: "per-task" trains a
fresh adapter per task (reused from `adapter_dir(workdir, task)` when complete), "shared" uses one
adapter trained on all tasks' data (`train_shared`), "none" disables the adapter (base model only).
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.candidates import Candidate, Source
from arc_core.task import Task
from transduction.augscore import score_candidates
from transduction.budget import AnswerSizes, QueryPlan, TokenCounter, context_length, fit_queries
from transduction.config import TransductionConfig
from transduction.data import TTTData, task_seed
from transduction.recipes import build_ttt_data
from transduction.formats import get_format
from transduction.masks import TokenizedExample, count_tokens, tokenize_example
from transduction.predict import Prediction, predict
from transduction.queries import build_queries
from transduction.serving import InferenceJob, ScoreJob, predict_tasks, score_tasks, served_adapter
from transduction.train import TrainRecord, adapter_dir, attach_lora, load_adapter, train_adapter
from transduction.dfs import DFSHit, SearchConfig, dfs_views
from transduction.selection import pool, select
from transduction.voting import VoteTable, get_voting_rule

SHARED_ID = "_shared"


@dataclass
class TransductionModel:
    """A base model with a LoRA adapter attached, its tokenizer and a backend over it."""

    model: Any
    tokenizer: Any
    backend: Any
    served: bool = False  # backend serves saved adapter directories (vllm) instead of the model in place

    @classmethod
    def wrap(cls, base_model: Any, tokenizer: Any, config: TransductionConfig,
             lm_batch_size: int | None = None) -> TransductionModel:
        """Attach the configured LoRA to an already-loaded base model (modified in place)."""
        from arc_lm.config import LMConfig
        from arc_lm.hf_backend import HFBackend

        model = attach_lora(base_model, config.lora)
        model.eval()
        backend = HFBackend.from_model(model, tokenizer, LMConfig(batch_size=lm_batch_size or config.infer.batch_size))
        return cls(model, tokenizer, backend)

    @classmethod
    def load(cls, config: TransductionConfig, device: str = "auto", lm: Any = None) -> TransductionModel:
        """Load `config.model` once (arc_lm.load_hf_model) and attach the adapter; with an `lm`
        (arc_lm.LMConfig) whose backend is "vllm", inference and scoring go to a vLLM engine."""
        from arc_lm.backends import load_backend
        from arc_lm.models import load_hf_model
        from transduction.serving import inference_lm

        dtype = "float32" if config.train.dtype == "float32" else "auto"
        base, tokenizer = load_hf_model(config.model, device=device, dtype=dtype)
        tm = cls.wrap(base, tokenizer, config)
        serve = inference_lm(lm, config) if lm is not None else None
        if serve is not None and serve.backend != "hf":
            tm.backend, tm.served = load_backend(serve), True
        return tm

    @property
    def pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


# ---- stages ------------------------------------------------------------------------------------
def make_ttt_data(task: Task, tokenizer: Any, config: TransductionConfig) -> TTTData:
    fmt = get_format(config.data.format)
    if hasattr(fmt, "check_tokenizer"):
        fmt.check_tokenizer(tokenizer)
    return build_ttt_data(task, config.data, lambda pt: count_tokens(fmt.encode(pt, tokenizer), tokenizer, fmt))


def tokenize_data(data: TTTData, tokenizer: Any, config: TransductionConfig) -> list[TokenizedExample]:
    fmt = get_format(config.data.format)
    return [tokenize_example(fmt.encode(pt, tokenizer), tokenizer, fmt, config.data.loss_on) for pt in data.examples]


def run_ttt(task: Task, tm: TransductionModel, config: TransductionConfig, workdir: str | Path,
            data: TTTData | None = None) -> TrainRecord | None:
    """Per-task mode: load the task's saved adapter if complete, else train and save it.
    Shared mode: load the shared adapter (trained by `train_shared`). No-TTT mode: nothing (None)."""
    mode = config.train.mode
    if mode == "none":
        return None
    if mode == "shared":
        rec = load_adapter(tm.model, adapter_dir(workdir, SHARED_ID))
        if rec is None:
            raise ValueError(f"shared mode: no shared adapter in {adapter_dir(workdir, SHARED_ID)}; "
                             "run train_shared first")
        return rec
    out = adapter_dir(workdir, task.id)
    rec = load_adapter(tm.model, out)
    if rec is not None:
        return rec
    data = data if data is not None else make_ttt_data(task, tm.tokenizer, config)
    examples = tokenize_data(data, tm.tokenizer, config)
    return train_adapter(tm.model, examples, config.train, task.id, task_seed(config.train.seed, task.id),
                         tm.pad_id, out)


def train_shared(tasks: Sequence[Task], tm: TransductionModel, config: TransductionConfig,
                 workdir: str | Path) -> TrainRecord:
    """One adapter on the union of every task's TTT data (the paper's shared-TTT ablation)."""
    out = adapter_dir(workdir, SHARED_ID)
    rec = load_adapter(tm.model, out)
    if rec is not None:
        return rec
    examples = [ex for t in tasks for ex in tokenize_data(make_ttt_data(t, tm.tokenizer, config), tm.tokenizer, config)]
    return train_adapter(tm.model, examples, config.train, SHARED_ID, task_seed(config.train.seed, SHARED_ID),
                         tm.pad_id, out)


def query_plan(task: Task, tokenizer: Any, config: TransductionConfig, context: int) -> QueryPlan:
    """The task's inference queries with budgets, the dropped ones and the fallbacks (transduction.budget)."""
    fmt = get_format(config.data.format)
    counter = TokenCounter(tokenizer)
    return fit_queries(task, build_queries(task, config.infer), fmt, counter, AnswerSizes(fmt, counter),
                       config.infer, context)


def run_inference(task: Task, tm: TransductionModel, config: TransductionConfig,
                  plan: QueryPlan | None = None, adapter: str | None = None) -> list[Prediction]:
    """Augmented predictions with the adapter as trained (disabled in mode "none"); a serving backend
    gets the saved `adapter` directory instead, all views in one batch."""
    plan = plan or query_plan(task, tm.tokenizer, config, context_length(config.infer, tm.model, tm.tokenizer))
    if tm.served:
        return predict_tasks([InferenceJob(task, adapter, plan)], tm.backend, tm.tokenizer, config)[0]
    ctx = tm.model.disable_adapter() if config.train.mode == "none" else contextlib.nullcontext()
    with ctx:
        return predict_with_backend(task, tm.backend, tm.tokenizer, config, plan=plan)


def predict_with_backend(task: Task, backend: Any, tokenizer: Any, config: TransductionConfig,
                         adapter: str | Path | None = None, plan: QueryPlan | None = None) -> list[Prediction]:
    """Augmented predictions through any arc_lm Backend, optionally with a saved adapter directory
    (e.g. `adapter_dir(workdir, task.id)` served by a vLLM or HF backend loaded separately).
    Only queries that fit the context run, each with its own answer budget (`query_plan`)."""
    fmt = get_format(config.data.format)
    plan = plan or query_plan(task, tokenizer, config,
                              context_length(config.infer, getattr(backend, "model", None), tokenizer))
    return predict(task, plan.queries, fmt, tokenizer, backend, config.infer,
                   str(adapter) if adapter is not None else None, budgets=plan.budgets)


def vote(task: Task, predictions: Sequence[Prediction], rule: str = "votes") -> list[VoteTable]:
    fn = get_voting_rule(rule)
    return [fn(i, [(p.transform, p.grid) for p in predictions if p.test_index == i]) for i in range(task.n_test)]


def run_dfs(task: Task, tm: TransductionModel, config: TransductionConfig) -> tuple[list[DFSHit], bool]:
    """DFS candidates under the first `infer.dfs_views` transforms (none when 0); (hits, capped)."""
    inf = config.infer
    if inf.dfs_views == 0:
        return [], False
    fmt = get_format(config.data.format)
    # Token cap per branch: the speed cap when set, else the format's worst-case 30x30 answer.
    cap = inf.max_new_tokens or AnswerSizes(fmt, TokenCounter(tm.tokenizer)).bound
    cfg = SearchConfig(inf.dfs_threshold, inf.dfs_max_candidates, inf.dfs_max_branches, cap)
    ctx = tm.model.disable_adapter() if config.train.mode == "none" else contextlib.nullcontext()
    with ctx:
        return dfs_views(task, tm.model, tm.tokenizer, fmt, inf.transforms[:inf.dfs_views],
                         cfg, set(tm.backend.eos_ids))


def score(task: Task, tables: Sequence[VoteTable], tm: TransductionModel, config: TransductionConfig,
          hits: Sequence[DFSHit] = (), adapter: str | None = None) -> dict[int, list[float]] | None:
    """Augmentation scores per test input (aligned with `selection.pool`), None when disabled."""
    if config.infer.score_views == 0:
        return None
    if tm.served:
        return score_tasks([ScoreJob(task, tuple(tables), adapter, tuple(hits))], tm.backend, tm.tokenizer, config)[0]
    fmt = get_format(config.data.format)
    ctx = tm.model.disable_adapter() if config.train.mode == "none" else contextlib.nullcontext()
    with ctx:
        return {t.test_index: score_candidates(task, t.test_index, pool(t, hits), fmt, tm.tokenizer,
                                               tm.backend, config.infer.score_views, config.infer.seed)
                for t in tables}


def make_candidates(task: Task, tables: Sequence[VoteTable], scores: dict[int, list[float]] | None,
                    config: TransductionConfig, hits: Sequence[DFSHit] = ()) -> dict[int, list[Candidate]]:
    """Ranked candidates; weight = votes, score = the ranking's value, provenance = sources."""
    out: dict[int, list[Candidate]] = {}
    for t in tables:
        ranked = select(t, hits, scores.get(t.test_index) if scores is not None else None, config.infer.ranking,
                        config.infer.score_views)
        out[t.test_index] = [Candidate(task.id, t.test_index, s.grid, Source.TRANSDUCTION, r, s.votes,
                                       s.value if s.value is not None else s.score_sum, s.sources)
                             for r, s in enumerate(ranked)]
    return out


# ---- the whole recipe --------------------------------------------------------------------------
@dataclass
class TransductionResult:
    """Everything transduction produced for one task."""

    task_id: str
    data: dict[str, Any]                         # TTT data stats: n_examples, digest, drop counts
    train: TrainRecord | None
    predictions: list[Prediction]
    vote_tables: list[VoteTable]
    scores: dict[int, list[float]] | None
    candidates: dict[int, list[Candidate]]
    seconds: dict[str, float] = field(default_factory=dict)
    dfs: list[DFSHit] = field(default_factory=list)
    dfs_capped: bool = False

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id, "data": self.data,
            "train": self.train.to_dict() if self.train is not None else None,
            "predictions": [p.to_dict() for p in self.predictions],
            "vote_tables": [t.to_dict() for t in self.vote_tables],
            "scores": {str(k): v for k, v in self.scores.items()} if self.scores is not None else None,
            "candidates": {str(k): [c.to_dict() for c in cs] for k, cs in self.candidates.items()},
            "seconds": self.seconds,
            "dfs": [h.to_dict() for h in self.dfs], "dfs_capped": self.dfs_capped,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TransductionResult:
        return cls(
            d["task_id"], d["data"], TrainRecord.from_dict(d["train"]) if d["train"] is not None else None,
            [Prediction.from_dict(p) for p in d["predictions"]], [VoteTable.from_dict(t) for t in d["vote_tables"]],
            {int(k): v for k, v in d["scores"].items()} if d["scores"] is not None else None,
            {int(k): [Candidate.from_dict(c) for c in cs] for k, cs in d["candidates"].items()}, d["seconds"],
            [DFSHit.from_dict(h) for h in d.get("dfs", [])], d.get("dfs_capped", False),
        )


@dataclass(frozen=True)
class TrainedTask:
    """A task after its TTT step (data, adapter, query plan, DFS), as data: what a serving backend
    needs to finish it (`finish_tasks`), possibly in another process and together with other tasks.
    `adapter` is the saved adapter directory to serve (None: the base model)."""

    task: Task
    data: dict[str, Any]
    train: TrainRecord | None
    plan: QueryPlan
    adapter: str | None
    hits: tuple[DFSHit, ...]
    dfs_capped: bool
    seconds: dict[str, float]


def train_task(task: Task, model: TransductionModel, config: TransductionConfig, workdir: str | Path,
               serve: bool = False) -> TrainedTask:
    """TTT (per the mode), the query plan and DFS for one task, on the HF training model; with `serve`
    the adapter directory a serving backend will use is resolved (it must have been saved)."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    data = make_ttt_data(task, model.tokenizer, config) if config.train.mode == "per-task" else None
    seconds["data"] = time.perf_counter() - clock
    clock = time.perf_counter()
    record = run_ttt(task, model, config, workdir, data)
    seconds["train"] = time.perf_counter() - clock
    adapter = served_adapter(workdir, task.id, config, record, SHARED_ID) if serve else None
    plan = query_plan(task, model.tokenizer, config, context_length(config.infer, model.model, model.tokenizer))
    clock = time.perf_counter()
    hits, capped = run_dfs(task, model, config)  # reads only the model: order-free w.r.t. inference
    seconds["dfs"] = time.perf_counter() - clock
    stats: dict[str, Any] = {"n_examples": 0}
    if data is not None:
        stats = {"n_examples": len(data.examples), "digest": data.digest(), "n_candidates": data.n_candidates,
                 "n_too_large": data.n_too_large, "n_too_long": data.n_too_long, "n_duplicates": data.n_duplicates,
                 **data.breakdown()}
    stats["inference"] = plan.summary()
    return TrainedTask(task, stats, record, plan, adapter, tuple(hits), capped, seconds)


def _result(t: TrainedTask, predictions: list[Prediction], tables: list[VoteTable],
            scores: dict[int, list[float]] | None, config: TransductionConfig,
            predict_s: float, score_s: float) -> TransductionResult:
    seconds = {"data": t.seconds["data"], "train": t.seconds["train"], "predict": predict_s,
               "dfs": t.seconds["dfs"], "score": score_s}
    hits = list(t.hits)
    return TransductionResult(t.task.id, t.data, t.train, predictions, tables, scores,
                              make_candidates(t.task, tables, scores, config, hits), seconds, hits, t.dfs_capped)


def finish_tasks(trained: Sequence[TrainedTask], backend: Any, tokenizer: Any,
                 config: TransductionConfig) -> list[TransductionResult]:
    """Inference, voting, scoring and candidates of several trained tasks on a backend that serves their
    saved adapters: one `generate` and one `score` call for all of them (`transduction.serving`).
    Per-task seconds of the shared calls are the call's time split evenly."""
    clock = time.perf_counter()
    predictions = predict_tasks([InferenceJob(t.task, t.adapter, t.plan) for t in trained], backend, tokenizer, config)
    predict_s = (time.perf_counter() - clock) / max(1, len(trained))
    tables = [vote(t.task, p, config.infer.voting) for t, p in zip(trained, predictions)]
    clock = time.perf_counter()
    scores = score_tasks([ScoreJob(t.task, tuple(tb), t.adapter, t.hits) for t, tb in zip(trained, tables)],
                         backend, tokenizer, config)
    score_s = (time.perf_counter() - clock) / max(1, len(trained))
    return [_result(t, p, tb, s, config, predict_s, score_s)
            for t, p, tb, s in zip(trained, predictions, tables, scores)]


def transduce_task(task: Task, model: TransductionModel, config: TransductionConfig,
                   workdir: str | Path) -> TransductionResult:
    """TTT (per the mode) + augmented inference + voting (+ scoring) for one task."""
    trained = train_task(task, model, config, workdir, serve=model.served)
    if model.served:
        return finish_tasks([trained], model.backend, model.tokenizer, config)[0]
    clock = time.perf_counter()
    predictions = run_inference(task, model, config, trained.plan)
    predict_s = time.perf_counter() - clock
    tables = vote(task, predictions, config.infer.voting)
    clock = time.perf_counter()
    scores = score(task, tables, model, config, trained.hits)
    return _result(trained, predictions, tables, scores, config, predict_s, time.perf_counter() - clock)
