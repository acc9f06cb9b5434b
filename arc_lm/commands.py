"""`arc-hybrid models`: the embedded models (GGUF bases and shipped base + adapter models), where their
files are and whether their caches are built; build them.
`arc-hybrid doctor`: import each backend's stack and say in one line what is broken and how to fix it."""
from __future__ import annotations

import argparse
import json

from arc_core.cli import Command
from arc_lm.merged import EMBEDDED_ADAPTERS, merged_state
from arc_lm.models import EMBEDDED_MODELS, cache_state, resolve_model

KNOWN = sorted({*EMBEDDED_MODELS, *EMBEDDED_ADAPTERS})


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", choices=KNOWN, help="one embedded model to show (default: list them all)")
    p.add_argument("--build", action="store_true", help="build the cache of --name (default: of every embedded "
                   "model) now: de-quantise a GGUF (~30 s once), merge an adapter into its base (~10 s once)")
    p.add_argument("--resolve", metavar="MODEL", help="print the local HF directory for MODEL (name, path or hub id)")
    p.add_argument("--json", action="store_true", help="print the state as JSON")


def _state(name: str) -> dict:
    return merged_state(name) if name in EMBEDDED_ADAPTERS else {"kind": "embedded GGUF", **cache_state(name)}


def _run(args: argparse.Namespace) -> int:
    if args.resolve:
        print(resolve_model(args.resolve))
        return 0
    names = [args.name] if args.name else KNOWN
    if args.build:
        for name in names:
            resolve_model(name)
    states = [_state(n) for n in names]
    if args.json:
        print(json.dumps(states[0] if args.name else {"models": states}, indent=2))
        return 0
    for state in states:
        if not args.name:
            print(f"{state['name']:18s} {state['kind']:30s} {'cached' if state['model_cached'] else 'not built yet'}")
            continue
        for key, value in state.items():
            print(f"{key:16s} {value}")
    if any(not st["model_cached"] for st in states):
        print("(`arc-hybrid models --build [--name NAME]` builds the caches once; first use does it too)")
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
