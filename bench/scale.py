"""Benchmark: `arc-hybrid run --ray` scaling on this machine, against the local (in-process) runner.

Three workloads, each run several ways as fresh `arc-hybrid run` processes (wall clock of the
whole command: start-up, model loads, every stage, outputs):
- TTT: transduction only, 8 small arc1/training tasks (all grids 3x3), the embedded SmolLM2-135M,
  a light setting derived from the `cpu-demo` transduction settings (3 pseudo-tasks instead of 24,
  one inference transform instead of 3, 24 new tokens), about 7 minutes a repetition;
- sandbox: induction only, an import (`--programs`) of 2,000 generated response texts over the
  same 8 tasks (250 each, from bench/induction.py's generator: noise, wrappers, ~10% broken), each
  made a distinct program (an unused `variant = k` line), so the sandbox runs every one of them
  (extraction, dedupe, then sandbox verification of 1,782 programs);
- sampling: induction only, 4 samples of <= 96 tokens per task from the embedded model: on Ray a
  sampler actor samples and a 1-CPU induction actor verifies (2 CPUs hold one of each, so only
  local vs Ray is measured: the overhead and identical answers of the split).

Ways: local runner (1 torch thread; sandbox concurrency 1); two local runs at once, each on half
the tasks (no Ray: what this machine gives two independent processes, the ceiling for two workers);
Ray with 1 worker, Ray with 2 workers (1 thread each, a local 2-CPU cluster). Every way runs
`--repeats` times, interleaved; medians are reported. Speed-up = Ray 1 worker / Ray 2 workers (goal
>= 1.7x) and Ray overhead = Ray 1 worker / local - 1 (goal <= 10%); submissions compared.
Run: `flock /tmp/arc-cpu.lock .venv/bin/python bench/scale.py` -> bench/results/scale.md.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("6150a2bd", "5582e5ca", "d037b0a7", "0d3d703e", "25d8a9c8", "25ff71a9", "3c9b0459", "74dd1130")
# min_steps=0: cpu-small now trains at least 96 steps (about 210 s a task here); the light workload
# keeps its 6 steps (3 pseudo-tasks x 2 epochs), as when this bench was first run.
TTT_SETS = ["transduction.data.max_examples=3", "transduction.train.min_steps=0",
            "transduction.infer.transforms=[\"identity\"]", "transduction.infer.max_new_tokens=24", "torch_threads=1",
            "ray.threads_per_worker=1"]
SANDBOX_SETS = ["induction.n_samples=0", "sandbox.concurrency=1", "torch_threads=1"]
SAMPLING_SETS = ["induction.n_samples=4", "induction.max_new_tokens=96", "sandbox.concurrency=1", "torch_threads=1",
                 "ray.threads_per_worker=1"]
# ray-1/ray-2 join a 2-CPU cluster started once by this script (as a user keeps one running);
# ray-1-cold starts its own cluster inside the run (`--ray` without an address), to show that cost.
WAYS = {"ttt": ("local", "local-2", "ray-1", "ray-2"), "sandbox": ("local", "local-2", "ray-1", "ray-2", "ray-1-cold"),
        "sampling": ("local", "ray-1")}
WORKERS_KEY = {"ttt": "ray.model_workers", "sandbox": "ray.sandbox_workers", "sampling": "ray.model_workers"}
SETS = {"ttt": ["--no-induction", *TTT_SETS], "sampling": ["--no-transduction", *SAMPLING_SETS]}


def _distinct(text: str, k: int) -> str:
    """`text` with an unused assignment `variant = k` opening its `transform`: a program of its own
    after de-duplication (the normal form keeps it), so the sandbox runs every one of them."""
    return re.sub(r"(def transform\([^)]*\):)(\r?\n)", lambda m: f"{m[1]}{m[2]}    variant = {k}{m[2]}", text, count=1)


def _programs_file(path: Path, total: int) -> int:
    """`total` response texts over TASKS, every extractable one a distinct program; returns how many
    programs the run's extraction will hand to the sandbox (`induction.extract.extract_program`, which
    bench/induction.py imports: run as a script, `induction` here would name that file)."""
    mod = _bench_induction()
    per, distinct = total // len(TASKS), 0
    with open(path, "w") as f:
        for k, tid in enumerate(TASKS):
            texts = [_distinct(t, i) for i, t in enumerate(mod.generate_texts(per, seed=k))]
            distinct += sum(mod.extract_program(t).ok for t in texts)
            f.write(json.dumps({"task_id": tid, "responses": texts}) + "\n")
    return distinct


def _command(workload: str, way: str, extra: list[str], out: Path, tasks: Sequence[str], address: str) -> list[str]:
    cmd = [str(ROOT / ".venv" / "bin" / "arc-hybrid"), "run", "--preset", "cpu-small", "--dataset", "arc1/training",
           "--tasks", ",".join(tasks), "--out", str(out), *extra]
    if way.startswith("ray"):
        cmd += ["--ray", *(["--set", "ray.num_cpus=2"] if way.endswith("cold") else [address]),
                "--set", f"{WORKERS_KEY[workload]}={way.split('-')[1]}"]
    return cmd


@functools.cache
def _halves() -> tuple[list[str], list[str]]:
    """TASKS in two parts of about equal size (largest first, each to the lighter part): what two
    independent processes would each take."""
    from arc_core.datasets import load_dataset

    ds = load_dataset("arc1/training")
    parts: tuple[list[str], list[str]] = ([], [])
    size = [0, 0]
    for tid in sorted(TASKS, key=lambda t: -ds.tasks[t].cells):
        k = size.index(min(size))
        parts[k].append(tid)
        size[k] += ds.tasks[tid].cells
    return parts


def _run(workload: str, way: str, extra: list[str], out: Path, address: str) -> tuple[float, float, str | None, dict]:
    """One way's run(s): (wall s, stage s summed, submission bytes digest or None, submission content).
    `local-2` is two local runs at once, one per half of the tasks (no Ray): the machine's own ceiling."""
    stages = ("train", "infer") if workload == "ttt" else ("induction",)
    parts = _halves() if way == "local-2" else (list(TASKS),)
    outs = [out / str(k) for k in range(len(parts))] if len(parts) > 1 else [out]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs = []
    for tasks, o in zip(parts, outs):
        o.parent.mkdir(parents=True, exist_ok=True)
        log = open(o.with_suffix(".log"), "w")
        procs.append((subprocess.Popen(_command(workload, way, extra, o, tasks, address), cwd=ROOT, stdout=log,
                                       stderr=subprocess.STDOUT, env=env), log))
    for proc, log in procs:
        rc = proc.wait()
        log.close()
        if rc != 0:
            raise SystemExit(f"{workload}/{way} failed ({rc}); see {log.name}")
    wall = time.perf_counter() - t0
    content: dict = {}
    for o in outs:
        content.update(json.loads((o / "submission.json").read_text()))
    digest = _digest(out / "submission.json") if len(outs) == 1 else None
    return wall, sum(_stage_seconds(o, s) for o in outs for s in stages), digest, content


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _stage_seconds(run_dir: Path, stage: str) -> float:
    import sqlite3

    con = sqlite3.connect(run_dir / "run.sqlite")
    total = con.execute("SELECT COALESCE(SUM(seconds), 0) FROM stages WHERE stage = ?", (stage,)).fetchone()[0]
    con.close()
    return float(total)


def _bench_induction():
    """bench/induction.py as a module (its name would clash with the `induction` package)."""
    spec = importlib.util.spec_from_file_location("bench_induction", ROOT / "bench" / "induction.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _machine() -> str:
    import ray

    return f"{_bench_induction().machine()}; ray {ray.__version__}; no GPU (none lent to this session)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="sandbox,ttt", help="comma-separated: ttt, sandbox, sampling")
    ap.add_argument("--programs", type=int, default=2000, help="texts in the sandbox workload")
    ap.add_argument("--repeats", type=int, default=3, help="runs of every way (interleaved); medians are reported")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.md", help="results file")
    args = ap.parse_args()
    load0, t_start = Path("/proc/loadavg").read_text().split()[:3], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    import ray

    address = ray.init(num_cpus=2, include_dashboard=False, logging_level="warning").address_info["gcs_address"]
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        tmpd = Path(tmp)
        progs = tmpd / "programs.jsonl"
        n_distinct = _programs_file(progs, args.programs)
        for workload in args.workloads.split(","):
            if workload == "sandbox":
                extra = ["--no-transduction", "--programs", str(progs), *sum((["--set", s] for s in SANDBOX_SETS), [])]
            else:
                flags, sets = SETS[workload][:1], SETS[workload][1:]
                extra = [*flags, *sum((["--set", s] for s in sets), [])]
            walls: dict[str, list[float]] = {w: [] for w in WAYS[workload]}
            busy: dict[str, list[float]] = {w: [] for w in WAYS[workload]}
            digests, contents = set(), []
            for rep in range(args.repeats):  # interleaved, so a slow spell of the machine hits every way
                for way in WAYS[workload]:
                    out = tmpd / f"{workload}-{way}-{rep}"
                    wall, stage_s, digest, content = _run(workload, way, extra, out, address)
                    walls[way].append(wall)
                    busy[way].append(stage_s)
                    digests |= {digest} - {None}
                    contents.append(content)
                    print(f"{workload} {way} #{rep + 1}: {wall:.1f}s wall, stages {stage_s:.1f}s, "
                          f"submission {digest or 'two halves'}", flush=True)
            same = len(digests) == 1 and all(c == contents[0] for c in contents)
            load1 = Path("/proc/loadavg").read_text().split()[:3]  # each workload is written when done
            _write(args.out, t_start, load0, load1, workload, walls, busy, same, args.programs, n_distinct)
    ray.shutdown()


def _write(path: Path, when: str, load0: list[str], load1: list[str], workload: str, walls: dict[str, list[float]],
           busy: dict[str, list[float]], same: bool, n_programs: int, n_distinct: int) -> None:
    med = {k: statistics.median(v) for k, v in walls.items()}
    stage = {k: statistics.median(v) for k, v in busy.items()}
    reps = len(next(iter(walls.values())))
    lines = [f"## scale bench, {when}: {workload}", "",
             f"- machine: {_machine()}",
             f"- load average (1/5/15 min) at start {'/'.join(load0)}, at end {'/'.join(load1)} "
             "(this bench alone on the machine, under the CPU lock; an idle machine here reads about 1.0)",
             f"- tasks: {', '.join(TASKS)} (arc1/training, every grid 3x3)"]
    if workload == "ttt":
        lines.append(f"- ttt: `--preset cpu-small --no-induction` + {' '.join('--set ' + s for s in TTT_SETS)} "
                     "(light: cpu-small's transduction settings with 3 pseudo-tasks x 2 epochs = 6 steps, 1 transform, "
                     "24 new tokens)")
    elif workload == "sandbox":
        lines.append(f"- sandbox: `--preset cpu-small --no-transduction --programs` ({n_programs} texts, "
                     f"{n_programs // len(TASKS)} per task, {n_distinct} of them distinct programs that extract, "
                     f"the rest broken) + {' '.join('--set ' + s for s in SANDBOX_SETS)}")
    else:
        lines.append(f"- sampling: `--preset cpu-small --no-transduction` + {' '.join('--set ' + s for s in SAMPLING_SETS)} "
                     "(Ray: one sampler actor + one 1-CPU induction actor)")
    lines += ["- ways: local runner; 2 local: two local runs at once, each on half the tasks (no Ray: what the "
              "machine gives two independent processes); `--ray ADDRESS` joining a 2-CPU cluster started once by "
              "the script, 1 or 2 workers (1 thread each); ray-1-cold: `--ray` starting its own cluster in the run",
              f"- {reps} runs of every way, interleaved; medians (s); wall = the whole `arc-hybrid run` command; "
              "stage s = per-task stage seconds summed from the store", "",
              "| way | wall s (median) | walls of the runs | stage s (median) |", "|---|---:|---|---:|"]
    for way in walls:
        lines.append(f"| {way} | {med[way]:.1f} | {' / '.join(f'{w:.1f}' for w in walls[way])} | {stage[way]:.1f} |")
    lines.append("")
    if "ray-2" in med:
        lines.append(f"- **speed-up, Ray 1 -> 2 workers: {med['ray-1'] / med['ray-2']:.2f}x** (goal >= 1.7x); "
                     f"per run: {', '.join(f'{a / b:.2f}x' for a, b in zip(walls['ray-1'], walls['ray-2']))}")
    if "local-2" in med:
        lines.append(f"- machine ceiling, one local run -> two at once on half the tasks each: "
                     f"{med['local'] / med['local-2']:.2f}x; stage seconds with both cores busy vs one: "
                     f"{stage['local-2'] / stage['local']:.2f}x")
    lines.append(f"- **Ray overhead, 1 worker vs local: {100 * (med['ray-1'] / med['local'] - 1):+.1f}%** (goal <= 10%)")
    if "ray-1-cold" in med:
        lines.append(f"- ray-1 starting its own cluster vs local: {100 * (med['ray-1-cold'] / med['local'] - 1):+.1f}%")
    lines.append(f"- submissions: {'identical in every run of every way' if same else 'DIFFERENT'} "
                 "(Ray runs byte for byte; the two halves of 2 local, merged, by content)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
