"""Render `arc-hybrid plan --json` output as bench/results/plan_*.md, and check issue 21's promise.

The plan itself is computed by the CLI (no weights, the real Llama-3 tokenizer for the paper presets):
  flock -s /tmp/arc-cpu.lock .venv/bin/arc-hybrid plan --preset paper-8b --dataset arc1/evaluation --json > P.json
  .venv/bin/python bench/plan_report.py P.json --dataset arc1/evaluation --timing "start ... end ..." \
      --out bench/results/plan_paper8b_arc1eval.md
The report: totals and the heaviest tasks (`format_plan`), peak GPU memory (`format_memory`), a table
by number of demonstrations, answer budgets and context, and the check: every task has a prompt for
every test input and an answer budget of a full 30x30 answer (`answer_bound`). Exit status 1 when a
task falls short (the report then lists them), so the script doubles as the check.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transduction.plan import format_plan, plan_bound  # noqa: E402
from transduction.plan_memory import format_memory  # noqa: E402

A100_TFLOPS = 312.0  # dense bf16, for the comparison with the paper's A100 hours


def short_tasks(plan: dict) -> list[str]:
    """Tasks whose smallest answer budget is under a full 30x30 answer, or with a test input unanswered."""
    return sorted(t for t, r in plan["tasks"].items()
                  if r["unanswerable_tests"] or r["queries"] == 0 or r["answer_budget"] < r["answer_bound"])


def by_k(plan: dict) -> list[str]:
    groups: dict[str, list[dict]] = {}
    for r in plan["tasks"].values():
        groups.setdefault(str(r["demos"]) if r["demos"] < 7 else "7+", []).append(r)
    lines = ["| K | tasks | mean examples | mean leave-one-out | mean leave-two-out | mean train tokens (all epochs) "
             "| mean queries | tasks with drops | tasks with fewer demonstrations |", "|---|---|---|---|---|---|---|---|---|"]
    for k in sorted(groups, key=lambda s: (len(s), s)):
        rs = groups[k]
        n = len(rs)
        mean = lambda key: sum(r[key] for r in rs) / n  # noqa: E731
        lines.append(f"| {k} | {n} | {mean('ttt_examples'):.0f} | {mean('leave_one_out'):.0f} | {mean('leave_two_out'):.0f} "
                     f"| {mean('train_tokens'):,.0f} | {mean('queries'):.1f} | {sum(1 for r in rs if r['dropped'])} "
                     f"| {sum(1 for r in rs if r['fewer_demos'])} |")
    return lines


def render(plan: dict, dataset: str, timing: str, machine: str) -> str:
    t = plan["totals"]
    tasks = plan["tasks"]
    bound = plan_bound(plan)
    short = short_tasks(plan)
    fewer = {tid: r["fewer_demos"] for tid, r in tasks.items() if r["fewer_demos"]}
    one_demo = sorted(tid for tid, f in fewer.items() if 1 in f.values())
    untrained = sorted(tid for tid, r in tasks.items() if r["ttt_examples"] == 0)
    a100_hours = (t["train_flops"] + t["infer_flops"]) / (t["mfu"] * A100_TFLOPS * 1e12) / 3600
    lines = [
        f"# `plan` for {t['preset']} on {dataset} ({t['tasks']} tasks)", "",
        f"Command: `arc-hybrid plan --preset {t['preset']} --dataset {dataset} --json`, rendered by "
        f"`bench/plan_report.py` (defaults: {t['hardware']}, {t['peak_tflops']:.0f} TFLOP/s dense bf16 peak, MFU "
        f"{t['mfu']}). No weights loaded; tokenizer: {t['tokenizer']}.", "",
        f"Machine: {machine}.", "", "```", timing.strip(), "```", "",
        "## Check: every task answerable with a full 30x30 answer", "",
        f"- A worst-case 30x30 answer in this format is {bound} tokens (with the end of turn); the smallest "
        f"answer budget of any query of any task is {t['min_answer_budget']}; tasks with a test input no prompt "
        f"fits: {len(t['tasks_without_prompt'])}.",
        f"- Tasks short of a full 30x30 budget or without a prompt: **{len(short)}**"
        + (f" ({' '.join(short)})" if short else "") + f" of {t['tasks']}.",
        f"- Tasks answered with fewer demonstrations than leave-one-out shows (after a recorded drop): "
        f"{len(fewer)}; down to a single demonstration: {len(one_demo)} ({' '.join(one_demo) or 'none'}).",
        f"- Largest prompt + budget: {max(r['max_prompt_plus_budget'] for r in tasks.values())} "
        f"(context {t['context']}).",
        f"- Tasks with no TTT example (every pseudo-task over data.max_tokens, as marc's filter drops them; "
        f"answered by the model without an adapter): {len(untrained)} ({' '.join(untrained) or 'none'}).", "",
        "## Totals", "", "```", format_plan(plan), "```", "",
    ]
    if "memory" in plan:
        lines += ["## Peak GPU memory", "", "```", format_memory(plan["memory"]), "```", ""]
    lines += ["## By number of demonstrations K", "", *by_k(plan), "",
              "## Compute against the paper (TTT_METHOD §6.4)", "",
              f"- Estimate: {t['train_flops'] + t['infer_flops']:.3e} FLOPs = {t['gpu_hours']:.1f} {t['hardware']}-hours "
              f"at MFU {t['mfu']}; the same FLOPs on an A100 ({A100_TFLOPS:.0f} TFLOP/s dense bf16) at that MFU = "
              f"{a100_hours:.0f} A100-hours ({a100_hours / t['tasks'] * 60:.1f} min per task).",
              "- Paper (ARC-AGI-1 evaluation, 8B): TTT + augmented inference about 12 h per 100 tasks on one A100 "
              "(7.2 min per task). Training dominates the estimate; 6N (8N with gradient checkpointing) per "
              "training token is an upper bound for LoRA, and the paper's MFU is unknown.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan", help="the JSON `arc-hybrid plan --json` printed")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--timing", default="", help="start/end lines of the plan run (with load)")
    ap.add_argument("--machine", default="2-core AMD EPYC shared with other engineers, plan run under the shared CPU lock")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    plan = json.loads(Path(args.plan).read_text())
    Path(args.out).write_text(render(plan, args.dataset, args.timing, args.machine))
    short = short_tasks(plan)
    print(f"{args.out}: {plan['totals']['tasks']} tasks, {len(short)} short of a full 30x30 budget {' '.join(short)}")
    return 1 if short else 0


if __name__ == "__main__":
    raise SystemExit(main())
