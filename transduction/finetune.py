"""Fine-tuning before TTT: train a base model on many tasks in the TTT format and loss, save an HF dir.

Each training task contributes `config.data.max_examples` augmented leave-one-out pseudo-tasks (the
same builder, format and loss mask as TTT, seeded per task); the union is shuffled by the length-aware
batcher and trained either as a LoRA adapter that is then merged into the weights ("lora") or as full
fine-tuning ("full"). The result is written with `save_pretrained` (model + tokenizer), usable as the
base model of a TTT run (`--set model=DIR`).

Contamination guard (`arc_core.overlap.find_overlap`): training tasks that share a task id, or at
least two non-trivial grids (>= 9 cells, >= 2 colours; demonstration grids and test inputs), with the
evaluation tasks are refused unless `allow_overlap` — ARC-AGI-2 training contains 376 of the 400
ARC-AGI-1 evaluation tasks (this rule flags 377 of them by id or grids, and 2 ARC-AGI-1 training tasks).
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from arc_core.config import to_dict
from arc_core.overlap import find_overlap
from arc_core.task import Task
from transduction.config import TransductionConfig
from transduction.data import task_seed
from transduction.pipeline import make_ttt_data, tokenize_data
from transduction.train import attach_lora, fit, reset_lora

Method = Literal["lora", "full"]


@dataclass(frozen=True)
class FinetuneRecord:
    method: str
    n_tasks: int
    n_examples: int
    n_tokens: int
    n_steps: int
    losses: tuple[float, ...]
    seconds: float
    out_dir: str

    def to_dict(self) -> dict:
        return {**asdict(self), "losses": list(self.losses)}


def finetune(train_tasks: Sequence[Task], eval_tasks: Sequence[Task], config: TransductionConfig,
             out_dir: str | Path, method: Method = "lora", allow_overlap: bool = False,
             device: str = "auto", model: Any = None, tokenizer: Any = None) -> FinetuneRecord:
    """Fine-tune `config.model` (or the given model + tokenizer) on `train_tasks`; write an HF dir."""
    if method not in ("lora", "full"):
        raise ValueError(f"unknown fine-tuning method {method!r}; use 'lora' or 'full'")
    overlap = find_overlap(eval_tasks, train_tasks)
    if overlap and not allow_overlap:
        first = next(iter(overlap.items()))
        raise ValueError(f"{len(overlap)} training task(s) overlap the evaluation set (e.g. {first[0]}: {first[1]}); "
                         "remove them or pass --allow-overlap")
    if not train_tasks:
        raise ValueError("no training tasks")
    if model is None:
        from arc_lm.models import load_hf_model

        model, tokenizer = load_hf_model(config.model, device=device)
    start = time.perf_counter()
    examples = [ex for t in train_tasks for ex in tokenize_data(make_ttt_data(t, tokenizer, config), tokenizer, config)]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seed = task_seed(config.train.seed, "finetune")
    if method == "lora":
        model = attach_lora(model, config.lora)
        reset_lora(model, seed)
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    losses, steps = fit(model, examples, config.train, seed, pad_id)
    if method == "lora":
        model = model.merge_and_unload()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    record = FinetuneRecord(method, len(train_tasks), len(examples), sum(len(e) for e in examples), steps,
                            tuple(losses), time.perf_counter() - start, str(out))
    (out / "finetune.json").write_text(json.dumps({"record": record.to_dict(), "config": to_dict(config),
                                                   "overlap_allowed": sorted(overlap)}, indent=1))
    return record
