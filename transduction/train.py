"""Test-time training: one fresh LoRA adapter per task on a base model loaded once.

`attach_lora(model, cfg)` wraps the base model with peft once; `reset_lora(model, seed)`
re-initialises every adapter weight in place (A: kaiming-uniform from `torch.manual_seed(seed)`,
B: zeros), so each task starts from a fresh adapter without reloading the base. `fit` runs AdamW
with a cosine schedule and linear warm-up over length-aware batches: examples are sorted by length,
cut into batches of `batch_size` and the batch order shuffled each epoch, so small-grid tasks do not
pay for padding. It runs `train.epochs` epochs, or more when `train.min_steps` needs them (a task
whose pseudo-tasks are few after deduplication still gets that many optimiser steps), at most
`train.max_steps` steps (the cosine schedule then spans the capped total); a `stop` callback, asked
after every step, ends training early (a wall-time cap): the adapter as trained so far is kept. The loss is
the token mean of cross-entropy over labelled tokens (transduction.masks). `train.gradient_checkpointing`
recomputes each decoder layer in the backward pass (on during `fit` only). On CUDA with dtype "auto"/"bfloat16" the forward runs under bf16 autocast; on CPU it is fp32 (bf16
is 17x slower on CPUs without AVX512-BF16, TTT_METHOD §8).

Adapters are saved with peft's `save_pretrained` (the on-disk format vLLM reads), one directory
per task (`adapter_dir`), with `record.json` (the `TrainRecord`) written last; a directory holding
a record is complete and is reused on resume (`load_adapter`). `adapter_files` / `write_adapter_files`
move a saved directory as bytes (between the machines of a cluster that share no file system).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arc_core.task import check_task_id
from transduction.config import LoraConfig, TrainConfig
from transduction.masks import IGNORE, TokenizedExample

RECORD_FILE = "record.json"


def peft_lora_config(cfg: LoraConfig) -> Any:
    from peft import LoraConfig as PeftLoraConfig

    targets = list(cfg.target_modules) + (["lm_head"] if cfg.lm_head else [])
    return PeftLoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=targets,
                          bias="none", task_type="CAUSAL_LM")


def attach_lora(model: Any, cfg: LoraConfig) -> Any:
    """Wrap `model` (modified in place) with one LoRA adapter named "default"."""
    from peft import get_peft_model

    missing = [m for m in cfg.target_modules if not any(n.endswith("." + m) for n, _ in model.named_modules())]
    if missing:
        raise ValueError(f"lora.target_modules {missing} not found in the model; check the module names")
    return get_peft_model(model, peft_lora_config(cfg))


def reset_lora(model: Any, seed: int) -> None:
    """Fresh adapter weights, determined by `seed` alone."""
    import torch
    from peft.tuners.lora import LoraLayer

    torch.manual_seed(seed)
    n = 0
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoraLayer):
                module.reset_lora_parameters("default", True)
                n += 1
    assert n > 0, "reset_lora: the model has no LoRA layers (call attach_lora first)"


def adapter_dir(workdir: str | Path, task_id: str) -> Path:
    """The one place a task's adapter lives (`task_id` checked: it names a directory)."""
    return Path(workdir) / "adapters" / check_task_id(task_id)


@dataclass(frozen=True)
class TrainRecord:
    """What TTT did for one task (or for the shared adapter, task_id "shared")."""

    task_id: str
    n_examples: int
    n_tokens: int
    n_loss_tokens: int
    n_steps: int
    losses: tuple[float, ...]       # per optimiser step
    seconds: float
    reused: bool = False
    skipped: str | None = None      # why no training happened (the adapter is then a no-op)
    stopped: str | None = None      # why training ended before n_steps (len(losses) steps were done)

    @property
    def tokens_per_second(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["losses"] = list(self.losses)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainRecord:
        return cls(**{**d, "losses": tuple(d["losses"])})


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Indices grouped by similar length (stable sort), batch order shuffled."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[int(i)] for i in rng.permutation(len(batches))]


def collate(examples: Sequence[TokenizedExample], pad_id: int, device: Any) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (IGNORE on padding)."""
    import torch

    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, :len(e)] = torch.tensor(e.input_ids)
        labels[row, :len(e)] = torch.tensor(e.labels)
        mask[row, :len(e)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def use_bf16_autocast(cfg: TrainConfig, device: Any) -> bool:
    return str(device).startswith("cuda") and cfg.dtype in ("auto", "bfloat16")


def cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up to 1, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass(frozen=True)
class Schedule:
    """How many optimiser steps `fit` takes over `n_examples` examples (min_steps and max_steps included)."""

    steps_per_epoch: int
    epochs: int
    total: int
    warmup: int


def schedule(n_examples: int, cfg: TrainConfig) -> Schedule:
    """`train.epochs` epochs of ceil(n / batch_size) steps, more epochs when `train.min_steps` needs them,
    at most `train.max_steps` steps (the cosine schedule then spans the capped total)."""
    if n_examples < 1:
        raise ValueError("no training examples (all pseudo-tasks were dropped?)")
    steps_per_epoch = math.ceil(n_examples / cfg.batch_size)
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps_per_epoch))
    total = steps_per_epoch * epochs
    if cfg.max_steps and cfg.max_steps < total:
        total = cfg.max_steps
        epochs = math.ceil(total / steps_per_epoch)
    return Schedule(steps_per_epoch, epochs, total, int(total * cfg.warmup_fraction))


def batch_plan(lengths: Sequence[int], cfg: TrainConfig, seed: int) -> list[list[int]]:
    """Every batch `fit` trains on, in order: each epoch's length batches in a fresh seeded order (a
    capped schedule takes the first `total` of them, the same as the uncapped run's first ones)."""
    rng = np.random.default_rng(seed)
    plan = schedule(len(lengths), cfg)
    batches = [b for _ in range(plan.epochs) for b in length_batches(lengths, cfg.batch_size, rng)]
    return batches[:plan.total]


@dataclass
class Resume:
    """Where an interrupted `fit` stands: steps done, their losses, optimiser and scheduler state
    (the trainable weights are restored into the model by the caller)."""

    step: int
    losses: list[float]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]


def fit(model: Any, examples: Sequence[TokenizedExample], cfg: TrainConfig, seed: int, pad_id: int,
        on_step: Callable[[int, float], None] | None = None, resume: Resume | None = None,
        checkpoint: Callable[[Resume], None] | None = None,
        stop: Callable[[], bool] | None = None) -> tuple[list[float], int]:
    """Train the trainable parameters of `model` on `examples`; returns (loss per step, steps planned).

    `resume` continues an interrupted run from its state (the same batches follow, as the batch
    order depends on `seed` only); `checkpoint` is called after every step with the current state
    (the caller decides when to write it); `stop`, asked after every step, ends training early (a
    wall-time cap): fewer losses than steps."""
    import contextlib

    import torch

    if not examples:
        raise ValueError("no training examples (all pseudo-tasks were dropped?)")
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    assert params, "fit: nothing to train"
    plan = schedule(len(examples), cfg)
    batches = batch_plan([len(e) for e in examples], cfg, seed)
    fused = str(device).startswith("cuda") and all(p.dtype == torch.float32 for p in params)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_with_warmup(s, plan.warmup, plan.total))
    losses: list[float] = []
    if resume is not None:
        if not 0 <= resume.step <= plan.total or len(resume.losses) != resume.step:
            raise ValueError(f"resume state at step {resume.step} ({len(resume.losses)} losses) does not match a "
                             f"run of {plan.total} steps")
        opt.load_state_dict(resume.optimizer)
        sched.load_state_dict(resume.scheduler)
        losses = list(resume.losses)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16_autocast(cfg, device)
                else contextlib.nullcontext())
    set_checkpointing(model, cfg.gradient_checkpointing)
    model.train()
    for batch_idx in batches[len(losses):]:
        if losses and stop is not None and stop():
            break
        batch = collate([examples[i] for i in batch_idx], pad_id, device)
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(len(losses), losses[-1])
        if checkpoint is not None:
            checkpoint(Resume(len(losses), losses, opt.state_dict(), sched.state_dict()))
    set_checkpointing(model, False)
    model.eval()
    return losses, plan.total


def set_checkpointing(model: Any, on: bool) -> None:
    """Per-layer activation (gradient) checkpointing on or off, non-reentrant (inputs need no grad)."""
    enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5.2x; older: gradient_*
    if on:
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    elif getattr(model, "is_activation_checkpointing", None) or getattr(model, "is_gradient_checkpointing", False):
        disable = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
        disable()


def train_adapter(model: Any, examples: Sequence[TokenizedExample], cfg: TrainConfig, task_id: str,
                  seed: int, pad_id: int, out_dir: Path | None = None,
                  on_step: Callable[[int, float], None] | None = None,
                  max_seconds: float | None = None) -> TrainRecord:
    """Reset the adapter, train it on `examples` (for at most `max_seconds` of wall time: then it stops
    after the step running and keeps what it learnt), save it to `out_dir` (if given) with its record.

    Without examples (every pseudo-task dropped, e.g. over the token limit) the freshly reset adapter
    (B = 0: the base model) is kept, nothing is saved, and the record says why."""
    reset_lora(model, seed)
    if not examples:
        return TrainRecord(task_id, 0, 0, 0, 0, (), 0.0, skipped="no TTT examples (all pseudo-tasks dropped)")
    start = time.perf_counter()
    stop = (lambda: time.perf_counter() - start >= max_seconds) if max_seconds is not None else None
    losses, steps = fit(model, examples, cfg, seed, pad_id, on_step, stop=stop)
    stopped = None
    if len(losses) < steps:
        stopped = f"time cap of {max_seconds:.1f} s reached after {len(losses)} of {steps} steps"
    record = TrainRecord(task_id, len(examples), sum(len(e) for e in examples),
                         sum(e.n_loss_tokens for e in examples), steps, tuple(losses),
                         time.perf_counter() - start, stopped=stopped)
    if out_dir is not None:
        save_adapter(model, out_dir, record)
    return record


def save_adapter(model: Any, out_dir: Path, record: TrainRecord) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    (out_dir / RECORD_FILE).write_text(json.dumps(record.to_dict(), indent=1))  # last: marks complete


def load_adapter(model: Any, out_dir: Path) -> TrainRecord | None:
    """Load a complete saved adapter into `model`'s "default" adapter; None if there is none."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    out_dir = Path(out_dir)
    rec_path, weights = out_dir / RECORD_FILE, out_dir / "adapter_model.safetensors"
    if not rec_path.is_file():
        return None
    if not weights.is_file():
        raise ValueError(f"{out_dir}: has {RECORD_FILE} but no adapter_model.safetensors; delete the directory")
    device = next(model.parameters()).device
    result = set_peft_model_state_dict(model, load_file(str(weights), device=str(device)))
    unexpected = list(getattr(result, "unexpected_keys", []))
    unexpected += [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    if unexpected:
        raise ValueError(f"{out_dir}: adapter does not match the model ({len(unexpected)} unexpected or missing keys, "
                         f"e.g. {unexpected[0]}); was it trained with other lora settings?")
    record = TrainRecord.from_dict(json.loads(rec_path.read_text()))
    return TrainRecord(**{**asdict(record), "losses": record.losses, "reused": True})


def adapter_files(out_dir: str | Path) -> dict[str, bytes]:
    """A complete saved adapter directory as {file name: bytes} (flat: peft writes no subdirectory)."""
    out_dir = Path(out_dir)
    if not (out_dir / RECORD_FILE).is_file():
        raise ValueError(f"{out_dir}: not a complete saved adapter (no {RECORD_FILE})")
    files = {p.name: p.read_bytes() for p in sorted(out_dir.iterdir()) if p.is_file()}
    if "adapter_config.json" not in files:
        raise ValueError(f"{out_dir}: no adapter_config.json (expected peft's save_pretrained output)")
    return files


def write_adapter_files(files: dict[str, bytes], out_dir: str | Path) -> Path:
    """Write `adapter_files` output into `out_dir`, replacing what is there, record.json last (so a
    reader never takes a half-written directory for a complete one)."""
    out_dir = Path(out_dir)
    for name in files:
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"adapter file name {name!r} is not a plain file name")
    if RECORD_FILE not in files:
        raise ValueError(f"adapter files lack {RECORD_FILE}: not a complete adapter")
    (out_dir / RECORD_FILE).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items(), key=lambda kv: kv[0] == RECORD_FILE):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(out_dir / name)
    return out_dir
