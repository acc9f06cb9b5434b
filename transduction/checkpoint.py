"""Resumable training state for `finetune`, and progress lines with an ETA.

`Checkpointer(directory, key, every)` writes the trainable weights, the optimiser and scheduler
state, the losses so far and torch's RNG state every `every` optimiser steps to
`directory/state.pt`, atomically (written to a temporary file, flushed, then renamed), so a
process killed at any moment (`kill -9`) leaves either the previous checkpoint or the new one.
`load(model)` restores the weights into `model` and returns the `transduction.train.Resume` that
`fit` continues from: the same batches follow (their order depends on the seed only), so a resumed
run ends with the same weights and losses as an uninterrupted one (tests/transduction/test_finetune.py;
on CPU they are equal bit for bit). `key` identifies the run (configuration and data digest); a
checkpoint of another run is refused with an error rather than continued.

The state is a `torch.save` file of tensors and plain containers, loaded with `weights_only=True`
(no code is unpickled). `Progress` logs step, loss, tokens/s, elapsed time and the ETA.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transduction.train import Resume

STATE_FILE = "state.pt"


def trainable_state(model: Any) -> dict[str, Any]:
    """The parameters that train (LoRA weights, or every weight in full fine-tuning), detached copies."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


class Checkpointer:
    """Periodic atomic checkpoints of one training run (see the module docstring)."""

    def __init__(self, directory: str | Path, key: str, every: int) -> None:
        if every < 0:
            raise ValueError(f"checkpoint interval must be >= 0 steps, got {every}")
        self.directory, self.key, self.every = Path(directory), key, every
        self.model: Any = None

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    def __call__(self, state: Resume) -> None:
        """`fit`'s checkpoint hook: save every `every` steps (0: never)."""
        if self.every and state.step % self.every == 0:
            self.save(state)

    def save(self, state: Resume) -> None:
        import torch

        assert self.model is not None, "Checkpointer.model must be set before training"
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(STATE_FILE + f".tmp-{os.getpid()}")
        payload = {"key": self.key, "step": state.step, "losses": list(state.losses),
                   "optimizer": state.optimizer, "scheduler": state.scheduler,
                   "weights": trainable_state(self.model), "torch_rng": torch.get_rng_state()}
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def load(self, model: Any) -> Resume | None:
        """Restore the weights into `model`; the state `fit` resumes from, or None without a checkpoint."""
        import torch

        if not self.path.is_file():
            return None
        payload = torch.load(self.path, map_location="cpu", weights_only=True)
        if payload.get("key") != self.key:
            raise ValueError(f"{self.path}: a checkpoint of another fine-tuning run (other configuration or data); "
                             "use another --out, or delete the checkpoint directory to start over")
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        if set(payload["weights"]) != names:
            raise ValueError(f"{self.path}: its weights do not match the model's trainable parameters")
        result = model.load_state_dict(payload["weights"], strict=False)
        assert not result.unexpected_keys, result.unexpected_keys
        torch.set_rng_state(payload["torch_rng"])
        return Resume(payload["step"], list(payload["losses"]), payload["optimizer"], payload["scheduler"])

    def remove(self) -> None:
        """Delete the checkpoint once the run's results are written."""
        if self.path.is_file():
            self.path.unlink()
        if self.directory.is_dir() and not any(self.directory.iterdir()):
            self.directory.rmdir()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """`fit`'s on_step hook: a line every `every` steps (and at the last) with the mean loss since
    the last line, tokens/s and the ETA from this process's pace."""

    def __init__(self, total: int, step_tokens: Sequence[int], start_step: int, log: Callable[[str], None],
                 every: int = 10) -> None:
        self.total, self.step_tokens, self.log, self.every = total, step_tokens, log, max(1, every)
        self.start_step = start_step
        self.start = time.perf_counter()
        self.window: list[float] = []

    def __call__(self, step: int, loss: float) -> None:
        self.window.append(loss)
        if step % self.every and step != self.total:
            return
        elapsed = time.perf_counter() - self.start
        done = step - self.start_step
        tokens = sum(self.step_tokens[self.start_step:step])
        eta = elapsed / done * (self.total - step) if done else 0.0
        self.log(f"step {step}/{self.total} loss {sum(self.window) / len(self.window):.4f} "
                 f"{tokens / elapsed if elapsed else 0.0:.0f} tok/s elapsed {_clock(elapsed)} ETA {_clock(eta)}")
        self.window.clear()
