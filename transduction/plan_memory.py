"""`plan --gpu`: peak GPU memory of every task of a plan, and whether it fits the named GPU.

`memory_plan(plan, dims, config, gpu, backend, ...)` reads the records `transduction.plan` wrote (the
largest padded TTT batch, the longest prompt and prompt + answer budget, the query count) and calls
`transduction.memory` for each task: TTT without and with gradient checkpointing, and inference on
the configured backend (`lm.backend`: hf, or vllm with its `max_loras` adapter slots and
`gpu_memory_utilization` share of the card). It returns plain JSON data: per task the three totals in
GiB and whether each fits; totals with the largest estimate of each kind (its parts and notes) and how
many tasks fit. `format_memory` renders the totals for the terminal.

Both TTT figures are given whatever the config says; `totals["ttt_configured"]` names the one that
`train.gradient_checkpointing` selects.
"""
from __future__ import annotations

from typing import Any

from transduction.config import TransductionConfig
from transduction.gpus import GPU
from transduction.memory import (GIB, MemoryEstimate, estimate_inference_memory, estimate_ttt_memory,
                                 kv_sequences_that_fit, longest_fitting_ttt, usable_bytes)
from transduction.model_dims import ModelDims

MODES = ("ttt", "ttt_checkpointing", "inference")


def _task_estimates(r: dict[str, Any], dims: ModelDims, config: TransductionConfig, backend: str,
                    max_loras: int) -> dict[str, MemoryEstimate]:
    out: dict[str, MemoryEstimate] = {}
    rows, width = r["ttt_batch"]
    if config.train.mode != "none" and rows > 0:
        out["ttt"] = estimate_ttt_memory(dims, config.lora, config.train, width, False, rows)
        out["ttt_checkpointing"] = estimate_ttt_memory(dims, config.lora, config.train, width, True, rows)
    if r["queries"] > 0:
        infer_rows = 1 if backend == "vllm" else min(config.infer.batch_size, r["queries"])
        out["inference"] = estimate_inference_memory(dims, config.lora, config.infer, r["max_prompt_tokens"],
                                                     r["max_prompt_plus_budget"], backend, infer_rows, max_loras)
    return out


def memory_plan(plan: dict[str, Any], dims: ModelDims, config: TransductionConfig, gpu: GPU, backend: str = "hf",
                max_loras: int = 4, max_lora_rank: int = 0, gpu_memory_utilization: float = 0.9) -> dict[str, Any]:
    """{"tasks": {id: {mode: {"gib", "fits"}}}, "totals": {...}} (see the module docstring)."""
    if backend not in ("hf", "vllm"):
        backend = "hf"  # openai serves no per-task adapters: transduction then infers on hf
    limits = {m: usable_bytes(gpu) for m in MODES}
    if backend == "vllm":  # vLLM takes its share of the card up front and never more
        limits["inference"] = min(limits["inference"], int(gpu.memory_bytes * gpu_memory_utilization))
    tasks: dict[str, Any] = {}
    worst: dict[str, tuple[str, MemoryEstimate]] = {}
    for tid, r in plan["tasks"].items():
        ests = _task_estimates(r, dims, config, backend, max_loras)
        tasks[tid] = {m: {"gib": round(e.total / GIB, 2), "fits": e.total <= limits[m]} for m, e in ests.items()}
        for m, e in ests.items():
            if m not in worst or e.total > worst[m][1].total:
                worst[m] = (tid, e)
    notes = []
    if not gpu.bf16:
        notes.append(f"{gpu.name} has no bf16 tensor cores: this project trains and serves in bf16 on CUDA "
                     "(emulated there, far below the fp16 peak used for time) or float32 (train.dtype=float32: "
                     "4 bytes a weight)")
    if backend == "vllm" and max_lora_rank and config.lora.rank > max_lora_rank:
        notes.append(f"lora.rank {config.lora.rank} > lm.vllm.max_lora_rank {max_lora_rank}: vLLM refuses the "
                     "adapters; raise lm.vllm.max_lora_rank")
    totals: dict[str, Any] = {
        "gpu": gpu.name, "gpu_memory_gib": round(gpu.memory_gib, 2), "usable_gib": round(usable_bytes(gpu) / GIB, 2),
        "backend": backend, "notes": notes,
        "ttt_configured": "ttt_checkpointing" if config.train.gradient_checkpointing else "ttt",
    }
    for m in MODES:
        if m not in worst:
            continue
        tid, e = worst[m]
        totals[m] = {"task": tid, **e.to_dict(), "fits": e.total <= limits[m],
                     "tasks_fitting": sum(1 for t in tasks.values() if t.get(m, {}).get("fits")),
                     "tasks": sum(1 for t in tasks.values() if m in t)}
        if m != "inference":  # what data.max_tokens would make every task fit, at this batch size and at 1
            ck = m == "ttt_checkpointing"
            totals[m]["longest_fitting_tokens"] = {
                rows: longest_fitting_ttt(dims, config.lora, config.train, gpu, ck, rows)
                for rows in sorted({1, config.train.batch_size})}
    if backend == "vllm" and "inference" in worst:
        tid, e = worst["inference"]
        seq = plan["tasks"][tid]["max_prompt_plus_budget"]
        free = limits["inference"] - e.part("weights") - e.part("adapter") - dict(e.parts).get("prefill working set", 0)
        totals["inference"]["vllm_sequences_in_kv_pool"] = kv_sequences_that_fit(dims, seq, free)
    return {"tasks": tasks, "totals": totals}


def format_memory(mem: dict[str, Any]) -> str:
    """The totals of `memory_plan` as text."""
    t = mem["totals"]
    lines = [f"memory on {t['gpu']} ({t['gpu_memory_gib']:.1f} GiB, {t['usable_gib']:.1f} usable after the CUDA "
             f"context and fragmentation margin):"]
    labels = {"ttt": "TTT without gradient checkpointing",
              "ttt_checkpointing": "TTT with gradient checkpointing (train.gradient_checkpointing=true)",
              "inference": f"inference ({t['backend']})"}
    for m in MODES:
        if m not in t:
            continue
        w = t[m]
        verdict = ("fits" if w["fits"] else "does NOT fit") + (" [configured]" if m == t["ttt_configured"] else "")
        lines.append(f"  {labels[m]}: largest {w['total_gib']:.1f} GiB (task {w['task']}): {verdict}; "
                     f"{w['tasks_fitting']}/{w['tasks']} tasks fit")
        lines.append("    " + ", ".join(f"{n} {g:.2f}" for n, g in w["parts_gib"].items()) + " GiB")
        lines += [f"    {n}" for n in w["notes"]]
        if "longest_fitting_tokens" in w:
            lines.append("    longest example that fits: " + ", ".join(
                f"{n:,} tokens at batch {rows}" for rows, n in w["longest_fitting_tokens"].items())
                + " (data.max_tokens, train.batch_size)")
        if "vllm_sequences_in_kv_pool" in w:
            lines.append(f"    vLLM's KV pool holds {w['vllm_sequences_in_kv_pool']} such sequences at once")
    lines += [f"  note: {n}" for n in t["notes"]]
    return "\n".join(lines)
