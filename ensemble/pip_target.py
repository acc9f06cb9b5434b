"""The install target of an offline bundle, as pip options, and the pure steps around pip's resolver.

`Target(python_version, platform, torch, extras)` names what the bundle is for. `pip_target_args`
turns it into pip's `--only-binary :all: --python-version --platform` options (none for this
interpreter); `platform_tags` expands one manylinux platform into every older tag a wheel may carry,
because pip matches `--platform` exactly (`manylinux_2_35_x86_64` alone would refuse tokenizers'
`manylinux_2_17` wheel). `target_constraints` rewrites the tested constraints for a torch choice:
`cpu` keeps the tested CPU build (`torch==X+cpu`), `cuda` asks for the same release without the local
tag (the PyPI wheel, built for CUDA), `none` drops torch (the target has its own, as Kaggle's images
do). `needed_without(report, drop)` reads pip's installation report (`pip install --dry-run --report`)
and keeps the packages reachable from the requested ones without passing through `drop`: torch's own
dependencies (nvidia-*, triton, sympy, ...) leave with it unless something else needs them. pip does
every resolution; this module only prunes its answer.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

TorchChoice = Literal["cpu", "cuda", "none"]
TORCH_CHOICES = ("cpu", "cuda", "none")
EXTRAS = ("ray", "vllm")
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Target:
    """What a bundle installs on: None = this interpreter / this machine."""

    python_version: str | None = None     # "3.11"
    platform: str | None = None           # "manylinux_2_35_x86_64"
    torch: TorchChoice = "cpu"
    extras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.python_version is not None and not re.fullmatch(r"3\.\d{1,2}", self.python_version):
            raise ValueError(f"--python-version must look like 3.11, got {self.python_version!r}")
        if self.torch not in TORCH_CHOICES:
            raise ValueError(f"--torch must be one of {', '.join(TORCH_CHOICES)}, got {self.torch!r}")
        for extra in self.extras:
            if extra not in EXTRAS:
                close = difflib.get_close_matches(extra, EXTRAS, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(EXTRAS)}"
                raise ValueError(f"unknown extra {extra!r} ({hint})")
        if self.platform is not None:
            platform_tags(self.platform)  # validates


def platform_tags(platform: str) -> list[str]:
    """`platform` and every older manylinux tag a wheel for it may carry (newest first)."""
    legacy = re.fullmatch(r"(manylinux2014|manylinux2010|manylinux1)_(\w+)", platform)
    if legacy:
        platform = f"manylinux_{_LEGACY[legacy.group(1)][0]}_{_LEGACY[legacy.group(1)][1]}_{legacy.group(2)}"
    m = _MANYLINUX.match(platform)
    if not m:
        if re.fullmatch(r"[a-z0-9_]+", platform):
            return [platform]  # e.g. macosx_14_0_arm64, win_amd64: pip's own matching
        raise ValueError(f"--platform {platform!r} is not a wheel platform tag (e.g. manylinux_2_35_x86_64)")
    major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
    if major != 2:
        raise ValueError(f"--platform {platform!r}: only glibc 2.x manylinux tags are known")
    tags = [f"manylinux_2_{n}_{arch}" for n in range(minor, 4, -1)]
    tags += [f"{name}_{arch}" for name, (_, n) in _LEGACY.items() if n <= minor]
    return tags


def pip_target_args(target: Target) -> list[str]:
    """pip options selecting wheels for `target` (empty for this interpreter and machine)."""
    args: list[str] = []
    if target.python_version:
        args += ["--python-version", target.python_version]
    if target.platform:
        for tag in platform_tags(target.platform):
            args += ["--platform", tag]
    if args:
        args = ["--only-binary", ":all:", *args]
    return args


def parse_pins(text: str) -> dict[str, str]:
    """{canonical name: version} of a constraints file's `name==version` lines (comments skipped)."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if not m:
            raise ValueError(f"constraints line {raw!r} is not name==version")
        pins[canonical(m.group(1))] = m.group(2)
    return pins


def target_constraints(tested: str, torch: TorchChoice) -> str:
    """The tested constraints rewritten for the torch choice (see the module docstring)."""
    out = []
    for raw in tested.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and canonical(re.split(r"[=<>!~ ;]", line, maxsplit=1)[0]) == "torch":
            if torch == "none":
                continue
            if torch == "cuda":
                raw = re.sub(r"\+[A-Za-z0-9.]+", "", raw)
        out.append(raw)
    return "\n".join(out) + "\n"


def _env(base: dict[str, str], python_version: str | None, extra: str) -> dict[str, str]:
    env = dict(base)
    if python_version:
        env.update(python_version=python_version, python_full_version=f"{python_version}.0")
    env["extra"] = extra
    return env


def _requirements(item: dict[str, Any], extras: Iterable[str], base_env: dict[str, str],
                  python_version: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """(name, extras) of every dependency of a report item that applies with `extras` on the target."""
    from packaging.requirements import Requirement

    out = []
    for spec in item["metadata"].get("requires_dist") or []:
        req = Requirement(spec)
        applies = req.marker is None or any(req.marker.evaluate(_env(base_env, python_version, e))
                                            for e in ("", *extras))
        if applies:
            out.append((canonical(req.name), tuple(sorted(req.extras))))
    return out


def needed_without(report: dict[str, Any], drop: set[str], python_version: str | None = None) -> list[dict[str, Any]]:
    """The report's items reachable from the requested ones without entering `drop` (canonical names)."""
    items = {canonical(i["metadata"]["name"]): i for i in report["install"]}
    base_env = report.get("environment", {})
    todo = [(n, tuple(i.get("requested_extras") or ())) for n, i in items.items() if i.get("requested")]
    seen: dict[str, set[str]] = {}
    while todo:
        name, extras = todo.pop()
        if name in drop or name not in items:
            continue
        if name in seen and set(extras) <= seen[name]:
            continue
        known = seen.setdefault(name, set())
        known.update(extras)
        todo += _requirements(items[name], known, base_env, python_version)
    return [items[n] for n in items if n in seen]
