"""Fine-tuning before TTT, measured on this CPU (issue 21): its cost, and pass@2 with and without TTT.

Stages (`--stage`; each is resumable, `all` runs them in order):
  train   `arc-hybrid finetune` with `FINETUNE_ARGS` into RUN/model: re-ARC tasks drawn offline with grids
          <= 10x10, one pseudo-task per task (recipe marc, format compact, loss on outputs: TTT's), a
          LoRA adapter of rank 8 on every linear layer of the embedded SmolLM2-135M, saved in float16.
          With `--install`, the adapter directory becomes arc_lm/embedded/smollm2-135m-arc (the model
          `smollm2-135m-arc`; `make smollm2-135m-arc` runs this stage). Killed, it resumes on rerun.
  eval    bench/ttt_select.py's stages for the base model and for the fine-tuned one, on the first
          `--tasks` ARC-AGI-1 *evaluation* tasks with every demonstration and test input <= 10x10
          (smallest first), held out: none is a re-ARC generator's task (those are ARC-AGI-1 training
          tasks; checked through the model's provenance), and none shares grids with an ARC-AGI-1
          training task (arc_core.overlap: a near-copy of a task whose generator trained the model is
          skipped, e.g. 2072aba6), cached under RUN/<label>/<task>:
          no-TTT predictions, the cpu-small TTT adapter, its predictions, DFS, augmentation scores.
  report  bench/results/finetune_table.md: the fine-tuning cost (from RUN/model/finetune.json), the four
          configurations (base / fine-tuned x no TTT / cpu-small TTT, same seeds, pass@2 strict) and
          the selection ablation of bench/ttt_select.py for each model. bench/results/finetune.md
          (written by hand) states the sitting's machine and load and discusses these tables.

Usage (measured parts under the exclusive lock, 2 torch threads):
  flock -x /tmp/arc-cpu.lock .venv/bin/python bench/finetune.py --stage all --install --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ttt_select import choose_tasks, cpu_name, evaluate, loadavg, refuse_contaminated, report, run_task  # noqa: E402

EMBEDDED = ROOT / "arc_lm" / "embedded" / "smollm2-135m-arc"
SHIPPED = ("adapter_config.json", "adapter_model.safetensors", "training_provenance.json")
# The recipe of smollm2-135m-arc (issue 21): sized for about an hour of this 2-core CPU.
FINETUNE_ARGS = (
    "--datasets", "rearc:each=4", "--rearc-max-side", "10", "--rearc-demos", "2-4", "--rearc-seed", "0",
    "--examples-per-task", "1", "--recipe", "marc", "--preset", "cpu-small",
    "--set", "model=smollm2-135m", "--set", "data.max_tokens=1024",
    "--set", "lora.rank=8", "--set", "lora.alpha=16",
    "--set", "train.lr=5e-4", "--set", "train.epochs=1", "--set", "train.batch_size=1", "--set", "train.min_steps=0",
    "--set", "train.seed=0",
    "--method", "lora", "--adapter-dtype", "float16", "--checkpoint-every", "25", "--log-every", "20",
    "--device", "cpu",
)
MODELS = {"base": "smollm2-135m", "finetuned": "smollm2-135m-arc"}
CONFIGS = (("base, no TTT", "base", "no-TTT"), ("base + TTT (cpu-small)", "base", "loo votes"),
           ("fine-tuned, no TTT", "finetuned", "no-TTT"), ("fine-tuned + TTT (cpu-small)", "finetuned", "loo votes"))


def held_out(ds, n: int) -> list[str]:
    """The first `n` small evaluation tasks (choose_tasks' order) sharing no grid with ARC-AGI-1 training."""
    from arc_core.datasets import load_dataset
    from arc_core.overlap import find_overlap

    training = load_dataset("arc1/training")
    small = choose_tasks(ds, len(ds))
    near = find_overlap([training.tasks[t] for t in training.ids()], [ds.tasks[t] for t in small])
    return [t for t in small if t not in near][:n]


def train(run: Path, install: bool, extra: tuple[str, ...] = ()) -> None:
    from ensemble.cli import main

    out = run / "model"
    if not (out / "finetune.json").is_file():
        rc = main(["finetune", *FINETUNE_ARGS, *extra, "--out", str(out)])
        if rc != 0:
            raise SystemExit(f"finetune failed (exit {rc})")
    if install:
        EMBEDDED.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            shutil.copyfile(out / "adapter" / name, EMBEDDED / name)
        print(f"installed {', '.join(SHIPPED)} into {EMBEDDED}", flush=True)


def evaluate_models(run: Path, tasks: list[str], ds, args, models: dict[str, str]) -> None:
    from arc_lm.models import load_hf_model
    from transduction.config import preset
    from transduction.pipeline import TransductionModel

    for label, model in models.items():
        cfg = preset("cpu-small", {"model": model})
        refuse_contaminated(model, tasks)
        base, tok = load_hf_model(cfg.model, device="cpu", dtype="float32")
        tm = TransductionModel.wrap(base, tok, cfg)
        for tid in tasks:
            run_task(ds.tasks[tid], tm, cfg, run / label / tid, args)


def cost_lines(run: Path) -> list[str]:
    done = json.loads((run / "model" / "finetune.json").read_text())
    rec, prov = done["record"], json.loads((run / "model" / "training_provenance.json").read_text())
    trained = rec["n_tokens"] * done["config"]["train"]["epochs"]
    [src] = prov["sources"]
    stats = src["details"]["stats"]
    return [
        "| fine-tuning | value |", "|---|---|",
        f"| re-ARC tasks (generators) | {src['n_tasks']} ({len(src['task_ids'])} of 400 gave a task with grids <= 10x10; "
        f"{stats['draws']:,} draws, {sum(stats['skipped_tasks'].values())} tasks skipped) |",
        f"| examples (pseudo-tasks) | {rec['n_examples']:,} |",
        f"| tokens (one epoch; loss on outputs) | {rec['n_tokens']:,} |",
        f"| optimiser steps | {rec['n_steps']:,} |",
        f"| wall time of the finishing process | {rec['seconds'] / 60:.1f} min"
        + (f" (resumed from step {rec['resumed_from']})" if rec["resumed_from"] else "") + " |",
        f"| tokens/s | {rec['tokens_per_second']:.0f} |",
        f"| loss, first 20 / last 20 steps | {sum(rec['losses'][:20]) / 20:.3f} / {sum(rec['losses'][-20:]) / 20:.3f} |",
        f"| data digest | `{rec['data_digest'][:16]}` |",
        f"| trained tokens | {trained:,} |",
    ]


def write_report(run: Path, tasks: list[str], ds, args, info: dict, models: dict[str, str]) -> str:
    rows = {label: {tid: evaluate(ds.tasks[tid], ds.solutions[tid], run / label / tid, args.k) for tid in tasks}
            for label in models}
    for label in rows:
        for tid, r in rows[label].items():
            if r is not None:
                r["k"] = len(ds.tasks[tid].train)
    lines = ["## Fine-tuning before TTT (generated by bench/finetune.py)", "",
             f"- machine: {info['cpu']}, {info['cores']} cores, torch threads {args.threads}; "
             f"loadavg at start {info['load_start']}, at end {info['load']}",
             f"- tasks: ARC-AGI-1 evaluation, demos and test inputs <= 10x10, smallest first, none sharing a grid "
             f"with ARC-AGI-1 training: {', '.join(tasks)}",
             f"- recipe: `arc-hybrid finetune {' '.join(FINETUNE_ARGS)}`", ""]
    if (run / "model" / "finetune.json").is_file():
        lines += cost_lines(run) + [""]
    complete = [t for t in tasks if all(rows[m][t] is not None for m in models)]
    lines += [f"Pass@2 (strict: every test input) on {len(complete)} tasks, same seeds:", "",
              "| configuration | solved | s/task | solved tasks |", "|---|---|---|---|"]
    for name, label, variant in CONFIGS:
        solved = [t for t in complete if rows[label][t]["solved"][variant]]
        secs = sum(rows[label][t]["seconds"][variant] for t in complete) / max(1, len(complete))
        lines.append(f"| {name} | {len(solved)}/{len(complete)} | {secs:.0f} | {' '.join(solved)} |")
    for label, model in models.items():
        args.dataset = "arc1/evaluation"
        lines += ["", f"### Selection ablation, {label} model", "",
                  report(rows[label], args, {**info, "chosen": tasks, "model": model}).split("\n", 2)[2]]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=("train", "eval", "report", "all"), default="all")
    ap.add_argument("--run", default=str(ROOT / "runs/finetune"), help="run directory (model and stage caches)")
    ap.add_argument("--install", action="store_true", help="train: copy the adapter into arc_lm/embedded")
    ap.add_argument("--tasks", type=int, default=12, help="held-out evaluation tasks (see the module docstring)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--threshold", type=float, default=0.1, help="DFS probability threshold")
    ap.add_argument("--dfs-views", type=int, default=4, help="DFS under this many inference transforms")
    ap.add_argument("--k", type=int, default=8, help="augmentation scoring views")
    ap.add_argument("--out", default=str(ROOT / "bench/results/finetune_table.md"), help="report file")
    ap.add_argument("--smoke", metavar="MODEL_DIR", help="check the whole bench quickly with a tiny model: train it "
                    "on 20 re-ARC tasks, evaluate it and its fine-tuned copy (nothing is installed)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from arc_core.datasets import load_dataset

    run = Path(args.run)
    ds = load_dataset("arc1/evaluation")
    tasks = held_out(ds, args.tasks)
    info = {"cpu": cpu_name(), "cores": os.cpu_count(), "load_start": loadavg()}
    start = time.perf_counter()
    models, extra = MODELS, ()
    if args.smoke:
        models = {"base": args.smoke, "finetuned": str(run / "model")}
        extra = ("--datasets", "rearc:20", "--set", f"model={args.smoke}", "--set", "train.lr=1e-3")
        args.install = False
    if args.stage in ("train", "all"):
        train(run, args.install, extra)
        print(f"train stage done in {(time.perf_counter() - start) / 60:.1f} min, load {loadavg()}", flush=True)
    if args.stage in ("eval", "all"):
        evaluate_models(run, tasks, ds, args, models)
        print(f"eval stage done at {(time.perf_counter() - start) / 60:.1f} min, load {loadavg()}", flush=True)
    info["load"] = loadavg()
    Path(args.out).write_text(write_report(run, tasks, ds, args, info, models))
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
