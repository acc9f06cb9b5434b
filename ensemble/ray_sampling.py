"""Induction sampling on Ray: model actors that only sample, batched across tasks where it pays.

On Ray an induction stage runs on a 1-CPU *induction actor* (its sandbox, extraction, de-duplication,
verification, refinement and ranking: `induction.pipeline.induce_task` unchanged) and, when it samples
a model, asks a *sampler actor* for the texts through `RemoteSampler`, a backend whose `generate`
is a call to that actor. A sampler actor holds the LM backend (and the GPU) and nothing else: it
returns `GenerationResult`s (data) and never runs the sandbox, so GPUs are not held while programs
run, and verification spreads over the cluster's CPUs.

Batching (`RequestBatcher`): a sampler actor takes calls from many induction actors at once (a
threaded actor). Whenever its backend is idle, the calls waiting, up to `ray.sample_batch_tasks` of
them (several tasks' requests), go to the backend in one `generate` call; a call that arrives while
the backend is busy waits for the next one. No timer: batches form from the calls that queue up
while the accelerator works. A batch that fails is re-run call by call, so a bad request fails only
its own task. Every request keeps its own seed (`induction.sample.sample_seed`: seed, task, round,
parent, index), so what a request draws does not depend on the batch it travelled in, on backends
that honour per-request seeds (vLLM, OpenAI-compatible servers; on GPUs, vLLM's floating-point
results may still vary slightly with batch shape).

`default_batch_tasks` per backend: vllm and openai merge 16 tasks' calls. hf keeps one call per
task: its left-padded batches give results that depend on which rows share a batch (the tiny test
model's last-token logits for one prompt differ by 3.6e-7 alone vs padded beside a longer prompt,
so a merged call could flip a sample at a near-tie against a local run), and one task's samples
already fill its rows (`induction.batch_size` per request), so a merged call saves little.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

BATCHING_BACKENDS = {"hf": 1, "vllm": 16, "openai": 16}  # lm.backend -> tasks' calls per backend call


def default_batch_tasks(backend: str, configured: int) -> int:
    """Calls merged per backend call: `configured`, or 0 = the backend's default (see module doc)."""
    return configured or BATCHING_BACKENDS.get(backend, 1)


@dataclass
class _Call:
    requests: tuple[Any, ...]
    results: list[Any] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class RequestBatcher:
    """A backend's `generate` shared by concurrent callers, merging up to `max_calls` calls per
    backend call (see the module docstring). Thread-safe; `calls` counts backend calls. It reports
    the backend's identity (`name`, `model_name`), so sample records are those of the backend."""

    backend: Any
    max_calls: int
    calls: int = field(default=0, init=False)
    _cv: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _pending: list[_Call] = field(default_factory=list, init=False, repr=False)
    _busy: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise ValueError(f"max_calls must be >= 1, got {self.max_calls}")
        from induction.sample import backend_identity

        self.name, self.model_name = backend_identity(self.backend)

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        call = _Call(tuple(requests))
        with self._cv:
            self._pending.append(call)
            while not call.done:
                if self._busy:
                    self._cv.wait()
                    continue
                batch = self._pending[:self.max_calls]
                del self._pending[:len(batch)]
                self._busy = True
                self._cv.release()
                try:
                    self._run(batch)
                finally:
                    self._cv.acquire()
                    self._busy = False
                    self._cv.notify_all()
        if call.error is not None:
            raise call.error
        assert call.results is not None
        return call.results

    def _run(self, batch: list[_Call]) -> None:
        """One backend call for `batch`; on failure each call again alone (its own error)."""
        try:
            self._split(batch, self._generate([r for c in batch for r in c.requests]))
            return
        except Exception as e:
            if len(batch) == 1:
                batch[0].error, batch[0].done = e, True
                return
        for c in batch:
            try:
                self._split([c], self._generate(list(c.requests)))
            except Exception as e:
                c.error, c.done = e, True

    def _generate(self, requests: list[Any]) -> list[Any]:
        self.calls += 1
        results = list(self.backend.generate(requests)) if requests else []
        if len(results) != len(requests):
            raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
        return results

    @staticmethod
    def _split(batch: list[_Call], results: list[Any]) -> None:
        at = 0
        for c in batch:
            c.results, c.done = results[at:at + len(c.requests)], True
            at += len(c.requests)


class SamplerWorker:
    """A Ray actor (threaded, see `ensemble.ray_exec`): the LM backend, loaded once, behind a
    `RequestBatcher`. It samples and returns texts; it runs no sandbox."""

    def __init__(self, lm: Any, batch_tasks: int, seed: int, threads: int, name: str) -> None:
        import time

        from arc_core.seeds import seed_everything
        from arc_lm import load_backend

        t0 = time.perf_counter()
        seed_everything(seed, threads)
        self.name = name
        self.batcher = RequestBatcher(load_backend(lm), default_batch_tasks(lm.backend, batch_tasks))
        self.identity = (self.batcher.name, self.batcher.model_name)
        self.load_seconds = time.perf_counter() - t0

    def info(self) -> dict[str, Any]:
        import os
        import socket

        import ray

        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id()[:8], "load_seconds": self.load_seconds,
                "identity": self.identity, "batch_tasks": self.batcher.max_calls}

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        return self.batcher.generate(requests)

    def backend_calls(self) -> int:
        return self.batcher.calls

    def close(self) -> None:
        """Free the backend now (a vLLM engine's processes stop), before the actor is killed."""
        self.batcher.backend.close()


class SamplerLost(RuntimeError):
    """The sampler actor an induction stage was using died; the executor retries the stage."""


@dataclass
class RemoteSampler:
    """The backend an induction actor samples with: `generate` is a call to a sampler actor.
    `name`/`model_name` are the real backend's (so sample records and their keys match a local run)."""

    handle: Any
    worker: str
    name: str
    model_name: str
    lost: bool = False

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        import ray

        try:
            return ray.get(self.handle.generate.remote(list(requests)))
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as e:
            self.lost = True
            raise SamplerLost(f"sampler {self.worker} died: {type(e).__name__}") from None
