"""Benchmark: per-task TTT seconds and model FLOPs utilisation on a GPU, Llama-3.2-1B-shaped model.

A randomly initialised Llama with the Llama-3.2-1B shape (no weights needed) is trained with the
`paper-1b` preset (LoRA r=128 alpha=16 on q,v + MLP, 2 epochs, batch 2, bf16 autocast) on 250 TTT
pseudo-tasks per task, built from ARC-AGI-1 evaluation tasks in the `marc` format. Sequence lengths
come from the embedded SmolLM2 tokenizer (the Llama-3 tokenizer is not available offline; in the marc
format every digit and bracket is its own token in both, so lengths are close).

MFU = model FLOPs / (seconds x peak bf16 FLOP/s). Model FLOPs per token with a frozen base:
forward 2N + backward activation grads 2N (no weight grads for frozen weights) + 6 N_lora, plus
causal attention 3 x 2 L d s; N counts every matmul weight including lm_head. The dense-training
convention (6N) is printed too. Targets (issue 5): <= 60 s per task and >= 45% MFU.

Usage (GPU):  python bench/ttt_gpu.py [--tasks 3] [--peak-tflops 989]
Smoke test of the code path on CPU:  python bench/ttt_gpu.py --smoke
Writes bench/results/ttt_gpu.md (or ttt_gpu_smoke.md with --smoke).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LLAMA_32_1B = dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                   num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=8192,
                   tie_word_embeddings=True, rope_theta=500000.0)
SMOKE_SHAPE = dict(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=8192,
                   tie_word_embeddings=True)
# Dense bf16 peak FLOP/s by device-name substring (first match wins).
PEAKS = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12),
         ("A10G", 125e12), ("L4", 121e12))


def flops_per_token(cfg, n_lora: int, seq: float) -> tuple[float, float]:
    """(frozen-base LoRA training FLOPs, dense 6N convention) per token at mean sequence length `seq`."""
    d, f, L, v = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.vocab_size
    kv = cfg.num_key_value_heads * cfg.head_dim
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * f          # q, o, k, v, gate/up/down
    n = L * per_layer + d * v                                 # + lm_head
    attn = 3 * 2 * L * d * seq                                # causal QK^T and AV, fwd + bwd
    return 4 * n + 6 * n_lora + attn, 6 * n + attn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=3, help="ARC-AGI-1 evaluation tasks to train on (first N sorted)")
    ap.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s of the device (default: by name)")
    ap.add_argument("--smoke", action="store_true", help="tiny model, 8 examples, on CPU: checks the code path only")
    args = ap.parse_args()

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from arc_core.datasets import load_dataset
    from arc_lm.models import load_tokenizer
    from transduction.config import preset, replace
    from transduction.pipeline import make_ttt_data, tokenize_data
    from transduction.train import attach_lora, train_adapter

    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --smoke for a CPU check of the code path")
    cfg = preset("paper-1b")
    if args.smoke:
        cfg = replace(cfg, data={"max_examples": 8}, lora={"rank": 4, "alpha": 16.0})
    tok = load_tokenizer("smollm2-135m")
    model_cfg = LlamaConfig(**(SMOKE_SHAPE if args.smoke else LLAMA_32_1B), bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    dtype = torch.float32 if args.smoke else torch.bfloat16
    model = LlamaForCausalLM(model_cfg).to(device=device, dtype=dtype)
    model = attach_lora(model, cfg.lora)
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else next((p for k, p in PEAKS if k in name), None)
    if device == "cuda" and peak is None:
        raise SystemExit(f"unknown peak FLOP/s for {name!r}: pass --peak-tflops")

    ds = load_dataset("arc1/evaluation")
    ids = ds.ids()[: (1 if args.smoke else args.tasks)]
    rows = []
    for i, tid in enumerate(ids):
        task = ds.tasks[tid]
        examples = tokenize_data(make_ttt_data(task, tok, cfg), tok, cfg)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        rec = train_adapter(model, examples, cfg.train, tid, seed=i, pad_id=tok.pad_token_id)
        if device == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - start
        tokens = rec.n_tokens * cfg.train.epochs
        mean_len = rec.n_tokens / max(1, rec.n_examples)
        lora_fpt, dense_fpt = flops_per_token(model_cfg, n_lora, mean_len)
        row = {"task": tid, "examples": rec.n_examples, "tokens": tokens, "mean_len": mean_len, "s": secs,
               "tok_s": tokens / secs, "mfu": lora_fpt * tokens / secs / peak if peak else None,
               "mfu6": dense_fpt * tokens / secs / peak if peak else None, "loss": rec.losses[-1]}
        print(row, flush=True)
        rows.append(row)

    mem = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    lines = [f"# TTT on {'CPU (smoke test only, tiny model)' if args.smoke else 'GPU'}: "
             f"{'tiny Llama' if args.smoke else 'Llama-3.2-1B-shaped random model'}, preset paper-1b", "",
             f"- device: {name}; torch {torch.__version__}; peak bf16 {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s; "
             f"host {os.cpu_count()} cores; loadavg {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
             f"- LoRA r={cfg.lora.rank} alpha={cfg.lora.alpha} on {','.join(cfg.lora.target_modules)} "
             f"({n_lora / 1e6:.1f}M trainable), lr {cfg.train.lr}, {cfg.train.epochs} epochs, batch "
             f"{cfg.train.batch_size}, up to {cfg.data.max_examples} pseudo-tasks, format {cfg.data.format}",
             f"- peak GPU memory: {mem:.1f} GiB" if mem is not None else "- peak GPU memory: n/a (CPU)", "",
             "| task | pseudo-tasks | tokens (x epochs) | mean len | seconds | tok/s | MFU (4N+6N_lora+attn) | MFU (6N) | final loss |",
             "|---|---|---|---|---|---|---|---|---|"]
    if args.smoke:
        lines[1:1] = ["", "Smoke test of the code path only (tiny model, CPU): not a GPU measurement."]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        mfu6 = f"{r['mfu6']:.1%}" if r["mfu6"] is not None else "n/a"
        lines.append(f"| {r['task']} | {r['examples']} | {r['tokens']} | {r['mean_len']:.0f} | {r['s']:.1f} | "
                     f"{r['tok_s']:.0f} | {mfu} | {mfu6} | {r['loss']:.3f} |")
    lines += ["", f"median seconds per task: {statistics.median(r['s'] for r in rows):.1f} (target <= 60)"]
    if rows[0]["mfu"] is not None:
        lines.append(f"median MFU: {statistics.median(r['mfu'] for r in rows):.1%} (target >= 45%)")
    out = ROOT / "bench/results" / ("ttt_gpu_smoke.md" if args.smoke else "ttt_gpu.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
