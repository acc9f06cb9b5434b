"""Check transduction.memory's TTT estimate against what PyTorch really holds, on CPU.

Small random Llamas (GQA, SwiGLU, untied head, SDPA) with a LoRA adapter run one TTT step (forward,
backward, AdamW step), in fp32 (as TTT runs on CPU) and in bf16 weights under CPU bf16 autocast (the
CUDA path's precision), with and without per-layer gradient checkpointing. Two shapes: one whose
vocabulary dominates (the loss head is the peak) and one whose layers dominate (V = 512). Measured:
- saved: the bytes autograd holds for backward after the forward (every saved tensor, deduplicated by
  storage, weights excluded), in one process, against the estimate's activation terms; batches 1x512
  (no padding mask) and 2x512 (padded: repeated k/v and per-layer masks);
- peak: the process's peak resident memory above its resident memory before the step (VmHWM after
  `clear_refs`, glibc forced to mmap every allocation >= 64 KiB so that frees return to the OS), one
  subprocess per step, at widths 1024 and 2048 (one row; below that fixed CPU buffers
  absorb part of the growth): the slope per token against the estimate's
  per-token peak. The intercept (optimizer states, oneDNN and thread-pool buffers) is CPU-specific
  and not compared.
Writes bench/results/memory_estimate.md. Run: `.venv/bin/python bench/memory_estimate.py` (a few minutes
on one core).
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from transduction.config import LoraConfig, TrainConfig  # noqa: E402
from transduction.memory import estimate_ttt_memory  # noqa: E402
from transduction.model_dims import ModelDims  # noqa: E402

SHAPES = {"vocabulary-heavy": ModelDims(hidden=256, layers=4, heads=4, kv_heads=2, intermediate=704, vocab=4096,
                                         head_dim=64),
          "layer-heavy": ModelDims(hidden=256, layers=4, heads=4, kv_heads=2, intermediate=704, vocab=512,
                                   head_dim=64)}
LORAS = {"paper (q,v,mlp)": LoraConfig(rank=16, alpha=16.0),
         "all linear + lm_head": LoraConfig(rank=16, alpha=16.0, lm_head=True, target_modules=(
             "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))}


def build(dims: ModelDims, lora: LoraConfig, bf16: bool, checkpointing: bool):
    from transformers import LlamaConfig, LlamaForCausalLM

    from transduction.train import attach_lora

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=dims.vocab, hidden_size=dims.hidden, intermediate_size=dims.intermediate,
                      num_hidden_layers=dims.layers, num_attention_heads=dims.heads,
                      num_key_value_heads=dims.kv_heads, head_dim=dims.head_dim, tie_word_embeddings=False,
                      attn_implementation="sdpa")
    model = LlamaForCausalLM(cfg)
    if bf16:
        model = model.to(torch.bfloat16)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = attach_lora(model, lora)
    model.train()
    return model


def batch(dims: ModelDims, rows: int, width: int) -> dict:
    ids = torch.randint(0, dims.vocab, (rows, width))
    mask = torch.ones_like(ids)
    mask[1:, width // 2:] = 0  # right padding in every row after the first, as train.collate makes
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def autocast(bf16: bool):
    import contextlib

    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def saved_bytes(model, dims: ModelDims, rows: int, width: int, bf16: bool) -> int:
    """Bytes autograd saves for backward in one forward (weights excluded)."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in weights:
            saved[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(bf16):
        loss = model(**batch(dims, rows, width)).loss
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(saved.values())


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def peak_child(shape: str, lora: str, bf16: bool, checkpointing: bool, width: int) -> None:
    """In a subprocess: print the resident peak of one TTT step above the resident memory before it."""
    dims = SHAPES[shape]
    model = build(dims, LORAS[lora], bf16, checkpointing)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    data = batch(dims, 1, width)
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (the peak) to the current RSS
    with autocast(bf16):
        loss = model(**data).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    print(_status("VmHWM") - base)


def peak_bytes(shape: str, lora: str, bf16: bool, checkpointing: bool, width: int) -> int:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, __file__, "--child", shape, lora, str(int(bf16)), str(int(checkpointing)), str(width)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def activation_terms(est) -> int:
    """The estimate's bytes saved after the forward: its total less weights, LoRA state and the backward peak."""
    return est.total - est.part("weights") - est.part("lora weights+grads+adamw") - est.part("backward peak")


def main() -> int:
    torch.set_num_threads(1)
    saved_rows, peak_rows = [], []
    for shape, dims in SHAPES.items():
        for lora_name, lora in LORAS.items():
            for bf16 in (False, True):
                train = TrainConfig(dtype="bfloat16" if bf16 else "float32")
                for ck in (False, True):
                    prec, label = ("bf16 autocast" if bf16 else "fp32"), ("on" if ck else "off")
                    model = build(dims, lora, bf16, ck)
                    for rows in (1, 2):
                        est = estimate_ttt_memory(dims, lora, train, 512, ck, rows=rows)
                        got = saved_bytes(model, dims, rows, 512, bf16)
                        saved_rows.append((shape, lora_name, prec, label, f"{rows}x512", got, activation_terms(est)))
                    if lora_name != "paper (q,v,mlp)":
                        continue
                    p1024, p2048 = (peak_bytes(shape, lora_name, bf16, ck, w) for w in (1024, 2048))
                    e1024, e2048 = (estimate_ttt_memory(dims, lora, train, w, ck, rows=1).total for w in (1024, 2048))
                    peak_rows.append((shape, prec, label, (p2048 - p1024) / 1024, (e2048 - e1024) / 1024))
    lines = [
        "# TTT memory estimate vs PyTorch on CPU",
        "",
        f"`bench/memory_estimate.py`, {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, torch "
        f"{torch.__version__}, Python {sys.version.split()[0]}, one thread; load {os.getloadavg()}.",
        f"Shapes: {', '.join(f'{k}: {v}' for k, v in SHAPES.items())}; LoRA rank 16.",
        "",
        "## Saved activations after the forward (exact: autograd's saved tensors)",
        "",
        "| shape | LoRA | precision | checkpointing | batch | measured | estimate | estimate / measured |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for shape, name, prec, ck, b, got, est in saved_rows:
        lines.append(f"| {shape} | {name} | {prec} | {ck} | {b} | {got / 2**20:.3f} MiB | {est / 2**20:.3f} MiB | "
                     f"{est / got:.3f} |")
    lines += ["", "## Peak of a whole step, per token (resident-memory slope from 1x1024 to 1x2048; LoRA q,v,mlp)", "",
              "| shape | precision | checkpointing | measured bytes/token | estimate bytes/token | estimate / measured |",
              "| --- | --- | --- | ---: | ---: | ---: |"]
    for shape, prec, ck, got, est in peak_rows:
        lines.append(f"| {shape} | {prec} | {ck} | {got:,.0f} | {est:,.0f} | {est / got:.3f} |")
    out = Path(__file__).parent / "results" / "memory_estimate.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        torch.set_num_threads(1)
        peak_child(sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5] == "1", int(sys.argv[6]))
        sys.exit(0)
    sys.exit(main())
