"""Fine-tuning before TTT (TTT_METHOD §5): train a base model on many tasks in the TTT format and loss.

Data: each training task (from a dataset, or drawn from the re-ARC generators, transduction.rearc)
contributes up to `data.max_examples` pseudo-tasks built by the configured TTT recipe (`marc` for
the paper: leave-one-out pseudo-tasks x augmentations), in the configured format with the TTT loss
mask, seeded per task. The examples are written to `OUT/data/examples.jsonl` and their SHA-256 is
the run's data digest.

Training: `transduction.train.fit` (AdamW, cosine with warm-up, length-sorted batches) on a LoRA
adapter ("lora") or on every weight ("full"), with a checkpoint every `checkpoint_every` steps
(transduction.checkpoint): rerunning the same command after an interruption, `kill -9` included,
resumes from the last checkpoint and ends with the same weights as an uninterrupted run. Progress
lines give loss, tokens/s and the ETA.

Output directory `OUT`:
- LoRA: `OUT/adapter/` (peft `save_pretrained`: the adapter, its base named by `config.model`, the
  weights cast to `adapter_dtype`), and, with `merge`, the merged model in `OUT` itself.
- full: the model in `OUT`.
- `training_provenance.json` (arc_core.provenance) in every model directory written: base model,
  method, sources (dataset task ids or re-ARC generator ids, seeds, counts, digests) and the data
  digest; `finetune.json` (record and configuration), written last: its presence marks a complete run.
`--set model=OUT` (merged or full) or `--set model=OUT/adapter` (merged on first use, arc_lm.models)
then serves as the base of TTT.

Contamination guard: training tasks that share a task id or at least two distinctive grids with the
evaluation tasks (arc_core.overlap), and evaluation tasks whose re-ARC generator is in the data, are
refused unless `allow_overlap` (then recorded).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from arc_core.config import to_dict
from arc_core.overlap import find_overlap
from arc_core.provenance import TrainingProvenance, TrainingSource, contaminated, write_provenance
from arc_core.task import Task
from transduction.checkpoint import Checkpointer, Progress
from transduction.config import TransductionConfig
from transduction.data import pseudo_task_to_dict, task_seed
from transduction.masks import TokenizedExample
from transduction.pipeline import make_ttt_data, tokenize_data
from transduction.train import attach_lora, batch_plan, fit, reset_lora, schedule

Method = Literal["lora", "full"]
ADAPTER_DTYPES = ("float32", "float16", "bfloat16")
RECORD_FILE = "finetune.json"


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune (the data, adapter and optimiser settings come from `TransductionConfig`)."""

    method: Method = "lora"
    merge: bool = True                       # lora: also write the merged model into OUT
    adapter_dtype: str = "float32"           # dtype of the saved adapter weights (float16: half the size)
    checkpoint_every: int = 50               # optimiser steps between checkpoints (0: none)
    log_every: int = 10                      # optimiser steps between progress lines
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("lora", "full"):
            raise ValueError(f"unknown fine-tuning method {self.method!r}; use 'lora' or 'full'")
        if self.adapter_dtype not in ADAPTER_DTYPES:
            raise ValueError(f"adapter_dtype must be one of {', '.join(ADAPTER_DTYPES)}, got {self.adapter_dtype!r}")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("checkpoint_every must be >= 0 and log_every >= 1")


@dataclass(frozen=True)
class TrainingData:
    """Training tasks from one source and that source's provenance."""

    tasks: tuple[Task, ...]
    source: TrainingSource

    @classmethod
    def from_dataset(cls, name: str, tasks: Sequence[Task]) -> TrainingData:
        return cls(tuple(tasks), TrainingSource("dataset", name, tuple(t.id for t in tasks), len(tasks)))


@dataclass(frozen=True)
class FinetuneRecord:
    method: str
    n_tasks: int
    n_examples: int
    n_tokens: int                 # tokens of one pass over the examples
    n_steps: int
    losses: tuple[float, ...]
    seconds: float                # training time of the process that finished the run
    out_dir: str
    data_digest: str = ""
    resumed_from: int = 0         # the step a checkpoint resumed from (0: a fresh run)
    tokens_per_second: float = 0.0  # trained tokens (all epochs) per second of this process
    overlap_allowed: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {**asdict(self), "losses": list(self.losses), "overlap_allowed": list(self.overlap_allowed)}


def build_examples(tasks: Sequence[Task], tokenizer: Any, config: TransductionConfig
                   ) -> tuple[list[TokenizedExample], list[dict], str]:
    """(tokenised examples, the pseudo-tasks as dicts, their SHA-256), task by task in order: TTT's own
    data and tokenisation (`pipeline.make_ttt_data`, `pipeline.tokenize_data`)."""
    examples, records = [], []
    for task in tasks:
        data = make_ttt_data(task, tokenizer, config)
        examples += tokenize_data(data, tokenizer, config)
        records += [{"task_id": task.id, **pseudo_task_to_dict(pt)} for pt in data.examples]
    blob = "\n".join(json.dumps(r, separators=(",", ":")) for r in records)
    return examples, records, hashlib.sha256(blob.encode()).hexdigest()


def check_overlap(sources: Sequence[TrainingData], eval_tasks: Sequence[Task]) -> dict[str, str]:
    """Training task id or evaluation task id -> why the two sets overlap (empty: held out)."""
    train = [t for s in sources for t in s.tasks]
    found = find_overlap(eval_tasks, train)
    probe = TrainingProvenance("", "", tuple(s.source for s in sources if s.source.kind != "dataset"), "", 0, 0)
    for tid, why in contaminated(probe, [t.id for t in eval_tasks]).items():
        found.setdefault(tid, f"evaluation task: {why}")
    return found


def finetune(sources: Sequence[TrainingData], eval_tasks: Sequence[Task], config: TransductionConfig,
             out_dir: str | Path, ft: FinetuneConfig = FinetuneConfig(), device: str = "auto",
             model: Any = None, tokenizer: Any = None, log: Callable[[str], None] = lambda s: None,
             on_step: Callable[[int, float], None] | None = None) -> FinetuneRecord:
    """Fine-tune `config.model` (or the given model + tokenizer) on `sources`; write OUT (see the
    module docstring). Rerunning with the same arguments resumes an interrupted run."""
    out = Path(out_dir)
    if (out / RECORD_FILE).is_file():
        raise ValueError(f"{out} holds a finished fine-tuning run ({RECORD_FILE}); choose another --out")
    tasks = [t for s in sources for t in s.tasks]
    if not tasks:
        raise ValueError("no training tasks")
    overlap = check_overlap(sources, eval_tasks)
    if overlap and not ft.allow_overlap:
        first = next(iter(overlap.items()))
        raise ValueError(f"{len(overlap)} task(s) overlap the evaluation set (e.g. {first[0]}: {first[1]}); "
                         "remove them or pass --allow-overlap")
    if model is None:
        from arc_lm.models import load_hf_model

        model, tokenizer = load_hf_model(config.model, device=device,
                                         dtype="float32" if config.train.dtype == "float32" else "auto")
    examples, records, digest = build_examples(tasks, tokenizer, config)
    if not examples:
        raise ValueError("no fine-tuning examples: every pseudo-task was dropped (raise data.max_tokens?)")
    _write_examples(out / "data", records)
    log(f"{len(tasks)} tasks -> {len(examples)} examples, {sum(map(len, examples)):,} tokens (data {digest[:12]})")
    seed = task_seed(config.train.seed, "finetune")
    if ft.method == "lora":
        model = attach_lora(model, config.lora)
        reset_lora(model, seed)
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    # The run's identity: what decides the weights (not inference settings, logging or checkpoint spacing).
    key = hashlib.sha256(json.dumps({"model": config.model, "lora": to_dict(config.lora), "train": to_dict(config.train),
                                     "method": ft.method, "data": digest}, sort_keys=True).encode()).hexdigest()
    checkpointer = Checkpointer(out / "checkpoint", key, ft.checkpoint_every)
    checkpointer.model = model
    resume = checkpointer.load(model)
    start_step = resume.step if resume is not None else 0
    if resume is not None:
        log(f"resuming from the checkpoint at step {start_step}")
    batches = batch_plan([len(e) for e in examples], config.train, seed)
    progress = Progress(schedule(len(examples), config.train).total,
                        [sum(len(examples[i]) for i in b) for b in batches], start_step, log, ft.log_every)

    def step_hook(step: int, loss: float) -> None:
        progress(step, loss)
        if on_step is not None:
            on_step(step, loss)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    start = time.perf_counter()
    losses, steps = fit(model, examples, config.train, seed, pad_id, step_hook, resume, checkpointer)
    seconds = time.perf_counter() - start
    trained_tokens = sum(sum(len(examples[i]) for i in b) for b in batches[start_step:])
    record = FinetuneRecord(ft.method, len(tasks), len(examples), sum(len(e) for e in examples), steps,
                            tuple(losses), seconds, str(out), digest, start_step,
                            trained_tokens / seconds if seconds > 0 else 0.0, tuple(sorted(overlap)))
    provenance = TrainingProvenance(config.model, ft.method, tuple(s.source for s in sources), digest,
                                    len(examples), record.n_tokens,
                                    {"record": {k: v for k, v in record.to_dict().items() if k != "losses"},
                                     "config": to_dict(config), "finetune": asdict(ft)})
    _save(model, tokenizer, out, config, ft, provenance)
    (out / RECORD_FILE).write_text(json.dumps({"record": record.to_dict(), "config": to_dict(config),
                                               "finetune": asdict(ft)}, indent=1))  # last: marks complete
    checkpointer.remove()
    return record


def _write_examples(directory: Path, records: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / "examples.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    tmp.replace(directory / "examples.jsonl")


def _save(model: Any, tokenizer: Any, out: Path, config: TransductionConfig, ft: FinetuneConfig,
          provenance: TrainingProvenance) -> None:
    """The adapter (lora), the merged or full model, each with the provenance."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    if ft.method == "lora":
        if ft.adapter_dtype != "float32":  # cast before merging, so the merged model is base + the saved adapter
            dtype = getattr(torch, ft.adapter_dtype)
            for name, p in model.named_parameters():
                if "lora_" in name:
                    p.data = p.data.to(dtype)
        model.peft_config["default"].base_model_name_or_path = config.model  # a name, not a cache path
        model.save_pretrained(str(out / "adapter"))
        write_provenance(out / "adapter", provenance)
        if not ft.merge:
            return
        model = model.merge_and_unload()
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    write_provenance(out, provenance)
