"""PollerRegistry: owns one SessionPoller per session and one SignalReceiver per bridge number.

Each child runs under :func:`~whatsignal.actors.supervisor.supervise` inside a cancel scope of
its own, so one session's crash restarts that session only, and one session can be stopped
without touching the others. A child's doorbell belongs to :class:`~whatsignal.actors.doorbells.
Doorbells` and outlives the child's restarts: a ring is never lost, and it is only a hint anyway
because the work itself waits in the journal.

A session's poller runs in a task only while it has work: once idle it *rests* (its ``run``
returns), the registry parks its doorbell and the task ends; the next ring of that session
(:meth:`Doorbells.woken`) starts it again. So thousands of idle sessions cost no task, no
timer and no scan. A started session rests at once unless its doorbell rang; whether the
journal holds rows for it (from an earlier run, or a poller stopped while working) is asked
once per batch of starts (``pending``), and only those sessions are rung.

Which sessions have a poller is not the registry's decision: the configured sessions get
theirs at start, and from then on the
:class:`~whatsignal.actors.session_monitor.SessionMonitor` starts and stops them through
:meth:`start` and :meth:`stop` (:class:`SessionControl`), following its
:class:`~whatsignal.actors.session_table.SessionTable`.

"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from functools import partial
from typing import Any, NoReturn, Protocol

import attrs
import trio

from whatsignal.actors.doorbells import Doorbell, Doorbells
from whatsignal.actors.supervisor import RestartPolicy, supervise
from whatsignal.errors import StorageError
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

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Work the session's queue; returns when there is nothing to do (it rests)."""
        ...


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
        pending: the queues that hold pending rows (the journal's ``queues_with_pending``).
    """

    doorbells: Doorbells
    sessions: tuple[str, ...]
    make_poller: PollerFactory
    receivers: Sequence[Receiver]
    pending: Callable[[], Awaitable[Collection[str]]]
    metrics: Metrics
    restart: RestartPolicy = attrs.field(factory=lambda: RestartPolicy(initial=1.0, maximum=60.0))
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _pollers: dict[str, Poller] = attrs.field(factory=dict, init=False)
    _scopes: dict[str, trio.CancelScope] = attrs.field(factory=dict, init=False)
    _crashes: dict[str, int] = attrs.field(factory=dict, init=False)
    _restarting: set[str] = attrs.field(factory=set, init=False)
    _receiving: dict[str, trio.Event] = attrs.field(factory=dict, init=False)
    _to_look: dict[str, None] = attrs.field(factory=dict, init=False)
    _look_news: trio.Event = attrs.field(factory=trio.Event, init=False)

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
                nursery.start_soon(self._wake_rung)
                nursery.start_soon(self._look_for_rows)
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def start(self, session: str) -> None:
        """Give the session a poller unless it has one; it works once rung (and it is rung
        if the journal holds rows for it)."""
        if session in self._pollers:
            return
        if self._nursery is None:
            raise RuntimeError("the registry is not running")
        self._pollers[session] = self.make_poller(session, self.doorbells.claim(session))
        self._to_look[session] = None
        self._look_news.set()
        self._rest_or_run(session)
        log.info("worker started", extra={"session": session, "event": "worker.started"})

    def stop(self, session: str) -> None:
        """Stop the session's poller (its rows wait in the journal). It no longer counts as
        running from now on, so a :meth:`start` right after starts a new one."""
        if self._pollers.pop(session, None) is None:
            return
        self._crashes.pop(session, None)
        self._restarting.discard(session)
        self._to_look.pop(session, None)
        self.doorbells.unpark(session)
        scope = self._scopes.pop(session, None)
        if scope is not None:
            scope.cancel(reason=f"session {session} stopped")

    def awake(self) -> int:
        """How many sessions' pollers have a task now (the others rest)."""
        return len(self._scopes)

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

    def _rest_or_run(self, session: str) -> None:
        """Park the session's poller, or give it a task when a ring waits for it."""
        if session in self._scopes or self._nursery is None or self.doorbells.park(session):
            return
        poller, scope = self._pollers[session], trio.CancelScope()
        self._scopes[session] = scope
        self._nursery.start_soon(self._session, session, poller, scope)

    async def _wake_rung(self) -> NoReturn:
        while True:
            for session in await self.doorbells.woken():
                if session in self._pollers:
                    self._rest_or_run(session)

    async def _look_for_rows(self) -> NoReturn:
        """Ring the sessions just started that have rows waiting: one question to the
        journal per batch of starts, however many sessions it holds."""
        while True:
            await self._look_news.wait()
            self._look_news = trio.Event()
            batch, self._to_look = self._to_look, {}
            try:
                waiting: Collection[str] = set(await self.pending())
            except StorageError as error:
                log.warning("could not ask the journal which sessions have rows: %s", error)
                waiting = batch  # each of them looks for itself
            for session in batch:
                if session in waiting and session in self._pollers:
                    self.doorbells.ring(session)

    async def _session(self, session: str, poller: Poller, scope: trio.CancelScope) -> None:
        """A session's task: its poller, restarted after a crash, until it rests."""

        async def incarnation(
            *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
        ) -> None:
            self._restarting.discard(session)  # a new run after a crash
            await poller.run(task_status=task_status)

        rested = False
        try:
            while not rested:
                await self._supervised(f"worker[{session}]", incarnation, scope, session)
                if scope.cancel_called:
                    return  # stopped
                # It rested: park it, unless a ring came in meanwhile (then it looks again).
                rested = self.doorbells.park(session)
        finally:
            # Forget the task, unless it was stopped (and maybe started again) since.
            if self._scopes.get(session) is scope:
                del self._scopes[session]
                if not rested:  # ended by a crash at start or by the registry's end
                    self._pollers.pop(session, None)
                    self._crashes.pop(session, None)
                    self._restarting.discard(session)

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
        """Run ``run`` under :func:`supervise` in ``scope``; for a session (not None) until
        its poller rests."""

        def crashed(actor: str) -> None:
            self.metrics.restarts.labels(actor).inc()
            if session is not None:
                self._crashes[session] = self._crashes.get(session, 0) + 1
                self._restarting.add(session)

        with scope:
            await supervise(
                name,
                run,
                self.restart,
                on_crash=crashed,
                fail_fast=fail_fast,
                rests=session is not None,
                task_status=task_status,
            )

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
