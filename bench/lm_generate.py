"""Generation tokens/s of the `hf` backend vs a bare transformers `generate` loop, same run.

Embedded model (SmolLM2-135M-Instruct, float32, CPU), greedy, fixed prompts, the same
max_new_tokens and min_new_tokens for both so they produce the same number of tokens. The two
are interleaved (alternating which goes first) so load on the shared machine hits both alike;
medians over repetitions are compared. The layer should add no real overhead: ratio >= 0.9.

    .venv/bin/python bench/lm_generate.py [--reps 7] [--new-tokens 48] [--threads 0 (auto)]

Writes bench/results/lm_generate.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from arc_lm import GenerationRequest, LMConfig, load_hf_model  # noqa: E402
from arc_lm.hf_backend import HFBackend  # noqa: E402

PROMPTS = [
    "The history of the Roman Empire begins with",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Input grid:\n0 0 1\n0 1 0\n1 0 0\nOutput grid:\n",
    "A recipe for pancakes: first,",
    "Explain in one paragraph why the sky is blue.",
    "List three prime numbers greater than 100:",
    "Once upon a time, in a small village by the sea,",
    "The main differences between Python lists and tuples are",
]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def bare(model, tok, prompts: list[str], new: int) -> tuple[tuple[float, float], list[str]]:
    """Plain transformers: tokenise with left padding, greedy generate, decode."""
    start = (time.perf_counter(), time.process_time())
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=tok.pad_token_id)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return (time.perf_counter() - start[0], time.process_time() - start[1]), texts


def layer(backend, prompts: list[str], new: int) -> tuple[tuple[float, float], list[str]]:
    """The arc_lm hf backend on the same prompts."""
    start = (time.perf_counter(), time.process_time())
    res = backend.generate([GenerationRequest(prompt=p, max_new_tokens=new, min_new_tokens=new) for p in prompts])
    elapsed = (time.perf_counter() - start[0], time.process_time() - start[1])
    assert all(r.completion_tokens == (new,) for r in res), [r.completion_tokens for r in res]
    return elapsed, [r.text for r in res]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per batch size and mode")
    ap.add_argument("--new-tokens", type=int, default=48, help="tokens generated per sequence")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads; 0 = auto: the cores minus the current 1-minute load (at least 1), since "
                    "oversubscribed OpenMP threads on a shared machine run several times slower")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "lm_generate.md"), help="results file")
    args = ap.parse_args()
    load_start = os.getloadavg()
    cores = os.cpu_count() or 1
    if args.threads <= 0:
        args.threads = max(1, min(cores, cores - round(load_start[0])))
    torch.set_num_threads(args.threads)
    model, tok = load_hf_model("smollm2-135m", device="cpu", dtype="float32")
    backend = HFBackend.from_model(model, tok, LMConfig(device="cpu", batch_size=8))
    rows = []
    for batch in (1, 8):
        wall: dict[str, list[float]] = {"bare": [], "layer": []}
        cpu: dict[str, list[float]] = {"bare": [], "layer": []}
        same = True
        bare(model, tok, PROMPTS[:batch], 4)  # warm-up both paths
        layer(backend, PROMPTS[:batch], 4)
        for rep in range(args.reps):
            prompts = [PROMPTS[(rep + k) % len(PROMPTS)] for k in range(batch)]
            order = ("bare", "layer") if rep % 2 == 0 else ("layer", "bare")
            texts = {}
            for mode in order:
                if mode == "bare":
                    (w, c), texts[mode] = bare(model, tok, prompts, args.new_tokens)
                else:
                    (w, c), texts[mode] = layer(backend, prompts, args.new_tokens)
                wall[mode].append(batch * args.new_tokens / w)
                cpu[mode].append(batch * args.new_tokens / c)
            same &= texts["bare"] == texts["layer"]
        mw = {m: statistics.median(v) for m, v in wall.items()}
        mc = {m: statistics.median(v) for m, v in cpu.items()}
        rows.append((batch, mw, mc, same, wall, cpu))
        print(f"batch {batch}: wall bare {mw['bare']:.1f} / layer {mw['layer']:.1f} tok/s (ratio "
              f"{mw['layer'] / mw['bare']:.3f}); per CPU-second bare {mc['bare']:.1f} / layer {mc['layer']:.1f} "
              f"(ratio {mc['layer'] / mc['bare']:.3f}); identical outputs: {same}", flush=True)
    load_end = os.getloadavg()
    lines = [
        "# lm_generate: hf backend vs bare transformers generate",
        "",
        f"Machine: {cpu_model()}, {cores} cores, torch {torch.__version__} "
        f"({args.threads} threads), transformers {transformers.__version__}, Python {platform.python_version()}.",
        f"Load average at start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} (the machine is shared).",
        f"Model: embedded SmolLM2-135M-Instruct (de-quantised float32), greedy, {args.new_tokens} new tokens per "
        f"sequence (min = max), {args.reps} interleaved repetitions per row, medians.",
        "",
        "Two measures per run: wall-clock tokens/s, and tokens per CPU-second of this process (with one",
        "thread the CPU time counts the work done and is not inflated by other processes on the shared",
        "cores; the ratio criterion is judged on it, the wall ratio is reported beside it).",
        "",
        "| batch | bare wall tok/s | layer wall tok/s | wall ratio | bare tok/CPU-s | layer tok/CPU-s | CPU ratio | identical outputs |",
        "|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for batch, mw, mc, same, _, _ in rows:
        lines.append(f"| {batch} | {mw['bare']:.1f} | {mw['layer']:.1f} | {mw['layer'] / mw['bare']:.3f} | "
                     f"{mc['bare']:.1f} | {mc['layer']:.1f} | {mc['layer'] / mc['bare']:.3f} | {'yes' if same else 'no'} |")
    lines += ["", "Per-repetition wall tok/s, bare; layer (odd repetitions ran the layer first):", ""]
    for batch, _, _, _, wall, _ in rows:
        lines.append(f"- batch {batch}: " + ", ".join(f"{b:.1f}; {l:.1f}" for b, l in zip(wall["bare"], wall["layer"])))
    lines.append("")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    ok = all(mc["layer"] / mc["bare"] >= 0.9 for _, _, mc, _, _, _ in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
