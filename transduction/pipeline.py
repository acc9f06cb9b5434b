"""The transduction recipe as two stages, `train` and `infer`, and `transduce_task`, both for one task.

`train_task` (the runner's `train` stage): TTT data (make_ttt_data, tokenize_data), the adapter
(run_ttt: trained, or reused when a complete one is saved) saved with peft's `save_pretrained` under
`adapter_dir(workdir, task)`; a `TrainedTask` (plain data) says what was trained and which directory
to serve. When the inference backend cannot drive a model itself (vLLM), DFS runs here, on the
training model with the adapter just trained, and its hits travel in the `TrainedTask`.

`infer_tasks` (the runner's `infer` stage), the one inference implementation for every backend: for
each task the query plan (budgets, drops, fallbacks; transduction.budget), greedy augmented
predictions (`serving.predict_tasks`: one `generate` call for every task given), votes (rule
infer.voting), DFS candidates (infer.dfs_views > 0, on an `hf` backend with the task's adapter
active), augmentation scores of the pooled candidates (`serving.score_tasks`: one `score` call) and
the ranked candidates (infer.ranking, transduction.selection). The backend serves each task's saved
adapter by directory: an `hf` backend loads it into the model (`HFBackend`, adapters loaded frozen;
`adapter=None` is the base model), vLLM with one `LoRARequest` per task. One batching rule
everywhere: a task's requests form their own batching group (`GenerationRequest.group`) in a fixed
order, so its answers do not depend on where it ran or which tasks shared the call.

`TransductionModel` holds what training loads once: the base model wrapped with one LoRA adapter
(peft) and its tokenizer. `InferenceEngine` holds what inference needs: the backend, its tokenizer
and the context length; `InferenceEngine.on_model` is an `hf` backend over the training model
itself (no second copy), `InferenceEngine.load` a backend of its own (vLLM; see transduction.serving
for the selection rule). Modes: "per-task" trains a fresh adapter per task, "shared" uses one adapter
trained on all tasks' data (`train_shared`), "none" serves the base model.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.candidates import Candidate, Source
from arc_core.task import Task
from transduction.budget import AnswerSizes, QueryPlan, TokenCounter, context_length, fit_queries
from transduction.config import TransductionConfig
from transduction.data import TTTData, task_seed
from transduction.dfs import DFSHit, SearchConfig, dfs_views
from transduction.formats import get_format
from transduction.limits import TaskLimits
from transduction.limits import apply as apply_limits
from transduction.masks import TokenizedExample, count_tokens, tokenize_example
from transduction.predict import Prediction
from transduction.queries import build_queries
from transduction.recipes import build_ttt_data
from transduction.selection import select
from transduction.serving import InferenceJob, ScoreJob, predict_tasks, score_tasks, served_adapter
from transduction.train import TrainRecord, adapter_dir, attach_lora, load_adapter, train_adapter
from transduction.voting import VoteTable, get_voting_rule

SHARED_ID = "_shared"


@dataclass
class TransductionModel:
    """A base model with a LoRA adapter attached (trained in place, task after task), its tokenizer."""

    model: Any
    tokenizer: Any

    @classmethod
    def wrap(cls, base_model: Any, tokenizer: Any, config: TransductionConfig) -> TransductionModel:
        """Attach the configured LoRA to an already-loaded base model (modified in place)."""
        model = attach_lora(base_model, config.lora)
        model.eval()
        return cls(model, tokenizer)

    @classmethod
    def load(cls, config: TransductionConfig, device: str = "auto") -> TransductionModel:
        """Load `config.model` once (arc_lm.load_hf_model) and attach the adapter."""
        from arc_lm.models import load_hf_model

        dtype = "float32" if config.train.dtype == "float32" else "auto"
        base, tokenizer = load_hf_model(config.model, device=device, dtype=dtype)
        return cls.wrap(base, tokenizer, config)

    @property
    def pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


@dataclass
class InferenceEngine:
    """A backend that serves saved adapters by directory, its tokenizer and the context in tokens."""

    backend: Any
    tokenizer: Any
    context: int

    @property
    def searches(self) -> bool:
        """Whether DFS can run here: it drives an HF model itself (`HFBackend.model_for`)."""
        return hasattr(self.backend, "model_for")

    @classmethod
    def on_model(cls, tm: TransductionModel, config: TransductionConfig) -> InferenceEngine:
        """An `hf` backend over the training model (adapters loaded beside the trained one, frozen;
        `infer.batch_size` rows per padded batch)."""
        from arc_lm.config import LMConfig
        from arc_lm.hf_backend import HFBackend

        # One adapter loaded beside the trained one at a time: a served adapter is as large as the trained one.
        lm = LMConfig(batch_size=config.infer.batch_size, max_loaded_adapters=1)
        backend = HFBackend.from_model(tm.model, tm.tokenizer, lm, base_model=True)
        return cls(backend, tm.tokenizer, _context(config, backend, tm.tokenizer))

    @classmethod
    def load(cls, config: TransductionConfig, lm: Any) -> InferenceEngine:
        """A backend of its own for `lm` (an arc_lm LMConfig), mapped by `serving.inference_lm`."""
        from arc_lm.backends import load_backend
        from arc_lm.models import load_tokenizer
        from transduction.serving import inference_lm

        backend = load_backend(inference_lm(lm, config))
        tokenizer = load_tokenizer(config.model)
        return cls(backend, tokenizer, _context(config, backend, tokenizer))

    def close(self) -> None:
        self.backend.close()  # a vLLM engine's processes stop now, not at garbage collection


def engine_for(tm: TransductionModel, config: TransductionConfig, lm: Any = None) -> InferenceEngine:
    """The inference engine of a process that also trains: `hf` on the training model itself, or a
    backend of its own when `lm` (arc_lm LMConfig) maps to one that serves adapters (vLLM)."""
    from transduction.serving import inference_lm

    if lm is None or inference_lm(lm, config).backend == "hf":
        return InferenceEngine.on_model(tm, config)
    return InferenceEngine.load(config, lm)


def _context(config: TransductionConfig, backend: Any, tokenizer: Any) -> int:
    """infer.context, else the backend's (the model config's, or vLLM's max_model_len), else the
    tokenizer's (transduction.budget.context_length)."""
    if config.infer.context:
        return config.infer.context
    return getattr(backend, "context", None) or context_length(config.infer, None, tokenizer)


# ---- train -------------------------------------------------------------------------------------
def make_ttt_data(task: Task, tokenizer: Any, config: TransductionConfig) -> TTTData:
    fmt = get_format(config.data.format)
    if hasattr(fmt, "check_tokenizer"):
        fmt.check_tokenizer(tokenizer)
    return build_ttt_data(task, config.data, lambda pt: count_tokens(fmt.encode(pt, tokenizer), tokenizer, fmt))


def tokenize_data(data: TTTData, tokenizer: Any, config: TransductionConfig) -> list[TokenizedExample]:
    fmt = get_format(config.data.format)
    return [tokenize_example(fmt.encode(pt, tokenizer), tokenizer, fmt, config.data.loss_on) for pt in data.examples]


def run_ttt(task: Task, tm: TransductionModel, config: TransductionConfig, workdir: str | Path,
            data: TTTData | None = None, max_seconds: float | None = None) -> TrainRecord | None:
    """Per-task mode: load the task's saved adapter if complete, else train (for at most `max_seconds`)
    and save it. Shared mode: load the shared adapter (trained by `train_shared`). No-TTT mode: nothing."""
    mode = config.train.mode
    if mode == "none":
        return None
    tm.model.set_adapter("default")  # the trained adapter (an inference call may have activated another)
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
                         tm.pad_id, out, max_seconds=max_seconds)


def train_shared(tasks: Sequence[Task], tm: TransductionModel, config: TransductionConfig,
                 workdir: str | Path) -> TrainRecord:
    """One adapter on the union of every task's TTT data (the paper's shared-TTT ablation)."""
    out = adapter_dir(workdir, SHARED_ID)
    tm.model.set_adapter("default")
    rec = load_adapter(tm.model, out)
    if rec is not None:
        return rec
    examples = [ex for t in tasks for ex in tokenize_data(make_ttt_data(t, tm.tokenizer, config), tm.tokenizer, config)]
    return train_adapter(tm.model, examples, config.train, SHARED_ID, task_seed(config.train.seed, SHARED_ID),
                         tm.pad_id, out)


@dataclass(frozen=True)
class TrainedTask:
    """A task after its `train` stage, as data: what `infer_tasks` needs besides the task, possibly in
    another process. `adapter` is the saved adapter directory to serve (None: the base model); `hits`
    are DFS hits computed at training (`dfs_done`), when the inference backend cannot search."""

    task_id: str
    data: dict[str, Any]
    train: TrainRecord | None
    adapter: str | None
    seconds: dict[str, float]
    hits: tuple[DFSHit, ...] = ()
    dfs_capped: bool = False
    dfs_done: bool = False

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "data": self.data,
                "train": self.train.to_dict() if self.train is not None else None, "adapter": self.adapter,
                "seconds": self.seconds, "dfs": [h.to_dict() for h in self.hits], "dfs_capped": self.dfs_capped,
                "dfs_done": self.dfs_done}

    @classmethod
    def from_dict(cls, d: dict) -> TrainedTask:
        return cls(d["task_id"], d["data"], TrainRecord.from_dict(d["train"]) if d["train"] is not None else None,
                   d["adapter"], d["seconds"], tuple(DFSHit.from_dict(h) for h in d["dfs"]), d["dfs_capped"],
                   d["dfs_done"])


def train_task(task: Task, tm: TransductionModel, config: TransductionConfig, workdir: str | Path,
               dfs: bool = False, limits: TaskLimits | None = None) -> TrainedTask:
    """TTT (per the mode) for one task, its adapter saved under `workdir`; with `dfs`, also DFS on the
    training model with that adapter (for an inference backend that cannot search). `limits` scale the
    work down (transduction.limits; a run under a time budget)."""
    config = apply_limits(config, limits)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    data = make_ttt_data(task, tm.tokenizer, config) if config.train.mode == "per-task" else None
    seconds["data"] = time.perf_counter() - clock
    clock = time.perf_counter()
    record = run_ttt(task, tm, config, workdir, data, limits.train_seconds if limits is not None else None)
    seconds["train"] = time.perf_counter() - clock
    adapter = served_adapter(workdir, task.id, config, record, SHARED_ID)
    stats: dict[str, Any] = {"n_examples": 0}
    if data is not None:
        stats = {"n_examples": len(data.examples), "digest": data.digest(), "n_candidates": data.n_candidates,
                 "n_too_large": data.n_too_large, "n_too_long": data.n_too_long, "n_duplicates": data.n_duplicates,
                 **data.breakdown()}
    hits: list[DFSHit] = []
    capped = False
    if dfs and config.infer.dfs_views > 0:
        from arc_lm.config import LMConfig
        from arc_lm.hf_backend import HFBackend

        clock = time.perf_counter()
        # The adapter just trained (or reused) is the model's own, active: searched in place (None),
        # or the base model when nothing is served.
        backend = HFBackend.from_model(tm.model, tm.tokenizer, LMConfig(), base_model=adapter is None)
        hits, capped = run_dfs(task, InferenceEngine(backend, tm.tokenizer, 0), None, config)
        seconds["dfs"] = time.perf_counter() - clock
    return TrainedTask(task.id, stats, record, adapter, seconds, tuple(hits), capped, dfs)


# ---- infer -------------------------------------------------------------------------------------
def query_plan(task: Task, tokenizer: Any, config: TransductionConfig, context: int) -> QueryPlan:
    """The task's inference queries with budgets, the dropped ones and the fallbacks (transduction.budget)."""
    fmt = get_format(config.data.format)
    counter = TokenCounter(tokenizer)
    return fit_queries(task, build_queries(task, config.infer), fmt, counter, AnswerSizes(fmt, counter),
                       config.infer, context)


def predict_task(task: Task, engine: InferenceEngine, config: TransductionConfig,
                 adapter: str | Path | None = None) -> list[Prediction]:
    """The greedy augmented predictions of one task with `adapter` served (the first step of
    `infer_tasks`, alone: for benchmarks that study predictions)."""
    plan = query_plan(task, engine.tokenizer, config, engine.context)
    job = InferenceJob(task, str(adapter) if adapter is not None else None, plan)
    return predict_tasks([job], engine.backend, engine.tokenizer, config)[0]


def vote(task: Task, predictions: Sequence[Prediction], rule: str = "votes") -> list[VoteTable]:
    fn = get_voting_rule(rule)
    return [fn(i, [(p.transform, p.grid) for p in predictions if p.test_index == i]) for i in range(task.n_test)]


def run_dfs(task: Task, engine: InferenceEngine, adapter: str | None,
            config: TransductionConfig, deadline: float | None = None) -> tuple[list[DFSHit], bool]:
    """DFS candidates under the first `infer.dfs_views` transforms (none when 0) with `adapter` active
    on the engine's HF model; (hits, capped). Views not started by `deadline` are skipped."""
    inf = config.infer
    if inf.dfs_views == 0:
        return [], False
    fmt = get_format(config.data.format)
    # Token cap per branch: the speed cap when set, else the format's worst-case 30x30 answer.
    cap = inf.max_new_tokens or AnswerSizes(fmt, TokenCounter(engine.tokenizer)).bound
    cfg = SearchConfig(inf.dfs_threshold, inf.dfs_max_candidates, inf.dfs_max_branches, cap)
    with engine.backend.model_for(adapter) as model:
        return dfs_views(task, model, engine.tokenizer, fmt, inf.transforms[:inf.dfs_views], cfg,
                         set(engine.backend.eos_ids), deadline)


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


@dataclass
class TransductionResult:
    """Everything transduction produced for one task (its `train` and `infer` stages)."""

    task_id: str
    data: dict[str, Any]                         # TTT data stats, and the query plan under "inference"
    train: TrainRecord | None
    predictions: list[Prediction]
    vote_tables: list[VoteTable]
    scores: dict[int, list[float]] | None
    candidates: dict[int, list[Candidate]]
    seconds: dict[str, float] = field(default_factory=dict)
    dfs: list[DFSHit] = field(default_factory=list)
    dfs_capped: bool = False
    stopped: str | None = None  # what a time budget's inference cap cut short (None: nothing)

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id, "data": self.data,
            "train": self.train.to_dict() if self.train is not None else None,
            "predictions": [p.to_dict() for p in self.predictions],
            "vote_tables": [t.to_dict() for t in self.vote_tables],
            "scores": {str(k): v for k, v in self.scores.items()} if self.scores is not None else None,
            "candidates": {str(k): [c.to_dict() for c in cs] for k, cs in self.candidates.items()},
            "seconds": self.seconds,
            "dfs": [h.to_dict() for h in self.dfs], "dfs_capped": self.dfs_capped, "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TransductionResult:
        return cls(
            d["task_id"], d["data"], TrainRecord.from_dict(d["train"]) if d["train"] is not None else None,
            [Prediction.from_dict(p) for p in d["predictions"]], [VoteTable.from_dict(t) for t in d["vote_tables"]],
            {int(k): v for k, v in d["scores"].items()} if d["scores"] is not None else None,
            {int(k): [Candidate.from_dict(c) for c in cs] for k, cs in d["candidates"].items()}, d["seconds"],
            [DFSHit.from_dict(h) for h in d.get("dfs", [])], d.get("dfs_capped", False), d.get("stopped"),
        )


def infer_tasks(tasks: Sequence[Task], trained: Sequence[TrainedTask], engine: InferenceEngine,
                config: TransductionConfig, limits: Sequence[TaskLimits | None] | None = None
                ) -> list[TransductionResult]:
    """The `infer` stage of several trained tasks (see the module docstring); one result per task, in
    order, each scaled down by its `limits` if given (an `infer_seconds` cap counts from this call's
    start). Per-task seconds of the shared backend calls are the call's time split evenly."""
    assert len(tasks) == len(trained) and all(t.id == tt.task_id for t, tt in zip(tasks, trained))
    n = max(1, len(tasks))
    limits = list(limits or [None] * len(tasks))
    cfgs = [apply_limits(config, lim) for lim in limits]
    started = time.time()
    deadlines = [started + lim.infer_seconds if lim is not None and lim.infer_seconds else None for lim in limits]
    plans = [query_plan(t, engine.tokenizer, c, engine.context) for t, c in zip(tasks, cfgs)]
    clock = time.perf_counter()
    predictions = predict_tasks([InferenceJob(t, tt.adapter, p, d) for t, tt, p, d
                                 in zip(tasks, trained, plans, deadlines)], engine.backend, engine.tokenizer, config)
    predict_s = (time.perf_counter() - clock) / n
    stopped = [_stopped_note(d, lim, "greedy inference") for d, lim in zip(deadlines, limits)]
    tables = [vote(t, p, config.infer.voting) for t, p in zip(tasks, predictions)]
    searched: list[tuple[tuple[DFSHit, ...], bool, float]] = []
    for k, (t, tt, c) in enumerate(zip(tasks, trained, cfgs)):
        clock = time.perf_counter()
        if tt.dfs_done or not engine.searches:
            searched.append((tt.hits, tt.dfs_capped, tt.seconds.get("dfs", 0.0)))
            continue
        hits, capped = run_dfs(t, engine, tt.adapter, c, deadlines[k])
        searched.append((tuple(hits), capped, time.perf_counter() - clock))
        if stopped[k] is None and c.infer.dfs_views:
            stopped[k] = _stopped_note(deadlines[k], limits[k], "DFS")
    clock = time.perf_counter()
    scores = score_tasks([ScoreJob(t, tuple(tb), tt.adapter, hits, c.infer.score_views) for t, tt, tb, (hits, _, _), c
                          in zip(tasks, trained, tables, searched, cfgs)], engine.backend, engine.tokenizer, config)
    score_s = (time.perf_counter() - clock) / n
    results = []
    for t, tt, plan, preds, tb, sc, (hits, capped, dfs_s), c, note in zip(
            tasks, trained, plans, predictions, tables, scores, searched, cfgs, stopped):
        seconds = {"data": tt.seconds.get("data", 0.0), "train": tt.seconds.get("train", 0.0),
                   "predict": predict_s, "dfs": dfs_s, "score": score_s}
        results.append(TransductionResult(t.id, {**tt.data, "inference": plan.summary()}, tt.train, preds, tb, sc,
                                          make_candidates(t, tb, sc, c, hits), seconds, list(hits), capped, note))
    return results


def _stopped_note(deadline: float | None, limits: TaskLimits | None, what: str) -> str | None:
    """The line recorded when an inference cap was reached during `what` (None: it was not)."""
    if deadline is None or limits is None or time.time() < deadline:
        return None
    return f"infer: {what} stopped at its {limits.infer_seconds:.1f} s cap" + (f" ({limits.why})" if limits.why else "")


def transduce_task(task: Task, tm: TransductionModel, engine: InferenceEngine, config: TransductionConfig,
                   workdir: str | Path) -> TransductionResult:
    """The `train` and `infer` stages of one task, one after the other."""
    trained = train_task(task, tm, config, workdir, dfs=not engine.searches)
    return infer_tasks([task], [trained], engine, config)[0]
