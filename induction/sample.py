"""Draw program samples from a language-model backend, through the sample log.

`sample_task` asks the log which sample indices already exist for (task, prompt, settings) and
requests only the missing ones, in batches of `batch_size` (`GenerationRequest.n`). A batch's seed is
`sample_seed(seed, task, round, parent, first index of the batch)` (SHA-256, `arc_core.seeds`), so a
resumed run draws what an uninterrupted one would have drawn (for backends that honour seeds), and
sample 0 of two tasks, rounds or refined parents are drawn from unrelated streams. `requests_per_call` batches go to the backend in one
`generate` call (so vllm/openai can run them in parallel); their samples are appended to the log as
soon as the call returns, so a crash loses at most the call in flight.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from arc_core.seeds import derive_seed
from induction.config import InductionConfig, settings_hash
from induction.prompts import Chat, prompt_hash
from induction.samples import SampleLog, SampleRecord


def backend_identity(backend: Any) -> tuple[str, str]:
    """(backend kind, model name) of an arc_lm backend, for the sample records."""
    config = getattr(backend, "config", None)
    kind = getattr(backend, "name", None) or getattr(config, "backend", None) or type(backend).__name__
    model = getattr(backend, "model_name", None) or getattr(config, "model", None) or "unknown"
    return str(kind), str(model)


def _request(messages: Chat, n: int, config: InductionConfig, seed: int) -> Any:
    from arc_lm import GenerationRequest, Message  # the language-model layer's request types

    return GenerationRequest(
        prompt=None,
        messages=tuple(Message(role=role, content=content) for role, content in messages),
        n=n,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=seed,
    )


def sample_seed(seed: int, task_id: str, round: int, parent: str | None, index: int) -> int:
    """The seed of the batch whose first sample is `index` (stable across runs and machines)."""
    return derive_seed(seed, task_id, round, parent or "", index)


def _per_text(value: Any, i: int) -> Any:
    """Item i of a per-sample sequence; a scalar (e.g. prompt tokens) applies to every sample."""
    if isinstance(value, (list, tuple)):
        return value[i] if i < len(value) else None
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _reason(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _batches(missing: Sequence[int], size: int) -> list[list[int]]:
    """Runs of consecutive missing indices, each cut into chunks of at most `size`."""
    out: list[list[int]] = []
    for i in missing:
        if out and out[-1][-1] == i - 1 and len(out[-1]) < size:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def _records(batch: list[int], result: Any, task_id: str, p_hash: str, s_hash: str, kind: str, model: str,
             settings: dict[str, Any], prompt_format: str, round: int, parent: str | None) -> list[SampleRecord]:
    """One record per text of a backend result (indices `batch`)."""
    if len(result.texts) != len(batch):
        raise RuntimeError(f"backend returned {len(result.texts)} texts for a request of n={len(batch)}")
    now = time.time()
    reasons = getattr(result, "finish_reasons", None)
    return [
        SampleRecord(
            task_id=task_id, prompt_hash=p_hash, settings_hash=s_hash, index=index, text=text,
            backend=kind, model=model, prompt_format=prompt_format, settings=settings,
            prompt_tokens=_int_or_none(_per_text(getattr(result, "prompt_tokens", None), j)),
            completion_tokens=_int_or_none(_per_text(getattr(result, "completion_tokens", None), j)),
            finish_reason=_reason(_per_text(reasons, j)),
            round=round, parent=parent, source="model", created=now,
        )
        for j, (index, text) in enumerate(zip(batch, result.texts))
    ]


def sample_task(
    task_id: str,
    messages: Chat,
    n: int,
    backend: Any,
    config: InductionConfig,
    log: SampleLog,
    *,
    prompt_format: str,
    round: int = 0,
    parent: str | None = None,
) -> list[SampleRecord]:
    """Samples 0..n-1 of `messages` for `task_id`, drawing only those not yet in `log`."""
    kind, model = backend_identity(backend)
    settings = config.sampling_settings()
    p_hash = prompt_hash(messages)
    s_hash = settings_hash(kind, model, settings)
    have = log.existing(task_id, p_hash, s_hash)
    missing = [i for i in range(n) if i not in have]
    batches = _batches(missing, config.batch_size)
    for start in range(0, len(batches), config.requests_per_call):
        group = batches[start : start + config.requests_per_call]
        requests = [_request(messages, len(b), config, sample_seed(config.seed, task_id, round, parent, b[0]))
                    for b in group]
        results = backend.generate(requests)
        if len(results) != len(requests):
            raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
        records = [
            record
            for batch, result in zip(group, results)
            for record in _records(batch, result, task_id, p_hash, s_hash, kind, model, settings,
                                   prompt_format, round, parent)
        ]
        log.append(records)
        have.update({r.index: r for r in records})
    return [have[i] for i in range(n)]
