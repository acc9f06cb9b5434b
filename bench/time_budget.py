"""Benchmark: runs under a wall-clock budget (`arc-hybrid run --time-budget`) on this CPU.

8 small ARC-AGI-1 training tasks (all grids 3x3, as bench/scale.py), transduction only, the embedded
SmolLM2-135M with the `cpu-small` recipe (TTT of at least 96 optimiser steps a task), 2 torch
threads. One run without a budget (what the full work takes and solves), then one run per budget
(default 2, 4 and 8 minutes), each a fresh `arc-hybrid run` process into a fresh directory. Per run:
wall time of the whole command, whether it ended inside its budget, tasks fully done (train and infer
as planned), tasks reduced (a stage scaled down or cut short), tasks unreached (a stage never
started), tasks with a stage that failed, and tasks solved (pass@2, strict). Everything but the wall
time is read from the run store (`RunStore`, meta "budget"), never from the log.
Run alone: `flock -x /tmp/arc-cpu.lock .venv/bin/python bench/time_budget.py` -> bench/results/time_budget.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TASKS = ("6150a2bd", "5582e5ca", "d037b0a7", "0d3d703e", "25d8a9c8", "25ff71a9", "3c9b0459", "74dd1130")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def one_run(out: Path, budget: float | None, threads: int) -> dict:
    """One `arc-hybrid run` into `out`: wall time and what its store says."""
    cmd = [sys.executable, "-m", "ensemble.cli", "run", "--preset", "cpu-small", "--dataset", "arc1/training",
           "--tasks", ",".join(TASKS), "--out", str(out), "--no-induction", "--set", f"torch_threads={threads}"]
    if budget is not None:
        cmd += ["--time-budget", f"{budget:g}"]
    load0 = loadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {"budget": budget, "wall": wall, "load": f"{load0} -> {loadavg()}", **read_store(out)}


def read_store(out: Path) -> dict:
    from ensemble.store import RunStore

    with RunStore(out, create=False) as s:
        cuts = (s.get_meta("budget") or {}).get("cuts") or {}
        done = reduced = unreached = failed = 0
        for t in TASKS:
            statuses = {st: s.stage_status(t, st) for st in ("train", "infer")}
            stage_cuts = [line for st in ("train", "infer")
                          for line in ((s.result(t, st) or {}).get("budget") or {}).get("cut", [])]
            if any(v is not None and v.value == "failed" for v in statuses.values()):
                failed += 1
            elif any(v is None or v.value != "done" for v in statuses.values()):
                unreached += 1
            elif stage_cuts or cuts.get(t):
                reduced += 1
            else:
                done += 1
        scores = json.loads((out / "scores.json").read_text())
    return {"done": done, "reduced": reduced, "unreached": unreached, "failed": failed,
            "solved": scores["strict_solved"], "kaggle": scores["kaggle_score"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="120,240,480", help="budgets in seconds, comma-separated")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--no-reference", action="store_true", help="skip the run without a budget")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "time_budget.md"), help="results file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="time-budget-"))
    rows = []
    plan = ([] if args.no_reference else [None]) + [float(b) for b in args.budgets.split(",")]
    for k, budget in enumerate(plan):
        row = one_run(work / f"run{k}", budget, args.threads)
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["# Runs under a time budget (`arc-hybrid run --time-budget`)", "",
             f"Machine: {cpu_name()}, {len(__import__('os').sched_getaffinity(0))} cores; "
             f"{args.threads} torch threads; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Tasks: {len(TASKS)} small ARC-AGI-1 training tasks ({', '.join(TASKS)}), transduction only, "
             "preset cpu-small (SmolLM2-135M, TTT >= 96 steps a task), one fresh process per run, in this order.",
             "Wall = the whole command (start-up, tokenizer, planning, model load, stages, outputs). "
             "Done = train and infer as planned; reduced = a stage scaled down or cut short by the budget; "
             "unreached = a stage never started; solved = pass@2 strict (of 8).", "",
             "| budget | wall s | inside budget | done | reduced | unreached | failed | solved | Kaggle score | load (1-min avg, start -> end) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        b = "none" if r["budget"] is None else f"{r['budget']:.0f} s"
        inside = "-" if r["budget"] is None else ("yes" if r["wall"] <= r["budget"] else f"no (+{r['wall'] - r['budget']:.1f} s)")
        lines.append(f"| {b} | {r['wall']:.1f} | {inside} | {r['done']} | {r['reduced']} | {r['unreached']} | "
                     f"{r['failed']} | {r['solved']} | {r['kaggle']:g} | {r['load']} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
