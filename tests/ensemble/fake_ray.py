"""A fake `ray` module for the Ray executor's unit tests: actors are plain objects in this process,
calls run when they are made, and what a real cluster does slowly or by accident (an actor dying in a
call, a restart that takes a while or never comes, nodes that disappear) is scripted.

Only what `ensemble.ray_exec` and `ensemble.ray_pool` use exists: `is_initialized`, `init`,
`shutdown`, `remote(**opts)(cls).options(**opts).remote(*args)`, `handle.method.remote(...)` and
`.options(num_returns="streaming")`, `wait`, `get`, `kill`, `nodes`, `exceptions`.
"""
from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any


class RayActorError(Exception):
    pass


class ActorDiedError(RayActorError):
    pass


class ActorUnavailableError(RayActorError):
    pass


class GetTimeoutError(Exception):
    pass


EXCEPTIONS = types.SimpleNamespace(RayActorError=RayActorError, ActorDiedError=ActorDiedError,
                                   ActorUnavailableError=ActorUnavailableError, GetTimeoutError=GetTimeoutError,
                                   WorkerCrashedError=RayActorError, NodeDiedError=RayActorError)


class Died(Exception):
    """Raised by a fake actor's method to die in that call (the process is gone)."""


class Ref:
    """A call's result: ready at once, or pending until the fake's clock reaches `ready_at`."""

    def __init__(self, fake: FakeRay, value: Any = None, error: BaseException | None = None,
                 ready_at: int = 0, thunk: Callable[[], Any] | None = None) -> None:
        self.fake, self.value, self.error, self.ready_at, self.thunk = fake, value, error, ready_at, thunk

    def ready(self) -> bool:
        return self.fake.clock >= self.ready_at

    def resolve(self) -> Any:
        if self.thunk is not None:  # a probe runs once its actor is up again
            thunk, self.thunk = self.thunk, None
            try:
                self.value = thunk()
            except BaseException as e:
                self.error = e
        if self.error is not None:
            raise self.error
        return self.value


class Stream:
    """A streaming generator call: each `next` gives a Ref of the next item."""

    def __init__(self, fake: FakeRay, items: list[Ref]) -> None:
        self.fake, self.items = fake, items

    def ready(self) -> bool:
        return True

    def __next__(self) -> Ref:
        if not self.items:
            raise StopIteration
        return self.items.pop(0)


class Handle:
    def __init__(self, fake: FakeRay, obj: Any, name: str, opts: dict) -> None:
        self.fake, self.obj, self.name, self.opts = fake, obj, name, opts
        self.dead = False          # given up (killed, or its constructor failed)
        self.restart_at = 0        # the clock tick a restarting actor is up again
        self.restarts = 0
        self.calls: list[str] = []

    def __getattr__(self, method: str) -> _Method:
        return _Method(self, method)


class _Method:
    def __init__(self, handle: Handle, name: str, streaming: bool = False) -> None:
        self.handle, self.name, self.streaming = handle, name, streaming

    def options(self, num_returns: str | None = None) -> _Method:
        return _Method(self.handle, self.name, num_returns == "streaming")

    def remote(self, *args: Any) -> Ref | Stream:
        h, fake = self.handle, self.handle.fake
        h.calls.append(self.name)
        if h.dead:
            return Ref(fake, error=ActorDiedError(f"{h.name} is dead"))
        if fake.clock < h.restart_at:  # restarting: calls wait for it (Ray queues them)
            return Ref(fake, ready_at=h.restart_at, thunk=lambda: self._call(args))
        if self.streaming:
            return self._stream(args)
        return self._call_ref(args)

    def _call(self, args: tuple) -> Any:
        try:
            return getattr(self.handle.obj, self.name)(*args)
        except Died as e:
            self.handle.fake.died(self.handle)
            raise ActorUnavailableError(f"{self.handle.name} died: {e}") from None

    def _call_ref(self, args: tuple) -> Ref:
        try:
            return Ref(self.handle.fake, value=self._call(args))
        except RayActorError as e:
            return Ref(self.handle.fake, error=e)

    def _stream(self, args: tuple) -> Stream:
        items: list[Ref] = []
        try:
            for item in getattr(self.handle.obj, self.name)(*args):
                items.append(Ref(self.handle.fake, value=item))
        except Died as e:
            self.handle.fake.died(self.handle)
            items.append(Ref(self.handle.fake, error=ActorUnavailableError(f"{self.handle.name} died: {e}")))
        return Stream(self.handle.fake, items)


class _ActorClass:
    def __init__(self, fake: FakeRay, cls: type, opts: dict) -> None:
        self.fake, self.cls, self.opts = fake, cls, opts

    def options(self, **opts: Any) -> _ActorClass:
        return _ActorClass(self.fake, self.cls, {**self.opts, **opts})

    def remote(self, *args: Any) -> Handle:
        impl = self.fake.impls[self.cls.__name__]
        name = args[-1] if args and isinstance(args[-1], str) else f"actor-{len(self.fake.handles)}"
        obj = impl(*args)
        h = Handle(self.fake, obj, name, self.opts)
        self.fake.handles.append(h)
        return h


class FakeRay:
    """The fake module. `impls`: class name -> the fake class built instead (same constructor args).
    `restart_ticks`: how many `wait` calls a dead actor takes to come back (None: never)."""

    def __init__(self, impls: dict[str, type], cpus: float = 2.0, gpus: float = 0.0, initialized: bool = True,
                 restart_ticks: int | None = 3) -> None:
        self.impls, self.clock, self.restart_ticks = impls, 0, restart_ticks
        self.node_list = [{"Alive": True, "Resources": {"CPU": cpus, "GPU": gpus}, "NodeID": "node-a"}]
        self.handles: list[Handle] = []
        self.killed: list[str] = []
        self._initialized = initialized
        self.shut_down = False
        self.exceptions = EXCEPTIONS

    # -- the module's functions
    def is_initialized(self) -> bool:
        return self._initialized

    def init(self, **kwargs: Any) -> None:
        self._initialized = True

    def shutdown(self) -> None:
        self.shut_down = True

    def remote(self, **opts: Any) -> Callable[[type], _ActorClass]:
        return lambda cls: _ActorClass(self, cls, opts)

    def nodes(self) -> list[dict]:
        return [dict(n) for n in self.node_list]

    def kill(self, handle: Handle, no_restart: bool = True) -> None:
        handle.dead = True
        self.killed.append(handle.name)

    def get(self, ref: Ref, timeout: float | None = None) -> Any:
        if not ref.ready():
            raise GetTimeoutError("not ready")
        return ref.resolve()

    def wait(self, refs: list, num_returns: int = 1, timeout: float | None = None) -> tuple[list, list]:
        self.clock += 1
        ready = [r for r in refs if r.ready()][:num_returns]
        if not ready:  # nothing ready: time passes (a little, here)
            time.sleep(min(timeout or 0.0, 0.01))
        return ready, [r for r in refs if r not in ready]

    # -- scripting
    def died(self, handle: Handle) -> None:
        handle.restarts += 1
        handle.restart_at = self.clock + self.restart_ticks if self.restart_ticks is not None else 10**9

    def by_name(self, name: str) -> Handle:
        return next(h for h in self.handles if h.name == name)
