"""GPU registry: memory and dense peak FLOP/s of the accelerators `plan --gpu` knows.

One row per GPU: the memory the driver reports (`nvidia-smi`'s total, in MiB: what a process can see,
a little under the marketed size), the dense (no 2:4 sparsity) tensor-core peak in the training
precision, and whether the card has bf16 tensor cores. Peaks are NVIDIA's datasheet figures; the
datasheets print the sparse figure first, the dense one is half of it: L4 121 (242 sparse), L40S 362
(733), A100 312 (624), H100 SXM and H200 989 (1979). T4 (Turing) has no bf16: its row holds the fp16
tensor peak (65) and `bf16=False`, and `plan` says so, because this project trains and serves in bf16
on CUDA. Memory totals are those public `nvidia-smi` outputs show (L4 23034 MiB, L40S 46068, A100-40
40960, A100-80 81920, H100 81559, H200 143771, T4 15360).

`mfu` is the model-FLOPs utilisation `plan` assumes on that card. No measurement of this project on
these cards exists yet, so every row holds the same 0.35 (the value `plan` always used for H100); the
column exists so that a measured value replaces a guess for one card without touching the others.

`get_gpu(name)` looks names up case-insensitively, ignoring spaces, dashes and a trailing "gb"
(`a100-80gb` = `A100-80`), and fails with "did you mean ...?" otherwise.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class GPU:
    """One accelerator model."""

    name: str
    memory_mib: int          # total as nvidia-smi reports it
    peak_tflops: float       # dense tensor-core peak in the training dtype (bf16, or fp16 where bf16=False)
    bf16: bool = True        # bf16 tensor cores (Ampere and later)
    mfu: float = 0.35        # assumed model-FLOPs utilisation (see the module docstring)
    note: str = ""

    def __post_init__(self) -> None:
        if self.memory_mib <= 0 or self.peak_tflops <= 0:
            raise ValueError(f"GPU {self.name}: memory_mib and peak_tflops must be > 0")
        if not 0 < self.mfu <= 1:
            raise ValueError(f"GPU {self.name}: mfu must be in (0, 1], got {self.mfu}")

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024


GPUS: dict[str, GPU] = {g.name: g for g in (
    GPU("L4", 23034, 121.0, note="Ada; Kaggle's ARC Prize machines have 4"),
    GPU("L40S", 46068, 362.0, note="Ada"),
    GPU("A100-40", 40960, 312.0, note="Ampere SXM4 40GB"),
    GPU("A100-80", 81920, 312.0, note="Ampere 80GB"),
    GPU("H100", 81559, 989.0, note="Hopper SXM 80GB (PCIe cards peak at 756)"),
    GPU("H200", 143771, 989.0, note="Hopper SXM 141GB"),
    GPU("T4", 15360, 65.0, bf16=False,
        note="Turing: fp16 tensor cores only, no bf16; this project trains in bf16 (or fp32) on CUDA"),
)}


def _key(name: str) -> str:
    return re.sub(r"gb$", "", re.sub(r"[\s_\-]", "", name.lower()))


def get_gpu(name: str) -> GPU:
    """The registered GPU called `name` (see the module docstring for the matching rule)."""
    by_key = {_key(n): g for n, g in GPUS.items()}
    if _key(name) in by_key:
        return by_key[_key(name)]
    close = ([n for n in GPUS if _key(n).startswith(_key(name))]  # "A100": both A100 rows
             or difflib.get_close_matches(name.upper(), list(GPUS), n=2, cutoff=0.5))
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(GPUS)}"
    raise ValueError(f"unknown GPU {name!r} ({hint}); or give --peak-tflops and --gpu-memory-gib")


def resolve_gpu(name: str, peak_tflops: float | None = None, memory_gib: float | None = None,
                mfu: float | None = None) -> GPU:
    """The table's row for `name` with the given figures replacing its own, or, for a name the table
    lacks, a GPU made from `peak_tflops` and `memory_gib` (both then required)."""
    try:
        gpu = get_gpu(name)
    except ValueError:
        if peak_tflops is None or memory_gib is None:
            raise
        return GPU(name, int(memory_gib * 1024), peak_tflops, mfu=0.35 if mfu is None else mfu,
                   note="given on the command line")
    changes: dict = {k: v for k, v in (("peak_tflops", peak_tflops), ("mfu", mfu)) if v is not None}
    if memory_gib is not None:
        changes["memory_mib"] = int(memory_gib * 1024)
    return dataclasses.replace(gpu, **changes)
