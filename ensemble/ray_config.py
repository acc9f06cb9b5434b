"""How a run uses a Ray cluster (`arc-hybrid run --ray [ADDRESS]`, or `[ray]` in the run config).

Ray is only the executor (see `ensemble.ray_exec`): what a stage computes, the store, resume and
failure recording are the runner's, unchanged. These settings decide where stages run, never what
they compute, so they are free to change between invocations on one RUN_DIR.

enabled:            run the solver stages on Ray actors (off = today's in-process run).
address:            "" starts a local cluster in this process; "auto" joins the cluster running on
                    this machine (`ray start --head`); "HOST:PORT" or "ray://HOST:PORT" joins that one.
model_workers:      actors holding a model (TTT, transduction inference, induction sampling);
                    0 = as many as fit: cluster GPUs / gpus_per_worker (less the inference actors
                    when transduction is served), or on a CPU-only cluster cluster CPUs /
                    cpus_per_worker (half of them for induction's samplers, the rest verifies).
gpus_per_worker:    GPUs each model actor requests; a fraction (0.5, 0.25) lets several small
                    models share one GPU. Ignored (0) on a cluster without GPUs.
cpus_per_worker:    CPUs each model actor requests.
sandbox_workers:    1-CPU induction actors (sandbox, extraction, verification, ranking; they sample
                    through the model actors, which never run the sandbox); 0 = one per cluster
                    CPU left after the samplers. Each runs its sandbox with `sandbox.concurrency`
                    children (0 = 1 per actor, so the actors fill the CPUs).
sample_batch_tasks: tasks' sampling calls a sampler actor merges into one backend call
                    (`ensemble.ray_sampling`); 0 = by backend: 16 for vllm and openai, 1 for hf
                    (its padded batches make results depend on batch composition).
transduction_serving: "auto" (vllm: TTT actors train and save adapters, inference actors keep a
                    vLLM engine loaded and finish several tasks per call through
                    `transduction.serving`), "on" (the same with any backend, an HF one serving
                    the saved adapters), "off" (inference in the TTT actor, as in a local run).
serve_workers:      inference actors when transduction is served (each requests gpus_per_worker).
serve_batch_tasks:  trained tasks an inference actor finishes in one call (the last batch of a
                    stage may be smaller).
threads_per_worker: torch.set_num_threads in each actor; 0 = the run's `torch_threads`, else the
                    actor's CPU count. For byte-identical answers to a local run use the same
                    thread count in both (float reductions depend on it on CPU).
max_retries:        times a stage whose actor died (SIGKILL, node lost) is resubmitted to another
                    actor before it is recorded failed (`crashed`), like any failed stage.
start_timeout_s:    an actor not up this many seconds after it was started or Ray began restarting it
                    (its model still loading, or no room for it on the cluster) is given up; stages
                    left without any actor are then recorded `crashed` instead of waiting forever.
num_cpus:           CPUs of a locally started cluster (address ""); 0 = all of this machine's.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

SERVING_MODES = ("auto", "on", "off")
INSTALL_HINT = "--ray needs Ray: pip install 'arc-hybrid[ray]'"


@dataclass(frozen=True)
class RayConfig:
    enabled: bool = False
    address: str = ""
    model_workers: int = 0
    gpus_per_worker: float = 1.0
    cpus_per_worker: float = 1.0
    sandbox_workers: int = 0
    threads_per_worker: int = 0
    max_retries: int = 1
    start_timeout_s: float = 900.0
    num_cpus: int = 0
    sample_batch_tasks: int = 0
    transduction_serving: str = "auto"
    serve_workers: int = 1
    serve_batch_tasks: int = 8

    def __post_init__(self) -> None:
        for name in ("model_workers", "sandbox_workers", "threads_per_worker", "max_retries", "num_cpus",
                     "sample_batch_tasks"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"ray.{name} must be a non-negative int, got {v!r}")
        if not 0 < self.start_timeout_s <= 86400:
            raise ValueError(f"ray.start_timeout_s must be in (0, 86400], got {self.start_timeout_s}")
        if not 0 <= self.gpus_per_worker <= 64:
            raise ValueError(f"ray.gpus_per_worker must be in 0..64 (a fraction shares a GPU), got {self.gpus_per_worker}")
        if not 0 < self.cpus_per_worker <= 1024:
            raise ValueError(f"ray.cpus_per_worker must be in (0, 1024], got {self.cpus_per_worker}")
        for name in ("serve_workers", "serve_batch_tasks"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ray.{name} must be an int >= 1, got {v!r}")
        if self.transduction_serving not in SERVING_MODES:
            close = difflib.get_close_matches(self.transduction_serving, SERVING_MODES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"ray.transduction_serving={self.transduction_serving!r}: {hint}"
                             f"choose one of {', '.join(SERVING_MODES)}")
        if self.address.strip() != self.address:
            raise ValueError(f"ray.address has surrounding spaces: {self.address!r}")
