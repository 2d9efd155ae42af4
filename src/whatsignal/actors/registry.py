"""PollerRegistry: owns one SessionPoller per session and one SignalReceiver per bridge number.

Each child runs under :func:`~whatsignal.actors.supervisor.supervise` inside a cancel scope of
its own, so one session's crash restarts that session only, and one session can be stopped
without touching the others. A child's doorbell belongs to :class:`~whatsignal.actors.doorbells.
Doorbells` and outlives the child's restarts: a ring is never lost, and it is only a hint anyway
because the work itself waits in the journal.

Which sessions have a poller:

* the configured channels' sessions, from the start;
* sessions with rows left in the journal by an earlier run, if they still have a channel;
* a session the ``"*"`` channel serves, as soon as work for it is rung (a webhook arrived);
* whatever the :class:`~whatsignal.actors.session_monitor.SessionMonitor` starts and stops
  through :meth:`start` and :meth:`stop` (:class:`SessionControl`).

:class:`LiveSessions` is the registry's record of which sessions run now; the router and the
monitor read it, only the registry writes it.
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
from whatsignal.storage import Journal

__all__ = [
    "LiveSessions",
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


@attrs.define(eq=False)
class LiveSessions:
    """The sessions that have a poller now (written by the registry, read by others)."""

    _names: set[str] = attrs.field(factory=set, init=False)

    def running(self) -> list[str]:
        return sorted(self._names)

    def add(self, session: str) -> None:
        """The registry started the session's poller."""
        self._names.add(session)

    def discard(self, session: str) -> None:
        """The registry stopped the session's poller (or it ended)."""
        self._names.discard(session)


@attrs.define(eq=False, kw_only=True)
class PollerRegistry:
    """The supervisor of every session's poller and every bridge number's receiver.

    Args:
        sessions: the configured sessions (they always have a poller).
        serves: whether a session has a channel (its own or the ``"*"`` default).
        make_poller: builds a session's poller around its doorbell.
        receivers: the bridge numbers' receivers, built with their doorbells claimed.
        journal: asked once at start which queues still have pending rows.
    """

    doorbells: Doorbells
    live: LiveSessions
    sessions: tuple[str, ...]
    serves: Callable[[str], bool]
    make_poller: PollerFactory
    receivers: Sequence[Receiver]
    journal: Journal
    metrics: Metrics
    restart: RestartPolicy = attrs.field(factory=lambda: RestartPolicy(initial=1.0, maximum=60.0))
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _pollers: dict[str, Poller] = attrs.field(factory=dict, init=False)
    _scopes: dict[str, trio.CancelScope] = attrs.field(factory=dict, init=False)
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
                pending = await self.journal.queues_with_pending()
                leftovers = [q for q in pending if not q.startswith("signal:")]
                for session in dict.fromkeys([*self.sessions, *leftovers]):
                    if self.serves(session):
                        self.start(session)
                nursery.start_soon(self._follow_unclaimed)
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def _follow_unclaimed(self) -> NoReturn:
        """Start a poller for a ``"*"``-served session as soon as its first work is rung."""
        while True:
            for queue in await self.doorbells.unclaimed():
                if not queue.startswith("signal:") and self.serves(queue):
                    self.start(queue)

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
        self.live.add(session)
        self._nursery.start_soon(self._supervised, f"worker[{session}]", poller.run, scope, session)
        poller.doorbell.ring()  # look at what waits in the journal
        log.info("worker started", extra={"session": session})

    def stop(self, session: str) -> None:
        """Stop the session's poller (its rows wait in the journal). It no longer counts as
        running from now on, so a :meth:`start` right after starts a new one."""
        scope = self._scopes.pop(session, None)
        if scope is not None:
            self._pollers.pop(session, None)
            self.live.discard(session)
            scope.cancel(reason=f"session {session} stopped")

    def running(self) -> list[str]:
        return self.live.running()

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
                self.live.discard(session)

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
