"""Extraction and normal forms of a large import, spread over processes before any sandbox starts.

A `--programs` import of 10,000 samples is common. Extraction (`induction.extract`) and the
normal form behind de-duplication (`induction.dedupe.normalise`) are pure functions of the text,
so `prepare` computes them once per distinct text, up front, over `workers` processes of
`multiprocess` (fork start method): the per-task pipeline then only looks results up. Below
`MIN_PARALLEL` distinct texts, or with one worker (the default, `induction.workers=1`), it runs in
this process. Measured on the 2-core reference machine (bench/results/induction.md), one process
extracts a 10,000-sample import in about half the sandbox's time and a pool of two is slower (no
idle core, pickling, one parse cache per worker); the pool is for machines with idle cores.

It runs before the sandbox and before any model is loaded, so the forked workers hold neither the
zygote's pipes nor model threads. Results cross back as tuples of strings (the workers run this
module's code on text; they never execute it). Figures: bench/results/induction.md.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from induction.dedupe import normalise
from induction.extract import Extraction, NoProgram, extract_program

MIN_PARALLEL = 2000  # distinct texts below which a pool costs more than it saves


@dataclass(frozen=True)
class Prepared:
    """Per distinct text its extraction, and per extracted code its normal form."""

    extractions: dict[str, Extraction] = field(default_factory=dict)
    normal_forms: dict[str, str] = field(default_factory=dict)


def _extract(args: tuple[str, int]) -> tuple[str | None, str | None, str | None, str | None]:
    """(code, method, reason, detail) of one text: plain strings, cheap to send."""
    e = extract_program(*args)
    return e.code, e.method, e.reason.value if e.reason else None, e.detail


def resolve_workers(workers: int) -> int:
    """`workers` processes; 0 means one per CPU core."""
    return workers if workers > 0 else (os.cpu_count() or 1)


def prepare(texts: Iterable[str], max_chars: int, workers: int = 0) -> Prepared:
    """Extract every distinct text once, then normalise every distinct code once (both spread over
    `workers` processes for large imports)."""
    distinct = list(dict.fromkeys(texts))
    n = resolve_workers(workers)
    if n <= 1 or len(distinct) < MIN_PARALLEL:
        rows = [_extract((t, max_chars)) for t in distinct]
        codes = list(dict.fromkeys(row[0] for row in rows if row[0] is not None))
        forms = [normalise(c) for c in codes]
    else:
        import multiprocess

        with multiprocess.get_context("fork").Pool(n) as pool:
            rows = pool.map(_extract, [(t, max_chars) for t in distinct], chunksize=_chunk(len(distinct), n))
            codes = list(dict.fromkeys(row[0] for row in rows if row[0] is not None))
            forms = pool.map(normalise, codes, chunksize=_chunk(len(codes), n))
    extractions = {text: Extraction(code, method, NoProgram(reason) if reason else None, detail)
                   for text, (code, method, reason, detail) in zip(distinct, rows)}
    return Prepared(extractions, dict(zip(codes, forms)))


def _chunk(items: int, workers: int) -> int:
    """Eight chunks per worker (balance) of at least 16 items (overhead)."""
    return max(16, items // (workers * 8))
