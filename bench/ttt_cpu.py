"""Benchmark: test-time training with the embedded SmolLM2-135M on CPU.

1. Throughput: `transduction.train.fit` (peft LoRA, length-aware batches, cosine schedule) against a
   bare PyTorch loop (hand-written LoRA modules on a copy of the model, same rank/alpha/targets, same
   batches, same AdamW and schedule), interleaved round by round; tokens/s medians and their ratio.
2. Accuracy: small-grid ARC-AGI-1 training tasks (all demonstration and test-input grids <= 6x6,
   chosen without looking at test outputs) solved pass@2 with and without TTT at the `cpu-small`
   preset; per-task outcome and seconds.

Usage: .venv/bin/python bench/ttt_cpu.py [--threads 1] [--tasks a,b,c] [--rounds 4]
Writes bench/results/ttt_cpu.md (overwrites) and prints the same figures.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_TASKS = "0d3d703e,74dd1130,3c9b0459,b1948b0a"


def machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version()}


class BareLoRA:
    """Hand-written LoRA: y = W x + (alpha/r) B A x on the target Linear layers of a model copy."""

    def __init__(self, model, targets, rank, alpha, seed):
        import torch

        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        torch.manual_seed(seed)
        self.params = []
        scale = alpha / rank
        for name, mod in list(model.named_modules()):
            if isinstance(mod, torch.nn.Linear) and name.split(".")[-1] in targets:
                a = torch.nn.Parameter(torch.empty(rank, mod.in_features))
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                b = torch.nn.Parameter(torch.zeros(mod.out_features, rank))
                self.params += [a, b]
                mod.forward = self._forward(mod, a, b, scale)

    @staticmethod
    def _forward(mod, a, b, scale):
        import torch.nn.functional as F

        def fwd(x):
            return F.linear(x, mod.weight, mod.bias) + F.linear(F.linear(x, a), b) * scale
        return fwd


def bare_fit(bare, batches, lr, weight_decay, warmup_fraction, max_grad_norm, pad_id):
    """A minimal loop over pre-built batches (same maths as transduction.train.fit)."""
    import torch

    from transduction.train import collate, cosine_with_warmup

    total = len(batches)
    warmup = int(total * warmup_fraction)
    opt = torch.optim.AdamW(bare.params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_with_warmup(s, warmup, total))
    bare.model.train()
    for batch in batches:
        loss = bare.model(**collate(batch, pad_id, "cpu")).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bare.params, max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)


def throughput(tm, cfg, task, rounds: int, per_round: int) -> dict:
    import numpy as np

    from transduction.pipeline import make_ttt_data, tokenize_data
    from transduction.train import fit, length_batches, reset_lora

    examples = tokenize_data(make_ttt_data(task, tm.tokenizer, cfg), tm.tokenizer, cfg)[:per_round]
    base_copy = copy.deepcopy(tm.model.get_base_model())
    # the copy still contains peft's LoRA wrappers: strip them by merging nothing, use the base layers
    from peft.tuners.lora import LoraLayer
    for name, mod in list(base_copy.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, LoraLayer):
                setattr(mod, child_name, child.get_base_layer())
    bare = BareLoRA(base_copy, set(cfg.lora.target_modules), cfg.lora.rank, cfg.lora.alpha, seed=0)
    train_cfg = cfg.train.__class__(**{**cfg.train.__dict__, "epochs": 1})
    n_tokens = sum(len(e) for e in examples)
    ours, theirs = [], []
    for r in range(rounds):
        reset_lora(tm.model, r)
        t = time.perf_counter()
        fit(tm.model, examples, train_cfg, seed=r, pad_id=tm.pad_id)
        ours.append(n_tokens / (time.perf_counter() - t))
        order = length_batches([len(e) for e in examples], train_cfg.batch_size, np.random.default_rng(r))
        batches = [[examples[i] for i in b] for b in order]
        t = time.perf_counter()
        bare_fit(bare, batches, cfg.train.lr, cfg.train.weight_decay, cfg.train.warmup_fraction,
                 cfg.train.max_grad_norm, tm.pad_id)
        theirs.append(n_tokens / (time.perf_counter() - t))
    return {"task": task.id, "examples": len(examples), "tokens": n_tokens, "ours": ours, "bare": theirs,
            "ratio": statistics.median(ours) / statistics.median(theirs)}


def solved(candidates, solutions) -> bool:
    return all(any(c.grid == sol for c in candidates.get(i, [])[:2]) for i, sol in enumerate(solutions))


def accuracy(tm, cfg, dataset, task_ids) -> list[dict]:
    from transduction.config import replace
    from transduction.pipeline import InferenceEngine, transduce_task

    rows = []
    with tempfile.TemporaryDirectory() as wd:
        for tid in task_ids:
            task = dataset.tasks[tid]
            row = {"task": tid, "demos": len(task.train)}
            for label, c in (("base", replace(cfg, train={"mode": "none"})), ("ttt", cfg)):
                t = time.perf_counter()
                res = transduce_task(task, tm, InferenceEngine.on_model(tm, c), c, wd)
                row[label] = solved(res.candidates, dataset.solutions[tid])
                row[label + "_s"] = time.perf_counter() - t
                if res.train is not None:
                    row.update(examples=res.train.n_examples, train_s=res.train.seconds,
                               tok_s=res.train.tokens_per_second, final_loss=res.train.losses[-1])
                row[label + "_ok"] = sum(p.grid is not None for p in res.predictions)
                row[label + "_n"] = len(res.predictions)
            print(row, flush=True)
            rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (other engineers share the cores)")
    ap.add_argument("--tasks", default=DEFAULT_TASKS, help="comma-separated ARC-AGI-1 training task ids")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved throughput rounds")
    ap.add_argument("--per-round", type=int, default=12, help="examples per throughput round")
    ap.add_argument("--skip-accuracy", action="store_true", help="throughput only")
    ap.add_argument("--out", default=str(ROOT / "bench/results/ttt_cpu.md"), help="results file")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from arc_core.datasets import load_dataset
    from arc_lm.models import load_hf_model
    from transduction.config import preset
    from transduction.pipeline import TransductionModel

    load_start = os.getloadavg()
    info = machine()
    cfg = preset("cpu-small")
    base, tok = load_hf_model(cfg.model, device="cpu", dtype="float32")
    tm = TransductionModel.wrap(base, tok, cfg)
    ds = load_dataset("arc1/training")
    ids = [t.strip() for t in args.tasks.split(",") if t.strip()]
    tp = throughput(tm, cfg, ds.tasks[ids[0]], args.rounds, args.per_round)
    print("throughput", tp, flush=True)
    rows = [] if args.skip_accuracy else accuracy(tm, cfg, ds, ids)
    load_end = os.getloadavg()

    lines = ["# TTT on CPU (embedded SmolLM2-135M, preset cpu-small)", "",
             f"- machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
             f"torch threads {args.threads}, python {info['python']}",
             f"- loadavg start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
             f"end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f} (other engineers share the machine)",
             f"- preset: lora r={cfg.lora.rank} alpha={cfg.lora.alpha} targets={','.join(cfg.lora.target_modules)}, "
             f"lr {cfg.train.lr}, {cfg.train.epochs} epochs, batch {cfg.train.batch_size}, "
             f"{cfg.data.max_examples} pseudo-tasks, format {cfg.data.format}", "",
             "## Training throughput (interleaved rounds, same batches)", "",
             f"task {tp['task']}: {tp['examples']} examples, {tp['tokens']} tokens per round", "",
             "| round | transduction.fit tok/s | bare LoRA loop tok/s |", "|---|---|---|"]
    lines += [f"| {i} | {a:.1f} | {b:.1f} |" for i, (a, b) in enumerate(zip(tp["ours"], tp["bare"]))]
    lines += ["", f"median: fit {statistics.median(tp['ours']):.1f} tok/s, bare {statistics.median(tp['bare']):.1f} "
              f"tok/s, **ratio {tp['ratio']:.3f}**", ""]
    if rows:
        lines += ["## Accuracy, pass@2 (task ids chosen by demo/test-input size <= 6x6)", "",
                  "| task | demos | no TTT | no-TTT s | parsed | TTT | TTT s (train s) | pseudo-tasks | train tok/s | final loss | parsed |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['task']} | {r['demos']} | {'solved' if r['base'] else 'no'} | {r['base_s']:.0f} | "
                         f"{r['base_ok']}/{r['base_n']} | {'solved' if r['ttt'] else 'no'} | {r['ttt_s']:.0f} "
                         f"({r.get('train_s', 0):.0f}) | {r.get('examples', 0)} | {r.get('tok_s', 0):.0f} | "
                         f"{r.get('final_loss', float('nan')):.3f} | {r['ttt_ok']}/{r['ttt_n']} |")
        lines += ["", f"solved: no TTT {sum(r['base'] for r in rows)}/{len(rows)}, "
                  f"TTT {sum(r['ttt'] for r in rows)}/{len(rows)}", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
