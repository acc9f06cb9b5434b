"""Stable seed derivation: one seed per (base seed, task, round, index, ...) path.

`derive_seed(seed, *keys)` hashes the base seed and the keys with SHA-256 (never Python's `hash()`,
which is randomised per process), so the same path gives the same seed on every machine and run,
and paths that differ in any part (another task, round or sample index) give unrelated seeds.
Sampling code uses it for every request seed, so sample 0 of two tasks does not start from the
same random stream.
"""
from __future__ import annotations

import hashlib

SEED_BITS = 31  # request seeds stay below 2**31: some OpenAI-compatible servers take int32 only


def derive_seed(seed: int, *keys: object, bits: int = SEED_BITS) -> int:
    """A `bits`-bit seed determined by `seed` and `keys` (their `str()`, joined with ':')."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must be in 1..64, got {bits}")
    text = ":".join(str(part) for part in (seed, *keys))
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return value >> (64 - bits)


def seed_everything(seed: int, threads: int, torch_too: bool = True) -> None:
    """Seed Python's and numpy's global generators and, with `torch_too`, torch's (and set its thread
    count, which changes float reductions on CPU). Every process that computes a stage (the run
    process, a Ray actor) calls it the same way, so answers do not depend on where a stage ran.
    torch is imported only with `torch_too` (a process that loads no model never pays for it)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if not torch_too:
        return
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
