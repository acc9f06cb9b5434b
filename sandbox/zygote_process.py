"""One launched zygote, seen from the orchestrator: exec with a clean environment (inside
bubblewrap when it works), the init handshake, non-blocking framed I/O, and kill/replace.

`Sandbox` (runner.py) owns one `ZygoteProcess` per module lane and decides what runs where; this
class only moves bytes and never interprets a program's result (decode.py does).
"""
from __future__ import annotations

import base64
import json
import os
import selectors
import signal
import subprocess
import tempfile
import time

from . import bwrap
from .config import SandboxConfig
from .inside import wire
from .seccomp_policy import compile_bpf


class SandboxError(RuntimeError):
    """The sandbox itself could not start (a configuration or environment problem)."""


def frame(msg: dict) -> bytes:
    body = json.dumps(msg).encode()
    return len(body).to_bytes(4, "big") + body


class ZygoteProcess:
    """A zygote process pre-importing `modules`; `start()` again after `kill()` replaces it."""

    def __init__(self, config: SandboxConfig, modules: tuple[str, ...], read_paths: list[str],
                 use_bwrap: bool) -> None:
        self.config, self.modules, self.read_paths, self.use_bwrap = config, modules, read_paths, use_bwrap
        self.hello: dict = {}
        self.proc: subprocess.Popen | None = None
        self.inbuf = bytearray()
        self._stderr = None
        self._sel: selectors.BaseSelector | None = None
        self._writing = False

    @property
    def pid(self) -> int | None:
        """Host pid of the launched process (bwrap, or the zygote itself without bwrap)."""
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        if self.proc is not None:
            return
        cfg = self.config
        argv = bwrap.zygote_command()
        if self.use_bwrap:
            argv = bwrap.bwrap_prefix(self.read_paths) + argv
        if self._stderr is not None:  # from a zygote that was replaced
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     env=dict(bwrap.CLEAN_ENV), close_fds=True, start_new_session=True, cwd="/")
        landlock_paths = None if cfg.landlock == "off" else []  # children read no file at all
        init = {"op": "init", "concurrency": cfg.workers, "timeout_s": cfg.timeout_s,
                "memory_mb": cfg.memory_mb, "cpu_s": cfg.cpu_limit_s, "fast_reuse": cfg.fast_reuse,
                "modules": list(self.modules),
                "prelude_path": cfg.prelude_path and os.path.realpath(cfg.prelude_path),
                "seccomp_bpf": base64.b64encode(compile_bpf()).decode(), "landlock_paths": landlock_paths,
                "landlock_required": cfg.landlock == "on"}
        try:
            self.write_now(frame(init))
            tag, body = self._read_message(timeout=120.0)
        except (OSError, SandboxError) as e:
            self.kill()
            raise SandboxError(f"sandbox zygote failed to start: {e}") from e
        if tag != b"H":
            self.kill()
            raise SandboxError(f"sandbox zygote failed to start: {body.decode(errors='replace')[:2000]}")
        self.hello = json.loads(body)
        if cfg.landlock == "on" and not self.hello.get("landlock_abi"):
            self.kill()
            raise SandboxError(f"landlock='on' but Landlock is unavailable: {self.hello.get('landlock')}")
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ)
        self._writing = False

    def close(self) -> None:
        proc, self.proc = self.proc, None
        self._close_selector()
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill(proc)
        finally:
            proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def kill(self, proc: subprocess.Popen | None = None) -> None:
        proc = proc or self.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the zygote's own session: bwrap and everything under it
        except ProcessLookupError:
            pass
        proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if proc is self.proc:
            self.proc = None
        self.inbuf.clear()
        self._close_selector()

    def _close_selector(self) -> None:
        if self._sel is not None:
            self._sel.close()
            self._sel = None

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode(errors="replace")

    # ---- I/O --------------------------------------------------------------------------------
    def write_now(self, data: bytes) -> None:
        """Blocking write (startup only, before the pipes are made non-blocking)."""
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _read_message(self, timeout: float) -> tuple[bytes, bytes]:
        """Blocking read of one H/F message during startup."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            if len(self.inbuf) >= 5:
                n = int.from_bytes(self.inbuf[1:5], "big")
                if len(self.inbuf) >= 5 + n:
                    tag, body = bytes(self.inbuf[:1]), bytes(self.inbuf[5:5 + n])
                    del self.inbuf[:5 + n]
                    return tag, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError(f"no answer within {timeout:.0f}s; stderr: {self.stderr_tail()}")
            sel = selectors.DefaultSelector()
            sel.register(fd, selectors.EVENT_READ)
            sel.select(left)
            sel.close()
            data = os.read(fd, 1 << 16)
            if not data:
                raise SandboxError(f"zygote exited during startup; stderr: {self.stderr_tail()}")
            self.inbuf += data

    def frames(self):
        """Yield complete RESULT frames from the buffer; raise WireError on a malformed one."""
        while len(self.inbuf) >= 1 + wire.RESULT_HEADER.size:
            if self.inbuf[0:1] != b"R":
                raise wire.WireError(f"unexpected frame tag {bytes(self.inbuf[:1])!r}")
            seq, outcome, detail, wall, cpu, n = wire.RESULT_HEADER.unpack_from(self.inbuf, 1)
            if n > 1 << 20 or outcome > wire.OUTCOME_SPAWN_FAILED:
                raise wire.WireError(f"bad RESULT header (outcome {outcome}, {n} bytes)")
            end = 1 + wire.RESULT_HEADER.size + n
            if len(self.inbuf) < end:
                return
            payload = bytes(self.inbuf[end - n:end])
            del self.inbuf[:end]
            yield seq, outcome, detail, wall, cpu, payload

    def pump(self, outbuf: bytearray) -> bool:
        """Write what fits, wait up to 0.5 s for output, read it. False when the zygote is gone."""
        proc, sel = self.proc, self._sel
        out_fd, in_fd = proc.stdout.fileno(), proc.stdin.fileno()
        if bool(outbuf) != self._writing:
            self._writing = bool(outbuf)
            (sel.register(in_fd, selectors.EVENT_WRITE) if outbuf else sel.unregister(in_fd))
        for key, _ in sel.select(0.5):
            if key.fd == in_fd:
                try:
                    n = os.write(in_fd, outbuf[:1 << 16])
                except BlockingIOError:
                    n = 0
                del outbuf[:n]
            else:
                data = os.read(out_fd, 1 << 20)
                if not data:
                    return False
                self.inbuf += data
        return True
