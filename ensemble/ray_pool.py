"""A pool of Ray actors of one role that keep their models loaded, for `ensemble.ray_exec`.

Ray does the hard parts: actors are created with `max_restarts` (a dead actor is restarted by Ray,
on any node with room, reloading its model in its own process) and nothing here waits for an actor:
each actor's readiness is a *probe* (a call of its `info` method, which Ray queues until the actor is
up) that the executor waits on together with the stages in flight. So a starting or restarting actor
never blocks the driver, and the others keep taking work meanwhile.

States: starting -> idle <-> busy; a call that fails because the actor died -> restarting (a new
probe) -> idle again once Ray restarted it. An actor whose probe fails for good (its constructor
raised, or Ray gave it up), or that died `death_limit` times in a row without finishing a job, is
dead: it is killed without restart and leaves the pool. `ray.util.ActorPool` is not used: it cannot
tell which job a failure belongs to, and it drops a dead actor instead of waiting for Ray's restart.
"""
from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class State(str, enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RESTARTING = "restarting"
    DEAD = "dead"


@dataclass(eq=False)
class Actor:
    handle: Any
    name: str
    role: str
    state: State = State.STARTING
    probe: Any = None          # the pending `info` call while starting or restarting
    since: float = 0.0         # when that probe was sent (time.monotonic)
    where: str = "?"           # host:pid node, from `info`
    info: dict = field(default_factory=dict)
    jobs: int = 0              # jobs finished
    deaths: int = 0            # deaths since its last finished job
    load: int = 0              # samplers: induction jobs in flight that sample with it
    holds: set[str] = field(default_factory=set)  # the task whose adapter it trained last (kept on its node)
    busy_with: str = ""


def death_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """The exceptions that mean the actor (or its node) died during a call."""
    ex = ray.exceptions
    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError")
    return tuple(getattr(ex, n) for n in names if hasattr(ex, n))


@dataclass
class Pool:
    """The actors of one role (see the module docstring)."""

    ray: Any
    role: str
    make: Callable[[str], Any]  # actor name -> a new actor handle
    log: Callable[[str], None]
    death_limit: int = 3
    actors: list[Actor] = field(default_factory=list)

    def start(self, n: int, first: int) -> None:
        """Create `n` actors named role-first, role-first+1, ... (no waiting)."""
        for k in range(n):
            name = f"{self.role}-{first + k}"
            a = Actor(self.make(name), name, self.role)
            a.probe, a.since = a.handle.info.remote(), time.monotonic()
            self.actors.append(a)

    def probes(self) -> dict[Any, Actor]:
        return {a.probe: a for a in self.actors if a.probe is not None}

    def on_probe(self, a: Actor) -> None:
        """A probe came back: the actor is up (again), or dead for good."""
        ref, a.probe = a.probe, None
        try:
            a.info = self.ray.get(ref)
        except getattr(self.ray.exceptions, "ActorUnavailableError", ()) as e:  # mid-restart: ask again
            self.log(f"ray: {a.name} is not reachable yet ({_first_line(e)}); waiting for it")
            a.probe = a.handle.info.remote()
            return
        except death_errors(self.ray) as e:
            self._bury(a, f"it cannot be started: {_first_line(e)}")
            return
        a.where = f"{a.info.get('host', '?')}:{a.info.get('pid', '?')} node {a.info.get('node', '?')}"
        back = "back" if a.state is State.RESTARTING else "ready"
        a.state = State.IDLE
        self.log(f"ray: {a.name} {back} on {a.where} (loaded in {a.info.get('load_seconds', 0.0):.1f}s)")

    def died(self, a: Actor, err: BaseException, during: str) -> None:
        """A call on `a` failed because it died: Ray restarts it, unless it keeps dying."""
        a.deaths += 1
        a.busy_with = ""
        self.log(f"[yellow]ray: {a.name} ({a.where}) died during {during}: {type(err).__name__}: "
                 f"{_first_line(err)}[/yellow]")
        if a.deaths >= self.death_limit:
            self._bury(a, f"it died {a.deaths} times in a row")
            return
        a.state = State.RESTARTING
        a.probe, a.since = a.handle.info.remote(), time.monotonic()

    def give_up_slow(self, timeout: float) -> None:
        """Give up every actor not up `timeout` seconds after its (re)start."""
        now = time.monotonic()
        for a in [a for a in self.actors if a.probe is not None and now - a.since > timeout]:
            self._bury(a, f"not up {timeout:g} s after it was (re)started (ray.start_timeout_s)")

    def finished(self, a: Actor) -> None:
        a.state, a.busy_with, a.deaths = State.IDLE, "", 0
        a.jobs += 1

    def _bury(self, a: Actor, why: str) -> None:
        a.state, a.probe = State.DEAD, None
        self.log(f"[yellow]ray: {a.name} is given up: {why}[/yellow]")
        try:
            self.ray.kill(a.handle, no_restart=True)
        except Exception as e:  # already gone with its node: nothing left to stop
            self.log(f"ray: {a.name} could not be killed ({type(e).__name__}); it is gone")
        self.actors.remove(a)

    def idle(self) -> list[Actor]:
        return [a for a in self.actors if a.state is State.IDLE]

    def alive(self) -> list[Actor]:
        """Actors that can still take work (now or once up)."""
        return [a for a in self.actors if a.state is not State.DEAD]

    def up(self) -> list[Actor]:
        return [a for a in self.actors if a.state in (State.IDLE, State.BUSY)]

    def close(self, timeout: float = 30.0) -> None:
        """Let each actor free what it holds (a vLLM engine stops its processes; one still starting
        closes once up, within `timeout`), then kill it."""
        calls = {a.name: a.handle.close.remote() for a in self.alive()}
        for a in list(self.actors):
            ref = calls.get(a.name)
            if ref is not None:
                try:
                    self.ray.get(ref, timeout=timeout)
                except Exception as e:  # a dying actor cannot close: killed below all the same
                    self.log(f"ray: {a.name} did not close cleanly ({type(e).__name__})")
            try:
                self.ray.kill(a.handle, no_restart=True)
            except Exception as e:
                self.log(f"ray: {a.name} could not be killed ({type(e).__name__}); it is gone")
        self.actors.clear()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
