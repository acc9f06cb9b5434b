"""Configuration of the induction pipeline (one frozen dataclass, validated on construction).

Built once at the edge (`arc_core.config.build(InductionConfig, mapping)` from a file plus
`--set induction.key=value` overrides) and passed down explicitly. Every field is documented here;
`sampling_key()` is the part of it that decides *what* a sample is, so that the sample log can tell
an existing sample from one that still has to be drawn.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from induction.extract import MAX_RESPONSE_CHARS


@dataclass(frozen=True)
class InductionConfig:
    """Settings of prompt -> sample -> extract -> dedupe -> verify -> rank (-> refine).

    prompt_format:      key of `induction.prompts.PROMPT_FORMATS` (`compact` or `barc-induction`).
    n_samples:          responses drawn per task (BARC used thousands; the CPU default is small).
    batch_size:         responses asked for in one backend request (`GenerationRequest.n`).
    requests_per_call:  backend requests sent in one `generate` call (raise it for vllm/openai so
                        they run in parallel; each call's samples are logged when it returns).
    temperature/top_p:  sampling settings passed to the backend.
    max_new_tokens:     completion length limit per response.
    seed:               base seed; a batch's seed is derived from (seed, task, round, parent, first
                        sample index) by `induction.sample.sample_seed` (SHA-256).
    discard_identity:   drop test outputs identical to their test input (Greenblatt's filter).
    near_miss:          when no program is verified, rank unverified programs' outputs by their
                        mean cell accuracy on the demonstrations (opt-in).
    near_miss_min_accuracy: a near-miss program needs at least this mean demo cell accuracy.
    max_candidates:     candidates kept per test input (ranked; the ensemble needs two).
    refine_rounds:      refinement rounds R (0 = off).
    refine_programs:    best non-verified programs fed back per round.
    refine_samples:     responses asked for per fed-back program.
    refine_max_failures: failing demonstrations shown per fed-back program.
    stop_when_verified: skip further refinement rounds once a program is verified.
    prelude_path:       optional Python file importable as `common` in the sandbox (BARC-style
                        helper library); the induce command puts it into the SandboxConfig.
    max_response_chars: a response (sampled or imported) longer than this is refused before any
                        parsing, with reason `too_large` in its sample outcome: extraction and
                        de-duplication parse in the orchestrator, where a 10 MB source costs about
                        2 GB of memory and seconds per parse, while real programs are a few KB.
    workers:            processes that extract and normalise a large import before the sandbox
                        starts (`induction.prepare`, at least 2,000 distinct texts); 1 (default) =
                        all in this process, 0 = one per CPU core. On the 2-core reference machine
                        one process is faster (bench/results/induction.md); try 0 where many cores
                        are idle.
    """

    prompt_format: str = "compact"
    n_samples: int = 8
    batch_size: int = 4
    requests_per_call: int = 1
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0
    discard_identity: bool = True
    near_miss: bool = False
    near_miss_min_accuracy: float = 0.0
    max_candidates: int = 10
    refine_rounds: int = 0
    refine_programs: int = 2
    refine_samples: int = 2
    refine_max_failures: int = 2
    stop_when_verified: bool = True
    prelude_path: str | None = None
    max_response_chars: int = MAX_RESPONSE_CHARS
    workers: int = 1

    def __post_init__(self) -> None:
        from induction.prompts import get_format  # local: prompts imports nothing of config

        get_format(self.prompt_format)  # raises with "did you mean" on an unknown name
        _positive("n_samples", self.n_samples, allow_zero=True)
        _positive("batch_size", self.batch_size)
        _positive("requests_per_call", self.requests_per_call)
        _positive("max_new_tokens", self.max_new_tokens)
        _positive("max_candidates", self.max_candidates)
        _positive("refine_rounds", self.refine_rounds, allow_zero=True)
        _positive("refine_programs", self.refine_programs)
        _positive("refine_samples", self.refine_samples)
        _positive("refine_max_failures", self.refine_max_failures)
        _positive("max_response_chars", self.max_response_chars)
        _positive("workers", self.workers, allow_zero=True)
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError(f"induction.temperature must be in [0, 5], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"induction.top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.near_miss_min_accuracy <= 1.0:
            raise ValueError(
                f"induction.near_miss_min_accuracy must be in [0, 1], got {self.near_miss_min_accuracy}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"induction.seed must be a non-negative int, got {self.seed!r}")

    def sampling_settings(self) -> dict[str, object]:
        """The settings that define a sample (besides backend, model, prompt and index)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
        }


def _positive(name: str, value: object, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"induction.{name} must be an int >= {low}, got {value!r}")


def settings_hash(backend: str, model: str, settings: dict[str, object]) -> str:
    """Short stable hash of who sampled and how: part of every sample's key."""
    blob = json.dumps({"backend": backend, "model": model, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
