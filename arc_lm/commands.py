"""`arc-hybrid models`: where the embedded model lives, whether its cache is built; build it.
`arc-hybrid doctor`: import each backend's stack and say in one line what is broken and how to fix it."""
from __future__ import annotations

import argparse
import json

from arc_core.cli import Command
from arc_lm.models import DEFAULT_MODEL, EMBEDDED_MODELS, cache_state, resolve_model


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default=DEFAULT_MODEL, choices=sorted(EMBEDDED_MODELS), help="embedded model to show")
    p.add_argument("--build", action="store_true", help="de-quantise the GGUF into the cache now (~30 s once)")
    p.add_argument("--resolve", metavar="MODEL", help="print the local HF directory for MODEL (name, path or hub id)")
    p.add_argument("--json", action="store_true", help="print the state as JSON")


def _run(args: argparse.Namespace) -> int:
    if args.resolve:
        print(resolve_model(args.resolve))
        return 0
    if args.build:
        resolve_model(args.name)
    state = cache_state(args.name)
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    for key, value in state.items():
        print(f"{key:16s} {value}")
    if not state["model_cached"]:
        print(f"(run `arc-hybrid models --build` to de-quantise {args.name} once)")
    return 0


def _doctor_arguments(p: argparse.ArgumentParser) -> None:
    from arc_lm.doctor import STACKS

    p.add_argument("--backend", action="append", choices=sorted(STACKS),
                   help="backend to check (repeatable; default: hf, plus vllm when a vLLM package is installed)")


def _doctor(args: argparse.Namespace) -> int:
    from arc_lm.doctor import default_backends, diagnose

    results = [diagnose(b) for b in (args.backend or default_backends())]
    for d in results:
        print(d.line)
    return 0 if all(d.ok for d in results) else 1


COMMANDS = (
    Command("models", "show the embedded language model and its cache; --build fills the cache", _add_arguments, _run),
    Command("doctor", "import each backend's stack (hf, vllm, openai) and say what is broken and how to fix it",
            _doctor_arguments, _doctor),
)
