"""`arc-hybrid bundle`: an offline install bundle with a Kaggle notebook (ensemble.bundle)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arc_core.cli import Command
from ensemble.pip_target import EXTRAS, TORCH_CHOICES


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="bundle directory to create (new or empty)")
    p.add_argument("--python-version", help="target Python, e.g. 3.11 (default: this interpreter's)")
    p.add_argument("--platform", help="target wheel platform, e.g. manylinux_2_35_x86_64 (default: this machine); "
                   "older manylinux tags are accepted too")
    p.add_argument("--torch", choices=TORCH_CHOICES, default="cpu",
                   help="cpu: the tested CPU build; cuda: the same release from PyPI (CUDA, several GB); none: "
                   "leave torch out (the target has it, as Kaggle's images do). Default cpu")
    p.add_argument("--extra", action="append", default=[], choices=EXTRAS,
                   help="optional dependency group to include (repeatable): " + ", ".join(EXTRAS))
    p.add_argument("--extra-index-url", action="append", default=[], metavar="URL",
                   help="another package index for the downloads, e.g. https://download.pytorch.org/whl/cpu")
    p.add_argument("--constraints", type=Path, help="the tested set to pin (default: the one shipped with arc-hybrid)")
    p.add_argument("--project", type=Path, help="arc-hybrid source tree to build (default: the one running)")
    p.add_argument("--write-constraints", type=Path, metavar="FILE",
                   help="instead of building: write this environment's `pip freeze` as the tested set to FILE")


def _run(args: argparse.Namespace) -> int:
    from ensemble.bundle import TESTED_CONSTRAINTS, BundleConfig, build_bundle, freeze_constraints
    from ensemble.pip_target import Target

    if args.write_constraints is not None:
        args.write_constraints.write_text(freeze_constraints())
        print(f"wrote the tested set to {args.write_constraints}")
        return 0
    if args.out is None:
        raise ValueError("give --out DIR (or --write-constraints FILE)")
    target = Target(args.python_version, args.platform, args.torch, tuple(dict.fromkeys(args.extra)))
    cfg = BundleConfig(args.out, target, args.project, args.constraints or TESTED_CONSTRAINTS,
                       tuple(args.extra_index_url))
    result = build_bundle(cfg, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"bundle {result.out}: {result.n_wheels} wheels, {result.total_bytes / 2**20:.0f} MiB, "
          f"built in {result.seconds:.0f} s; install with `bash {result.out}/install.sh`; Kaggle notebook "
          f"{result.out}/kaggle_notebook.ipynb")
    if result.outside_tested_set:
        print("not pinned by the tested set: " + ", ".join(result.outside_tested_set))
    return 0


COMMANDS = (
    Command("bundle", "an offline install bundle: wheels of arc-hybrid and its dependencies for a target "
            "Python/platform/torch, the embedded model, install.sh and a Kaggle notebook", _args, _run),
)
