"""Benchmark: distinct programs verified per second, end to end (extraction + dedupe + sandbox).

Workload: >= 2,000 generated response texts for one real ARC task (arc1/training 3c9b0459,
rot180), with realistic duplication: a few dozen program families (flips, rotations, transposes,
colour maps, tiling, crops, loops, errors, slow loops...) in parameterised variants, drawn with a
Zipf-like skew so popular programs repeat many times; each text gets surface noise (comments,
docstrings, blank lines, spacing) and a wrapper (prose + fenced python block, untagged block, bare
code, CRLF, unterminated fence); some are broken (syntax errors, no transform, prose only).

Measured in one run, median of 3 repetitions each:
- pipeline: extract every text, dedupe, verify each distinct program once in the sandbox;
- no-dedupe baseline: the same texts, every extracted program executed as its own job.
- import: `--import-samples` (default 10,000) generated texts imported for the task as `induce
  --programs` does it (`induction.prepare`, then `induce_task`: sample log, lookups, dedupe,
  sandbox, decoding and checks, ranking), once with one extraction process and once with one per
  core, reporting the orchestrator's extraction time against the sandbox's.
Figures are appended to bench/results/induction.md with the machine described.
Run: `.venv/bin/python bench/induction.py [--texts N] [--repeats R] [--import-samples N]`.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arc_core.datasets import load_dataset  # noqa: E402
from induction.dedupe import ExtractedCode, Program, dedupe  # noqa: E402
from induction.extract import _cached_verdict, extract_program  # noqa: E402
from induction.prepare import resolve_workers  # noqa: E402
from induction.verify import verify_programs  # noqa: E402

TASK_ID = "3c9b0459"

# family -> list of parameterised bodies ({p} = variant parameter); each returns a grid.
FAMILIES: dict[str, tuple[str, tuple]] = {
    "rot": ("    return np.rot90(grid, {p})", (1, 2, 3, -1, -2)),
    "flip": ("    return np.{p}(grid)", ("flipud", "fliplr")),
    "flip2": ("    return np.flip(grid, axis={p})", (0, 1, None)),
    "transpose": ("    return grid.T{p}", ("", ".copy()", "[::-1]", "[:, ::-1]")),
    "slice": ("    return grid[{p}]", ("::-1, ::-1", "::-1", ":, ::-1", "::2", "1:")),
    "shift": ("    return np.roll(grid, {p}, axis=0)", (1, -1, 2)),
    "add": ("    return (grid + {p}) % 10", (0, 1, 3, 5)),
    "cmap": ("    m = np.arange(10)\n    m[{p}] = 0\n    return m[grid]", (1, 2, 5, 8)),
    "swap": ("    g = grid.copy()\n    g[grid == {p}] = 0\n    g[grid == 0] = {p}\n    return g", (1, 2, 3, 4)),
    "tile": ("    return np.tile(grid, {p})", ("(1, 2)", "(2, 1)", "(2, 2)", "(3, 3)")),
    "kron": ("    return np.kron(grid, np.ones(({p}, {p}), dtype=int))", (2, 3)),
    "crop": ("    return grid[:{p}, :{p}]", (1, 2, 3)),
    "loop": ("    h, w = grid.shape\n    out = np.zeros_like(grid)\n    for r in range(h):\n        for c in range(w):\n"
             "            out[r, c] = grid[{p}]\n    return out",
             ("h - 1 - r, w - 1 - c", "r, w - 1 - c", "h - 1 - r, c", "c % h, r % w")),
    "listy": ("    rows = [list(r) for r in grid]\n    return [row{p} for row in rows{p}]", ("[::-1]", "")),
    "maxc": ("    vals, counts = np.unique(grid, return_counts=True)\n    return np.full(grid.shape, vals[{p}])",
             ("np.argmax(counts)", "np.argmin(counts)", "0", "-1")),
    "border": ("    g = grid.copy()\n    g[0, :] = {p}\n    g[-1, :] = {p}\n    return g", (0, 1, 5)),
    "error": ("    return grid[{p}]", ("99", "'x'", "None, None, None")),
    "raise": ("    raise ValueError('cannot solve {p}')", ("a", "b")),
    "wrong_type": ("    return {p}", ("'grid'", "3", "[[1, 2], [3]]", "np.zeros((40, 40), dtype=int)")),
    "float": ("    return grid * {p}", (0.5, 1.5)),
    "slow": ("    s = 0\n    for i in range({p}):\n        s += i\n    return np.rot90(grid, 2)", (200000, 400000)),
    "sortrows": ("    return np.sort(grid, axis={p})", (0, 1)),
    "mirror": ("    return np.concatenate([grid, grid{p}], axis=1)", ("[:, ::-1]", "")),
    "identity": ("    return grid{p}", ("", ".copy()")),
}
PROSE_BEFORE = ("Let's look at the examples. The output is the input rotated.\n",
                "Looking at the examples, each output is a transformation of the input grid.\n\n", "")
PROSE_AFTER = ("\nThis function implements the transformation.", "\nHope this helps!", "")


def _program(body: str, rng: np.random.Generator) -> str:
    doc = '    """Apply the rule."""\n' if rng.random() < 0.3 else ""
    comment = "    # transform the grid\n" if rng.random() < 0.3 else ""
    blank = "\n" if rng.random() < 0.2 else ""
    # Models name the argument differently: a real (normal-form) difference, so a distinct program.
    arg = ("grid", "grid", "input_grid", "g", "x")[rng.integers(5)]
    rebind = "" if arg == "grid" else f"    grid = np.asarray({arg})\n"
    return f"import numpy as np\n{blank}\ndef transform({arg}):\n{doc}{comment}{rebind}{body}\n"


def _wrap(code: str, rng: np.random.Generator) -> str:
    kind = rng.choice(["python", "python", "python", "untagged", "bare", "crlf", "unterminated"])
    before = PROSE_BEFORE[rng.integers(len(PROSE_BEFORE))]
    after = PROSE_AFTER[rng.integers(len(PROSE_AFTER))]
    if kind == "python":
        return f"{before}```python\n{code}```{after}"
    if kind == "untagged":
        return f"{before}```\n{code}```{after}"
    if kind == "bare":
        return f"{before}{code}{after}"
    if kind == "crlf":
        return f"{before}```python\n{code}```{after}".replace("\n", "\r\n")
    return f"{before}```python\n{code}"


def _broken(rng: np.random.Generator) -> str:
    return str(rng.choice([
        "I am not sure how to solve this puzzle.",
        "```python\ndef transform(grid)\n    return grid\n```",
        "```python\ndef solve(grid):\n    return grid\n```",
        "```python\nimport numpy as np\ndef transform(grid):\n    return np.rot90(grid,",
        "",
    ]))


def generate_texts(n: int, seed: int = 0) -> list[str]:
    """n response texts: ~90% from program families (Zipf-skewed), ~10% broken."""
    rng = np.random.default_rng(seed)
    names = list(FAMILIES)
    fam_p = 1.0 / np.arange(1, len(names) + 1) ** 1.1
    fam_p /= fam_p.sum()
    texts = []
    for _ in range(n):
        if rng.random() < 0.1:
            texts.append(_broken(rng))
            continue
        body, params = FAMILIES[names[rng.choice(len(names), p=fam_p)]]
        var_p = 1.0 / np.arange(1, len(params) + 1) ** 1.5
        p = params[rng.choice(len(params), p=var_p / var_p.sum())]
        texts.append(_wrap(_program(body.format(p=p), rng), rng))
    return texts


def run_pipeline(task, texts, sandbox, dedup: bool) -> dict[str, float]:
    t0 = time.perf_counter()
    codes = [ExtractedCode(str(i), e.code) for i, t in enumerate(texts) if (e := extract_program(t)).ok]
    t1 = time.perf_counter()
    if dedup:
        programs = dedupe(codes)
    else:  # every extracted text its own job (unique ids, multiplicity 1)
        programs = [Program(f"{p.id}-{i}", p.source, p.normal_form, 1, p.sample_keys, i)
                    for i, c in enumerate(codes) for p in dedupe([c])]
    t2 = time.perf_counter()
    checks = verify_programs(task, programs, sandbox)
    t3 = time.perf_counter()
    return {"texts": len(texts), "extracted": len(codes), "programs": len(programs),
            "verified": sum(v.verified for v in checks), "extract_s": t1 - t0, "dedupe_s": t2 - t1,
            "sandbox_s": t3 - t2, "total_s": t3 - t0}


def run_import(task, texts, sandbox, workers: int) -> dict[str, float]:
    """One import as `induce --programs` runs it: `prepare` (extraction + normal forms of every
    distinct text, over `workers` processes), then `induce_task` (looks those up; sandbox)."""
    from induction.config import InductionConfig
    from induction.pipeline import induce_task
    from induction.prepare import prepare
    from induction.samples import MemorySampleLog

    config = InductionConfig(n_samples=0, workers=workers)
    t0 = time.perf_counter()
    prepared = prepare(texts, config.max_response_chars, config.workers)
    t1 = time.perf_counter()
    result = induce_task(task, None, sandbox, config, MemorySampleLog(), imported=texts, import_hash="bench",
                         prepared=prepared)
    total = time.perf_counter() - t0
    c = result.counts()
    return {"samples": c["samples"], "programs": c["programs"], "verified": c["verified"], "total_s": total,
            "distinct_texts": len(set(texts)), "prepare_s": t1 - t0,
            **{f"{k}_s": v for k, v in result.timings.items()}}


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2400, help="number of generated response texts (>= 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per mode (median reported)")
    parser.add_argument("--import-samples", type=int, default=10000,
                        help="texts in the import measurement (0 = skip it)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "induction.md"), help="results file")
    args = parser.parse_args()
    from sandbox import Sandbox, SandboxConfig, sandbox_info

    task = load_dataset("arc1/training").tasks[TASK_ID]
    texts = generate_texts(args.texts)
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"dedupe": [], "no-dedupe": []}
    with Sandbox(SandboxConfig()) as sandbox:
        run_pipeline(task, texts[:50], sandbox, True)  # warm-up
        for _ in range(args.repeats):
            for mode in runs:
                runs[mode].append(run_pipeline(task, texts, sandbox, mode == "dedupe"))
        imports = {}
        if args.import_samples:
            import_texts = generate_texts(args.import_samples, seed=1)
            for workers in (1, 0):  # one process, then one per core
                _cached_verdict.cache_clear()  # each measurement starts cold
                imports[workers] = run_import(task, import_texts, sandbox, workers)
    load_end = os.getloadavg()
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    d, nd = med["dedupe"], med["no-dedupe"]
    rate = d["programs"] / d["total_s"]
    texts_rate = d["texts"] / d["total_s"]
    nd_rate = nd["programs"] / nd["total_s"]
    layers = ", ".join(f"{name}={'on' if active else 'off'}" for name, active, _ in sandbox_info())
    lines = [
        f"## induction bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {machine()}; load avg start {load_start[0]:.2f} end {load_end[0]:.2f} (shared machine)",
        f"- sandbox layers: {layers}",
        f"- workload: {d['texts']:.0f} texts ({len(FAMILIES)} families), {d['extracted']:.0f} with a program, "
        f"{d['programs']:.0f} distinct programs, {d['verified']:.0f} verified (task {TASK_ID})",
        f"- median of {args.repeats}: end to end {d['total_s']:.2f} s (extract {d['extract_s']:.2f}, "
        f"dedupe {d['dedupe_s']:.2f}, sandbox {d['sandbox_s']:.2f})",
        f"- **distinct programs verified per second (end to end): {rate:.1f}**; texts processed per second: "
        f"{texts_rate:.0f}",
        f"- no-dedupe baseline (every extracted text its own job): {nd['programs']:.0f} jobs in "
        f"{nd['total_s']:.2f} s = {nd_rate:.1f} programs/s; dedupe makes the whole batch "
        f"{nd['total_s'] / d['total_s']:.1f}x faster",
    ]
    for workers, imp in imports.items():
        lines.append(
            f"- import of {imp['samples']:.0f} samples ({imp['distinct_texts']:.0f} distinct texts), "
            f"{resolve_workers(workers)} extraction process(es): {imp['programs']:.0f} distinct programs, "
            f"{imp['verified']:.0f} verified, {imp['total_s']:.2f} s: **extraction + normal forms "
            f"{imp['prepare_s']:.2f} s** (then lookups {imp['extract_s']:.2f}), sample log {imp['sample_s']:.2f}, "
            f"**sandbox + decoding {imp['verify_s']:.2f} s**, rank {imp['rank_s']:.2f}")
    lines.append("")
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
