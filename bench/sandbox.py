"""Sandbox throughput: programs/s and CPU ms per program, three ways, in one run.

  fork      fork-per-program with every layer (bwrap when it works, the zygote's empty root and
            uid drop, rlimits, Landlock, seccomp) - the mode whose results count;
  fast      the reused-worker pre-filter pass (`accept` rejects everything, so no accepted result is
            re-run; failures that followed another program in their worker still are, as always);
  subproc   baseline: one fresh `python` per program (imports numpy each time).
Each program runs on the same 4 random 10x10 grids; every source is distinct (no dedupe).
Two realistic mixes run in fork mode on the compatibility corpora's 5 ARC-like grids
(tests/sandbox/corpora): the numpy/stdlib/scipy programs (each in its lane), and BARC-style
`from common import *` programs with a helper library that uses scipy.ndimage.
CPU = our whole process tree (orchestrator + bwrap + zygote + children, from /proc), so
"2-core capacity" = 2000 / CPU ms is what two idle cores would sustain. Medians of REPEATS runs.
Writes bench/results/sandbox.md. Run: .venv/bin/python bench/sandbox.py [--quick]. For a before/after
comparison in one sitting, run this same script from a checkout of the old code with
`--json before.json`, then here with `--before before.json` (rows are matched by label).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from arc_core.grid import Grid  # noqa: E402
from sandbox import ProgramJob, Sandbox, SandboxConfig  # noqa: E402

TRIVIAL = "import numpy as np\ndef transform(grid):\n    k = {i}\n    return np.flipud(grid)\n"
MEDIUM = '''from collections import deque
import numpy as np
def transform(grid):
    k = {i}
    h, w = grid.shape
    out = np.zeros_like(grid)
    seen = np.zeros((h, w), dtype=bool)
    for r in range(h):
        for c in range(w):
            if grid[r, c] and not seen[r, c]:
                comp, q = [], deque([(r, c)])
                seen[r, c] = True
                while q:
                    y, x = q.popleft()
                    comp.append((y, x))
                    for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        if 0 <= ny < h and 0 <= nx < w and grid[ny, nx] == grid[r, c] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            q.append((ny, nx))
                for y, x in comp:
                    out[y, x] = min(len(comp), 9)
    return out
'''
SUBPROC_RUNNER = ("import json, sys, numpy as np\nsrc, grids = json.loads(sys.stdin.read())\nns = {}\n"
                  "exec(src, ns)\nprint(json.dumps([np.asarray(ns['transform'](np.array(g))).tolist() for g in grids]))\n")
FORK_FLOOR = ("import os, resource, time, numpy, collections, json, random, re\nimport gc\ngc.collect(); gc.freeze()\n"
              "n = int(os.environ['N'])\nt0 = time.perf_counter()\nfor _ in range(n):\n    pid = os.fork()\n"
              "    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\ndt = time.perf_counter() - t0\n"
              "print(n / dt)\n")
TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root: int) -> float:
    """utime+stime (+ reaped children's) of every live descendant of `root`, in seconds."""
    kids: dict[int, list[tuple[int, list[str]]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            kids.setdefault(int(fields[1]), []).append((int(entry), fields))
    total, stack = 0, [root]
    while stack:
        for pid, fields in kids.get(stack.pop(), []):
            total += sum(int(x) for x in fields[11:15])
            stack.append(pid)
    return total / TCK


CORPORA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "sandbox", "corpora")


def make_jobs(template: str | list[str], n: int, grids: tuple[Grid, ...], offset: int) -> list[ProgramJob]:
    """n jobs with distinct sources: `template` with {i} filled in, or a list of programs cycled
    with a distinguishing comment appended."""
    if isinstance(template, str):
        return [ProgramJob(f"p{offset + i}", template.replace("{i}", str(offset + i)), grids) for i in range(n)]
    return [ProgramJob(f"p{offset + i}", f"{template[i % len(template)]}\n# variant {offset + i}\n", grids)
            for i in range(n)]


def corpus(name: str) -> tuple[list[str], tuple[Grid, ...], str | None]:
    """(program sources, grids, prelude path) of one compatibility corpus."""
    d = os.path.join(CORPORA, name)
    programs = [open(os.path.join(d, "programs", f)).read() for f in sorted(os.listdir(os.path.join(d, "programs")))
                if f.endswith(".py")]
    with open(os.path.join(d, "inputs.json")) as f:
        grids = tuple(Grid.parse(g) for g in json.load(f))
    prelude = os.path.join(d, "prelude.py")
    return programs, grids, prelude if os.path.exists(prelude) else None


def bench_sandbox(mode: str, template: str | list[str], n: int, grids, repeats: int, bwrap: str,
                  prelude: str | None = None) -> dict:
    rates, cpus, bad = [], [], 0
    with Sandbox(SandboxConfig(mode=mode, bwrap=bwrap, timeout_s=5.0, prelude_path=prelude)) as sb:
        sb.run(make_jobs(template, 60, grids, 10**6), accept=lambda j, r: False)  # warm-up (starts every lane used)
        for rep in range(repeats):
            jobs = make_jobs(template, n, grids, rep * n)
            c0, s0, t0 = tree_cpu_s(os.getpid()), time.process_time(), time.perf_counter()
            res = sb.run(jobs, accept=lambda j, r: False)
            dt = time.perf_counter() - t0
            cpu = tree_cpu_s(os.getpid()) - c0 + time.process_time() - s0
            bad += sum(not r.ok for r in res)
            rates.append(n / dt)
            cpus.append(cpu / n * 1000)
        layers = {"bwrap": sb.bwrap_active, "landlock_abi": sb.hello.get("landlock_abi"),
                  "zygote_uid": sb.hello.get("uid"), "empty_root": sb.hello.get("empty_root_active")}
    return {"rate": statistics.median(rates), "cpu_ms": statistics.median(cpus), "failed": bad, "layers": layers}


def bench_subprocess(template: str, n: int, grids, repeats: int) -> dict:
    rates, cpus = [], []
    payload_grids = [g.to_list() for g in grids]
    for rep in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s0, t0 = time.process_time(), time.perf_counter()
        for i in range(n):
            src = template.replace("{i}", str(rep * n + i))
            out = subprocess.run([sys.executable, "-c", SUBPROC_RUNNER], input=json.dumps([src, payload_grids]),
                                 capture_output=True, text=True, check=True, env={"OPENBLAS_NUM_THREADS": "1"})
            assert len(json.loads(out.stdout)) == len(grids)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) + time.process_time() - s0
        rates.append(n / dt)
        cpus.append(cpu / n * 1000)
    return {"rate": statistics.median(rates), "cpu_ms": statistics.median(cpus), "failed": 0, "layers": {}}


def bench_fork_floor(n: int, repeats: int) -> dict:
    """Reference floor: bare fork + _exit + wait of a numpy-loaded Python (no layers, no program)."""
    rates, cpus = [], []
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", FORK_FLOOR], capture_output=True, text=True, check=True,
                             env={"N": str(n), "OPENBLAS_NUM_THREADS": "1"})
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rates.append(float(out.stdout))
        cpus.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / n * 1000)
    return {"rate": statistics.median(rates), "cpu_ms": statistics.median(cpus), "failed": 0, "layers": {}}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    try:
        torch = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch = "not installed"
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, kernel {platform.release()}, "
            f"numpy {np.__version__}, torch {torch}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (smoke run, ~30 s; = --scale 0.1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every program count (shorter runs)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration (median reported)")
    parser.add_argument("--bwrap", choices=("auto", "on", "off"), default="auto", help="outer layer for fork mode")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "sandbox.md"),
                        help="markdown file to write")
    parser.add_argument("--json", help="also write the measured rows to this JSON file (to compare with later)")
    parser.add_argument("--before", help="JSON rows of an earlier run (--json) to compare with, row by row")
    args = parser.parse_args()
    if not 0 < args.scale <= 10:
        parser.error(f"--scale must be in (0, 10], got {args.scale}")
    scale = 0.1 if args.quick else args.scale
    rng = np.random.default_rng(0)
    grids = tuple(Grid.from_array(rng.integers(0, 10, (10, 10))) for _ in range(4))
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mix, mix_grids, _ = corpus("numpy_stdlib")
    barc, barc_grids, barc_prelude = corpus("barc_style")
    rows = []
    for label, fn in [
        ("fork, all layers, trivial", lambda: bench_sandbox("fork", TRIVIAL, int(1000 * scale), grids, args.repeats, args.bwrap)),
        ("fork, all layers, medium (BFS)", lambda: bench_sandbox("fork", MEDIUM, int(400 * scale), grids, args.repeats, args.bwrap)),
        ("fork, all layers, realistic mix (numpy/stdlib/scipy corpus)",
         lambda: bench_sandbox("fork", mix, int(500 * scale), mix_grids, args.repeats, args.bwrap)),
        ("fork, all layers, BARC-style (scipy prelude)",
         lambda: bench_sandbox("fork", barc, int(300 * scale), barc_grids, args.repeats, args.bwrap, barc_prelude)),
        ("fast pre-filter pass, trivial", lambda: bench_sandbox("fast", TRIVIAL, int(2000 * scale), grids, args.repeats, args.bwrap)),
        ("fast pre-filter pass, medium", lambda: bench_sandbox("fast", MEDIUM, int(800 * scale), grids, args.repeats, args.bwrap)),
        ("fast pre-filter pass, realistic mix",
         lambda: bench_sandbox("fast", mix, int(1000 * scale), mix_grids, args.repeats, args.bwrap)),
        ("fast pre-filter pass, BARC-style (scipy prelude)",
         lambda: bench_sandbox("fast", barc, int(600 * scale), barc_grids, args.repeats, args.bwrap, barc_prelude)),
        ("floor: bare fork+exit of numpy python", lambda: bench_fork_floor(int(1000 * scale), args.repeats)),
        ("one subprocess per program, trivial", lambda: bench_subprocess(TRIVIAL, max(int(30 * scale), 5), grids, args.repeats)),
    ]:
        r = fn()
        rows.append((label, r))
        print(f"{label:<60} {r['rate']:8.1f} programs/s  {r['cpu_ms']:6.2f} CPU ms/program  "
              f"~{2000 / r['cpu_ms']:6.0f}/s on 2 idle cores  failed={r['failed']} {r['layers']}", flush=True)
    load1 = os.getloadavg()
    fork = rows[0][1]
    lines = [f"# Sandbox throughput ({started})", "", f"Machine: {machine()}.",
             f"Load average (1/5/15 min) at start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
             f"at end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} (the 2 cores are shared with other jobs, "
             "so measured programs/s are under contention; CPU ms is our process tree only).",
             f"Layers in fork/fast mode: {fork['layers']}. Each program: 4 random 10x10 grids, distinct sources. "
             f"Medians of {args.repeats} runs. Command: `python {' '.join(['bench/sandbox.py', *sys.argv[1:]])}`.", "",
             "| Mode | programs/s (measured) | CPU ms / program | 2-core capacity (2000 / CPU ms) | vs subprocess "
             "| non-OK results |", "|---|---|---|---|---|---|"]
    base = rows[-1][1]
    for label, r in rows:
        lines.append(f"| {label} | {r['rate']:.1f} | {r['cpu_ms']:.2f} | {2000 / r['cpu_ms']:.0f} | "
                     f"{base['cpu_ms'] / r['cpu_ms']:.1f}x less CPU | {r['failed']} |")
    floor = rows[-2][1]
    lines += ["", f"Goal: >= 250 programs/s on 2 cores with all layers -> projected {2000 / fork['cpu_ms']:.0f}/s "
              f"({'met' if 2000 / fork['cpu_ms'] >= 250 else 'NOT met'}); measured under load {fork['rate']:.0f}/s.",
              "", "Notes:",
              f"- Fork mode costs {fork['cpu_ms'] / floor['cpu_ms']:.1f}x the bare fork+exit floor measured in this run "
              f"({floor['cpu_ms']:.2f} ms; it includes one numpy import amortised over its forks). The rest is "
              "copy-on-write faults in the child and the zygote, the confinement steps (~0.3 ms CPU), the program, "
              "and the orchestrator (~0.5 ms).",
              "- The design study (../shared/SANDBOX_DESIGN.md) measured 6.7 ms/program (~300/s) for the same design "
              "on this machine kind at lower load (~1.5); CPU time per fork rises with contention on this "
              "shared nested VM, so capacities here are a lower bound for idle cores.",
              "- Realistic mixes: the numpy/stdlib/scipy corpus programs cycled (each source made distinct), "
              "so each runs in its lane (sandbox/lanes.py: base zygote, scipy.ndimage, wider scipy); the "
              "BARC-style corpus runs every program in the scipy.ndimage lane because its prelude uses scipy. "
              "Non-OK results are the corpus's deliberate fail_* programs (and what fails on these grids).",
              "- `fast pre-filter pass` rejects everything (`accept=lambda j, r: False`), i.e. it is the pass "
              "alone; in real use every accepted program is then re-run in fork mode. Since issue 20 a failure that "
              "followed another program in its worker is re-run in fork mode even so, and a worker retires after "
              "any failure: the corpora's deliberate failures make that part of the pass's cost.", ""]
    if args.before:
        lines += compare(json.load(open(args.before)), rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "load": [load0, load1], "rows": [[label, r] for label, r in rows]}, f)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


def compare(before: dict, rows: list) -> list[str]:
    """A before/after table: the earlier run's rows (by label) next to this run's."""
    old = {label: r for label, r in before["rows"]}
    l0, l1 = before["load"]
    out = ["", f"## Before and after, same sitting (before: {before['started']}, load {l0[0]:.2f} -> {l1[0]:.2f})", "",
           "| Mode | before: programs/s, CPU ms | after: programs/s, CPU ms | change in CPU ms / program |",
           "|---|---|---|---|"]
    for label, r in rows:
        b = old.get(label)
        if b is None:
            out.append(f"| {label} | (not measured) | {r['rate']:.1f}, {r['cpu_ms']:.2f} | |")
            continue
        out.append(f"| {label} | {b['rate']:.1f}, {b['cpu_ms']:.2f} | {r['rate']:.1f}, {r['cpu_ms']:.2f} | "
                   f"{(r['cpu_ms'] / b['cpu_ms'] - 1) * 100:+.0f}% |")
    return out + [""]


if __name__ == "__main__":
    main()
