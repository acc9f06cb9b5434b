"""CLI commands of the sandbox package: `arc-hybrid sandbox-info`."""
from __future__ import annotations

import argparse

from arc_core.cli import Command

from .config import SandboxConfig
from .info import sandbox_info


def _add_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bwrap", choices=("auto", "on", "off"), default="auto",
                        help="bubblewrap outer layer: auto (use when it works), on (require), off")
    parser.add_argument("--landlock", choices=("auto", "on", "off"), default="auto",
                        help="Landlock layer: auto (use when the kernel has it), on (require), off")
    parser.add_argument("--no-probe", action="store_true",
                        help="skip the live probe (a program run in a real sandbox that reports what it sees)")


def _run_info(args: argparse.Namespace) -> int:
    rows = sandbox_info(SandboxConfig(bwrap=args.bwrap, landlock=args.landlock), live=not args.no_probe)
    width = max(len(r.layer) for r in rows)
    for r in rows:
        print(f"{'active  ' if r.active else 'MISSING '} {r.layer:<{width}}  {r.reason}")
    return 0 if all(r.active for r in rows if r.layer.startswith("live probe")) else 1


COMMANDS = (
    Command("sandbox-info", "show which sandbox isolation layers are active on this machine and why",
            _add_info_arguments, _run_info),
)
