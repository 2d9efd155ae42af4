"""PollerRegistry: owns one SessionPoller per session and one SignalReceiver per bridge number.

Each child runs under :func:`~whatsignal.actors.supervisor.supervise` inside a cancel scope of
its own, so one session's crash restarts that session only, and one session can be stopped
without touching the others. A child's doorbell belongs to :class:`~whatsignal.actors.doorbells.
Doorbells` and outlives the child's restarts: a ring is never lost, and it is only a hint anyway
because the work itself waits in the journal.

Which sessions have a poller is not the registry's decision: the configured sessions get
theirs at start, and from then on the
:class:`~whatsignal.actors.session_monitor.SessionMonitor` starts and stops them through
:meth:`start` and :meth:`stop` (:class:`SessionControl`), following its
:class:`~whatsignal.actors.session_table.SessionTable`.

"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NoReturn, Protocol

import attrs
import trio

from whatsignal.actors.doorbells import Doorbell, Doorbells
from whatsignal.actors.supervisor import RestartPolicy, supervise
from whatsignal.metrics import Metrics

__all__ = [
    "Poller",
    "PollerFactory",
    "PollerRegistry",
    "Receiver",
    "SessionControl",
]

log = logging.getLogger("whatsignal.registry")


class Poller(Protocol):
    """A session's poller (:class:`~whatsignal.actors.session_poller.SessionPoller`)."""

    @property
    def doorbell(self) -> Doorbell: ...

    @property
    def busy(self) -> set[str]: ...

    @property
    def last_activity(self) -> float | None: ...

    @property
    def last_error(self) -> str | None: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> NoReturn: ...


PollerFactory = Callable[[str, Doorbell], Poller]
"""Makes the poller of a session, given its doorbell."""


class Receiver(Protocol):
    """A bridge number's receiver (:class:`~whatsignal.actors.receiver.SignalReceiver`)."""

    @property
    def number(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> NoReturn: ...


class SessionControl(Protocol):
    """How the session monitor starts and stops sessions' pollers."""

    def start(self, session: str) -> None: ...

    def stop(self, session: str) -> None: ...

    def running(self) -> Sequence[str]: ...


@attrs.define(eq=False, kw_only=True)
class PollerRegistry:
    """The supervisor of every session's poller and every bridge number's receiver.

    Args:
        sessions: the configured sessions (they always have a poller).
        make_poller: builds a session's poller around its doorbell.
        receivers: the bridge numbers' receivers, built with their doorbells claimed.
    """

    doorbells: Doorbells
    sessions: tuple[str, ...]
    make_poller: PollerFactory
    receivers: Sequence[Receiver]
    metrics: Metrics
    restart: RestartPolicy = attrs.field(factory=lambda: RestartPolicy(initial=1.0, maximum=60.0))
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _pollers: dict[str, Poller] = attrs.field(factory=dict, init=False)
    _scopes: dict[str, trio.CancelScope] = attrs.field(factory=dict, init=False)
    _crashes: dict[str, int] = attrs.field(factory=dict, init=False)
    _restarting: set[str] = attrs.field(factory=set, init=False)
    _receiving: dict[str, trio.Event] = attrs.field(factory=dict, init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[PollerRegistry] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                for receiver in self.receivers:
                    # Not awaited: a receiver reports started once signal-cli answers, and the
                    # bridge must take WhatsApp's webhooks in the meantime.
                    ready = self._receiving[receiver.number] = trio.Event()
                    nursery.start_soon(self._receive, receiver, ready)
                for session in self.sessions:
                    self.start(session)
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def start(self, session: str) -> None:
        """Start the session's poller unless it runs already."""
        if session in self._pollers:
            return
        if self._nursery is None:
            raise RuntimeError("the registry is not running")
        poller = self.make_poller(session, self.doorbells.claim(session))
        scope = trio.CancelScope()
        self._pollers[session] = poller
        self._scopes[session] = scope

        async def incarnation(
            *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            self._restarting.discard(session)  # a new run after a crash
            await poller.run(task_status=task_status)

        name = f"worker[{session}]"
        self._nursery.start_soon(self._supervised, name, incarnation, scope, session)
        poller.doorbell.ring()  # look at what waits in the journal
        log.info("worker started", extra={"session": session, "event": "worker.started"})

    def stop(self, session: str) -> None:
        """Stop the session's poller (its rows wait in the journal). It no longer counts as
        running from now on, so a :meth:`start` right after starts a new one."""
        scope = self._scopes.pop(session, None)
        if scope is not None:
            self._pollers.pop(session, None)
            self._crashes.pop(session, None)
            self._restarting.discard(session)
            scope.cancel(reason=f"session {session} stopped")

    def running(self) -> list[str]:
        return sorted(self._pollers)

    def poller(self, session: str) -> Poller | None:
        """The session's poller, if it has one now (for the status page)."""
        return self._pollers.get(session)

    def crashes(self, session: str) -> tuple[int, bool]:
        """How often the session's poller crashed since it started, and whether it is
        waiting to be restarted now."""
        return self._crashes.get(session, 0), session in self._restarting

    async def receiving(self) -> None:
        """Return once every receiver has reported that it receives."""
        for ready in self._receiving.values():
            await ready.wait()

    async def _receive(self, receiver: Receiver, ready: trio.Event) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(
                    self._supervised,
                    f"receiver[{receiver.number[-4:]}]",
                    receiver.run,
                    trio.CancelScope(),
                    None,
                    fail_fast=False,
                )
            )
            ready.set()

    async def _supervised(
        self,
        name: str,
        run: Any,
        scope: trio.CancelScope,
        session: str | None,
        *,
        fail_fast: bool = True,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        def crashed(actor: str) -> None:
            self.metrics.restarts.labels(actor).inc()
            if session is not None:
                self._crashes[session] = self._crashes.get(session, 0) + 1
                self._restarting.add(session)

        try:
            with scope:
                await supervise(
                    name,
                    run,
                    self.restart,
                    on_crash=crashed,
                    fail_fast=fail_fast,
                    task_status=task_status,
                )
        finally:
            # Forget the poller, unless it was stopped and the session started again since.
            if session is not None and self._scopes.get(session) is scope:
                self._pollers.pop(session, None)
                self._scopes.pop(session, None)
                self._crashes.pop(session, None)
                self._restarting.discard(session)

    def snapshot(self) -> dict[str, Any]:
        """What the status page shows of the pollers and receivers (numbers masked)."""
        return {
            "workers": {
                name: {"in_flight": len(p.busy)} for name, p in sorted(self._pollers.items())
            },
            "receivers": {
                r.number[-4:].rjust(len(r.number), "*"): {"mode": r.mode, "connected": r.connected}
                for r in sorted(self.receivers, key=lambda r: r.number)
            },
        }
