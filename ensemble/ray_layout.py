"""How many Ray actors of each role a phase gets, decided from the cluster's live nodes before anything
is started, so that no actor is ever asked for that the cluster cannot place.

Roles and what one actor requests (`ensemble.ray_config`): a *sampler* (induction's LM),
*model* (TTT and inference on one model), *ttt* and *inference* (TTT apart from a serving engine)
actor requests `ray.cpus_per_worker` CPUs and, on a cluster with GPUs, `ray.gpus_per_worker` GPUs;
an *induction* actor (sandbox, verification) 1 CPU.

Counts: a setting left at 0 (`model_workers`, `sandbox_workers`) means as many as fit, capped by the
tasks to do; a setting given explicitly (or `serve_workers`, which has no automatic value) must fit,
or the run stops at once with an error that names the setting, before anything waits. "Fit" is
checked per node (first-fit decreasing of every actor of the phase onto the nodes' CPUs and GPUs),
so two 1-CPU nodes do not hold a 2-CPU actor. On a CPU-only cluster induction gives half the CPUs
to samplers by default and the rest to induction actors.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ensemble.config import RunConfig

_EPS = 1e-9


@dataclass(frozen=True)
class Resources:
    cpus: float
    gpus: float

    def __str__(self) -> str:
        return f"{self.cpus:g} CPU" + (f", {self.gpus:g} GPU" if self.gpus else "")


def live_nodes(nodes: Sequence[Mapping]) -> list[Resources]:
    """The total resources of each live node, from `ray.nodes()`."""
    return [Resources(float(n.get("Resources", {}).get("CPU", 0.0)), float(n.get("Resources", {}).get("GPU", 0.0)))
            for n in nodes if n.get("Alive")]


def fits(actors: Sequence[Resources], nodes: Sequence[Resources]) -> bool:
    """Whether every actor can be placed on some node at once (first-fit, largest first)."""
    free = [[n.cpus, n.gpus] for n in nodes]
    for a in sorted(actors, key=lambda a: (-a.gpus, -a.cpus)):
        slot = next((f for f in free if f[0] + _EPS >= a.cpus and f[1] + _EPS >= a.gpus), None)
        if slot is None:
            return False
        slot[0] -= a.cpus
        slot[1] -= a.gpus
    return True


def _most(role: Resources, placed: Sequence[Resources], nodes: Sequence[Resources], cap: int) -> int:
    """The largest n <= cap such that n actors of `role` fit beside `placed`."""
    n = 0
    while n < cap and fits([*placed, *[role] * (n + 1)], nodes):
        n += 1
    return n


def _describe(nodes: Sequence[Resources]) -> str:
    cpus, gpus = sum(n.cpus for n in nodes), sum(n.gpus for n in nodes)
    return f"{len(nodes)} live node(s): {cpus:g} CPU, {gpus:g} GPU in all"


@dataclass(frozen=True)
class Layout:
    """Actors per role for one phase, and what one actor of each role requests."""

    counts: dict[str, int]
    resources: dict[str, Resources]

    def actors(self) -> list[Resources]:
        return [self.resources[r] for r, n in self.counts.items() for _ in range(n)]


def actor_threads(cfg: RunConfig, cpus: float) -> int:
    """torch threads of an actor holding `cpus` CPUs: `ray.threads_per_worker`, else `torch_threads`,
    else its CPUs (the resume check records this for model actors: `runner.model_threads`)."""
    return cfg.ray.threads_per_worker or cfg.torch_threads or max(1, int(cpus))


def model_resources(cfg: RunConfig, nodes: Sequence[Resources]) -> Resources:
    gpus = cfg.ray.gpus_per_worker if any(n.gpus > 0 for n in nodes) else 0.0
    return Resources(cfg.ray.cpus_per_worker, gpus)


def plan(cfg: RunConfig, phase: str, counts: Mapping[str, int], nodes: Sequence[Resources],
         served: bool) -> Layout:
    """The actors of `phase` for `counts[stage]` tasks to do per stage (see the module docstring);
    ValueError naming the setting when what is asked for cannot be placed."""
    if not nodes:
        raise ValueError("the Ray cluster has no live node")
    rc = cfg.ray
    model = model_resources(cfg, nodes)
    if phase == "induction":
        return _induction(cfg, counts.get("induction", 0), nodes, model)
    n_tasks = max(counts.get("train", 0), counts.get("infer", 0))
    if not served:
        n = _sized("ray.model_workers", rc.model_workers, "model", model, [], nodes, n_tasks)
        return Layout({"model": n}, {"model": model})
    serve = 0
    if counts.get("infer", 0):
        serve = _sized("ray.serve_workers", rc.serve_workers, "inference", model, [], nodes, counts["infer"],
                       explicit=True)
    ttt = 0
    if counts.get("train", 0):  # beside every inference actor the setting asks for, however few tasks
        ttt = _sized("ray.model_workers", rc.model_workers, "TTT", model, [model] * rc.serve_workers, nodes,
                     counts["train"], beside=f"{rc.serve_workers} inference actor(s) (ray.serve_workers)",
                     fix="ray.serve_workers, or ray.gpus_per_worker (0.5 puts two actors on a GPU)")
    return Layout({"inference": serve, "ttt": ttt}, {"inference": model, "ttt": model})


def _induction(cfg: RunConfig, n_tasks: int, nodes: Sequence[Resources], model: Resources) -> Layout:
    rc = cfg.ray
    one = Resources(1.0, 0.0)
    samplers = 0
    if cfg.induction.n_samples > 0 and n_tasks:
        want = n_tasks
        if rc.model_workers == 0 and model.gpus == 0:  # CPU-only: half the CPUs sample, the rest verify
            want = min(want, max(1, math.floor(sum(n.cpus for n in nodes) / (2 * model.cpus) + _EPS)))
        samplers = _sized("ray.model_workers", rc.model_workers, "sampler", model, [], nodes, want)
    placed = [model] * (max(rc.model_workers, samplers) if samplers else 0)  # every sampler the setting asks for
    want = rc.sandbox_workers or n_tasks
    beside = f"{len(placed)} sampler(s) of ray.cpus_per_worker={model.cpus:g}" if placed else ""
    induction = _sized("ray.sandbox_workers", rc.sandbox_workers, "induction", one, placed, nodes, want, beside=beside,
                       fix="ray.model_workers or ray.cpus_per_worker (samplers take the rest)")
    return Layout({"sampler": samplers, "induction": induction}, {"sampler": model, "induction": one})


def _sized(setting: str, value: int, role: str, res: Resources, placed: Sequence[Resources],
           nodes: Sequence[Resources], want: int, explicit: bool = False, beside: str = "",
           fix: str = "ray.cpus_per_worker / ray.gpus_per_worker") -> int:
    """`value` actors of `role` when given (they must all fit, however few tasks there are: the setting
    is wrong for this cluster), at most `want`; else as many as fit up to `want` (at least 1)."""
    where = f" beside {beside}" if beside else ""
    if value or explicit:
        if not fits([*placed, *[res] * value], nodes):
            room = _most(res, placed, nodes, value)
            raise ValueError(f"{setting}={value} asks for {value} {role} actor(s) of {res} each{where}, but the "
                             f"cluster's {_describe(nodes)} hold {room}: lower {setting} or add nodes")
        return min(value, max(1, want))
    n = _most(res, placed, nodes, max(1, want))
    if n == 0:
        raise ValueError(f"no {role} actor of {res} fits{where} on the cluster's {_describe(nodes)}: lower {fix}")
    return n
