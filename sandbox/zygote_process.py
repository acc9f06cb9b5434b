"""One launched zygote, seen from the orchestrator: exec with a clean environment (inside
bubblewrap when it works), the start-up handshake, non-blocking framed I/O, and kill/replace.

`Sandbox` (runner.py) owns one `ZygoteProcess` per module lane and decides what runs where; this
class only moves bytes and never interprets a program's result (decode.py does).

The orchestrator never blocks on a zygote: both protocol pipes are non-blocking from the start
and every read and write waits for readiness in a selector with a deadline (start-up included:
a prelude that never finishes loading is a clear SandboxError after `start_timeout_s`). The
protocol pipes are private fds of the zygote; its stdin and stdout are /dev/null, its stderr a
capture file (quoted in errors). A zygote dies with this process however it ends: it arms
PDEATHSIG first thing (and bubblewrap's --die-with-parent covers the jail), and `kill()` kills
its whole process group (children never leave it). PDEATHSIG follows the *thread* that started
the zygote: a zygote started from a thread that then ends dies with it, and the next `run`
replaces it (as for any zygote that died).
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
from .prelude import PreludeModule
from .seccomp_policy import compile_bpf


class SandboxError(RuntimeError):
    """The sandbox itself could not start (a configuration or environment problem)."""


def frame(msg: dict) -> bytes:
    body = json.dumps(msg).encode()
    return len(body).to_bytes(4, "big") + body


class ZygoteProcess:
    """A zygote process pre-importing `modules`; `start()` again after `kill()` replaces it."""

    def __init__(self, config: SandboxConfig, modules: tuple[str, ...], read_paths: list[str],
                 use_bwrap: bool, prelude: tuple[PreludeModule, ...] = ()) -> None:
        self.config, self.modules, self.read_paths, self.use_bwrap = config, modules, read_paths, use_bwrap
        self.prelude = prelude
        self.hello: dict = {}
        self.proc: subprocess.Popen | None = None
        self.rfd = self.wfd = -1
        self.inbuf = bytearray()
        self._stderr = None
        self._sel: selectors.BaseSelector | None = None
        self._writing = False

    @property
    def pid(self) -> int | None:
        """Host pid of the launched process (bwrap, or the zygote itself without bwrap)."""
        return self.proc.pid if self.proc is not None else None

    def _init_message(self) -> dict:
        cfg = self.config
        return {"op": "init", "concurrency": cfg.workers, "timeout_s": cfg.timeout_s,
                "memory_mb": cfg.memory_mb, "cpu_s": cfg.cpu_limit_s, "fast_reuse": cfg.fast_reuse,
                "modules": list(self.modules), "empty_root": cfg.empty_root,
                "prelude": [{"name": m.name, "path": m.path, "source": m.source, "package": m.package}
                            for m in self.prelude],
                "seccomp_child": base64.b64encode(compile_bpf("child")).decode(),
                "seccomp_zygote": base64.b64encode(compile_bpf("zygote")).decode(),
                "landlock": cfg.landlock != "off", "landlock_required": cfg.landlock == "on"}

    def start(self) -> None:
        if self.proc is not None:
            return
        cfg = self.config
        to_zygote, from_zygote = os.pipe(), os.pipe()  # (read end, write end) each
        argv = bwrap.zygote_command(to_zygote[0], from_zygote[1], 0 if self.use_bwrap else os.getpid())
        if self.use_bwrap:
            argv = bwrap.bwrap_prefix(self.read_paths) + argv
        if self._stderr is not None:  # from a zygote that was replaced
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()
        try:
            try:
                init = frame(self._init_message())
            except (OSError, ImportError) as e:
                raise SandboxError(f"cannot compile the seccomp filters: {e} (install libseccomp2 and pyseccomp)") from e
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                         pass_fds=(to_zygote[0], from_zygote[1]), env=dict(bwrap.CLEAN_ENV),
                                         close_fds=True, start_new_session=True, cwd="/")
        except BaseException:
            for fd in (*to_zygote, *from_zygote):
                os.close(fd)
            raise
        os.close(to_zygote[0])
        os.close(from_zygote[1])
        self.wfd, self.rfd = to_zygote[1], from_zygote[0]
        os.set_blocking(self.wfd, False)
        os.set_blocking(self.rfd, False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.rfd, selectors.EVENT_READ)
        self._writing = False
        try:
            self.hello = self._handshake(bytearray(init), time.monotonic() + cfg.start_timeout_s)
        except (OSError, ValueError, SandboxError) as e:
            self.kill()
            raise SandboxError(f"sandbox zygote failed to start: {e}") from e
        if cfg.landlock == "on" and not self.hello.get("landlock_abi"):
            self.kill()
            raise SandboxError(f"landlock='on' but Landlock is unavailable: {self.hello.get('landlock')}")

    def _handshake(self, outbuf: bytearray, deadline: float) -> dict:
        """Send `init`, then read frames until HELLO; FATAL, EOF, junk or the deadline raise."""
        phase = "starting (importing its modules)"
        while True:
            while len(self.inbuf) >= 5:
                tag, n = bytes(self.inbuf[:1]), int.from_bytes(self.inbuf[1:5], "big")
                if tag not in b"HFP" or n > wire.MAX_MESSAGE:
                    raise SandboxError(f"unexpected bytes from the zygote while {phase}: {bytes(self.inbuf[:40])!r}")
                if len(self.inbuf) < 5 + n:
                    break
                body = bytes(self.inbuf[5:5 + n])
                del self.inbuf[:5 + n]
                if tag == b"F":  # "<stage>: <error>" first, then the traceback
                    text = body.decode(errors="replace")
                    head, _, rest = text.partition("\n")
                    raise SandboxError(head[:2000] + (f"\n{rest[-3000:]}" if rest else ""))
                if tag == b"H":
                    hello = json.loads(body)
                    if not isinstance(hello, dict):
                        raise SandboxError(f"malformed HELLO from the zygote while {phase}")
                    return hello
                phase = f"loading the prelude {self.prelude[0].path if self.prelude else ''}"
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError(f"no answer within {self.config.start_timeout_s:g}s while {phase}"
                                   f"{self._stderr_note()}")
            alive = self._io(outbuf, min(left, 0.5))
            if not alive:
                try:
                    code = self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = None
                how = (f"killed by signal {-code}" if code is not None and code < 0 else
                       f"exit code {code}" if code is not None else "closed its pipe")
                raise SandboxError(f"the zygote ended ({how}) while {phase}"
                                   + (" (the prelude ended the process: os._exit, a fatal signal?)"
                                      if phase.startswith("loading") else "") + self._stderr_note())

    def _stderr_note(self) -> str:
        tail = self.stderr_tail().strip()
        return f"; stderr: {tail}" if tail else "; stderr: (empty)"

    def close(self) -> None:
        proc, self.proc = self.proc, None
        self._close_selector()
        if proc is None:
            return
        try:
            self._close_fd("wfd")  # EOF: the zygote finishes its children and exits
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill(proc)
        finally:
            self._close_fd("rfd")
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def kill(self, proc: subprocess.Popen | None = None) -> None:
        proc = proc or self.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the zygote's process group: bwrap, the zygote, its children
        except ProcessLookupError:
            pass
        proc.wait()
        self._close_fd("wfd")
        self._close_fd("rfd")
        if proc is self.proc:
            self.proc = None
        self.inbuf.clear()
        self._close_selector()

    def _close_fd(self, name: str) -> None:
        fd = getattr(self, name)
        if fd >= 0:
            setattr(self, name, -1)
            os.close(fd)

    def _close_selector(self) -> None:
        if self._sel is not None:
            self._sel.close()
            self._sel = None

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 2000))
        return self._stderr.read().decode(errors="replace")

    # ---- I/O --------------------------------------------------------------------------------
    def _io(self, outbuf: bytearray, timeout: float) -> bool:
        """Write what fits of `outbuf`, wait up to `timeout` for output, read it (never blocks
        longer). False when the zygote closed its end."""
        sel = self._sel
        if bool(outbuf) != self._writing:
            self._writing = bool(outbuf)
            (sel.register(self.wfd, selectors.EVENT_WRITE) if outbuf else sel.unregister(self.wfd))
        for key, _ in sel.select(timeout):
            if key.fd == self.wfd:
                try:
                    n = os.write(self.wfd, outbuf[:1 << 16])
                except BlockingIOError:
                    n = 0
                del outbuf[:n]
            else:
                try:
                    data = os.read(self.rfd, 1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    return False
                self.inbuf += data
        return True

    def frames(self):
        """Yield complete RESULT frames from the buffer; raise WireError on a malformed one."""
        while len(self.inbuf) >= 1 + wire.RESULT_HEADER.size:
            if self.inbuf[0:1] != b"R":
                raise wire.WireError(f"unexpected frame tag {bytes(self.inbuf[:1])!r}")
            seq, outcome, detail, wall, cpu, reused, n = wire.RESULT_HEADER.unpack_from(self.inbuf, 1)
            if n > 1 << 20 or outcome > wire.OUTCOME_SPAWN_FAILED:
                raise wire.WireError(f"bad RESULT header (outcome {outcome}, {n} bytes)")
            end = 1 + wire.RESULT_HEADER.size + n
            if len(self.inbuf) < end:
                return
            payload = bytes(self.inbuf[end - n:end])
            del self.inbuf[:end]
            yield seq, outcome, detail, wall, cpu, reused, payload

    def pump(self, outbuf: bytearray) -> bool:
        """Write what fits, wait up to 0.5 s for output, read it. False when the zygote is gone."""
        return self._io(outbuf, 0.5)
