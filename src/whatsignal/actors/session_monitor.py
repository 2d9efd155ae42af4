"""SessionMonitor: which WAHA sessions run, kept in order and healthy.

It is the only writer of the :class:`~whatsignal.actors.session_table.SessionTable` and the
one that starts and stops pollers (through the registry's
:class:`~whatsignal.actors.registry.SessionControl`). What it learns from:

* **listings** (``whatsapp.sessionApiEnabled``): every ``signal.sessionDiscoveryIntervalSec``
  (``whatsapp.sessionHealthCheckSec`` without discovery) it lists WAHA's sessions with
  ``?all=true`` (without it WAHA hides stopped sessions, which then look deleted). A session no
  longer listed is gone: its poller stops and everything kept for it is released. A failing
  listing changes nothing.
* **``session.status`` webhooks**, from the intake over a bounded channel (:func:`status_channel`;
  when it is full the next listing catches up), applied in WAHA's time order per session: stale
  events are ignored, and when the order cannot be told WAHA is asked
  (``GET /api/sessions/{name}``).
* **sessions that show up with work**: a ring of a session queue nobody claimed (a message
  webhook, rows left by an earlier run), so that ``signal.maxConcurrentSessions`` holds
  whichever way a session shows up.

After each change it makes the running pollers match :meth:`SessionTable.desired` and rings
the session's doorbell, so a poller that holds replies sends them as soon as its session works.

Health (``whatsapp.sessionAutoRestart``): a session that is FAILED, or STARTING for longer than
``whatsapp.sessionStartupTimeoutSec``, is restarted, at most once per timeout. SCAN_QR_CODE is
not unhealthy: it waits for a human (the Go version restarted it in a loop).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NoReturn, Protocol

import attrs
import trio

from whatsignal.actors.doorbells import Doorbells
from whatsignal.actors.registry import SessionControl
from whatsignal.actors.session_table import SessionTable, Verdict
from whatsignal.clients import SessionInfo, WahaClient
from whatsignal.convert.presence import TypingInbox, WatchAgain
from whatsignal.errors import ApiError, ClientError
from whatsignal.metrics import Metrics
from whatsignal.session_news import StatusEvent
from whatsignal.storage import Journal

__all__ = ["Forget", "SessionMonitor", "StatusEvent", "status_channel"]

log = logging.getLogger("whatsignal.sessions")

UNHEALTHY = frozenset({"FAILED"})


def status_channel(
    size: int = 256,
) -> tuple[trio.MemorySendChannel[StatusEvent], trio.MemoryReceiveChannel[StatusEvent]]:
    """The channel from the intake (which sends without blocking) to the monitor."""
    return trio.open_memory_channel[StatusEvent](size)


class Forget(Protocol):
    """Something that keeps state per session name, released when the session is gone."""

    def forget(self, session: str) -> None: ...


@attrs.define(eq=False, kw_only=True)
class SessionMonitor:
    """Args:
    table: the session table (this actor is its only writer).
    control: the registry (start and stop pollers, which run now).
    inbox: ``session.status`` changes from the intake.
    doorbells: to learn of sessions that show up with work, and to wake their pollers.
    journal: asked once at start which queues hold rows from an earlier run.
    forget: everything that keeps per-session state (released when a session is gone).
    listing: whether WAHA's session API may be used (``whatsapp.sessionApiEnabled``).
    working: told (without waiting) each time WAHA says a session is WORKING (an event, or a
        listing after another status), so that the typist subscribes its portals' presence
        again (WAHA forgets them on a restart); None: nobody.
    """

    waha: WahaClient
    table: SessionTable
    control: SessionControl
    inbox: trio.MemoryReceiveChannel[StatusEvent]
    doorbells: Doorbells
    journal: Journal
    forget: Sequence[Forget]
    metrics: Metrics
    interval: float
    listing: bool
    auto_restart: bool
    startup_timeout: float
    working: TypingInbox | None = None

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        async with trio.open_nursery() as nursery:
            for queue in await self.journal.queues_with_pending():
                if not queue.startswith("signal:"):
                    self._showed_up(queue)
            nursery.start_soon(self._follow_unclaimed)
            task_status.started()
            next_poll = trio.current_time()
            while True:
                if self.listing and trio.current_time() >= next_poll:
                    await self.poll_once()
                    next_poll = trio.current_time() + self.interval
                with trio.move_on_at(next_poll if self.listing else float("inf")):
                    event = await self.inbox.receive()
                    await self.apply_event(event)

    async def _follow_unclaimed(self) -> NoReturn:
        while True:
            for queue in await self.doorbells.unclaimed():
                if not queue.startswith("signal:"):
                    self._showed_up(queue)

    def _showed_up(self, session: str) -> None:
        """Work arrived for a session nobody polls: it may take a slot."""
        before = self.table.entry(session)
        was_left_out = before is not None and before.left_out
        entry = self.table.observe(session, None, now=trio.current_time())
        if entry is not None:
            self._warn_left_out(entry.left_out and not was_left_out, session)
            self._reconcile()

    def _warn_left_out(self, newly: bool, session: str) -> None:
        if newly:
            log.warning(
                "signal.maxConcurrentSessions (%d) reached: session left out; its messages "
                "wait until a slot frees",
                self.table.cap,
                extra={"session": session, "event": "session.left_out"},
            )

    async def poll_once(self) -> None:
        """List WAHA's sessions and apply each status; release the sessions that are gone."""
        self.metrics.discovery.labels("listing").inc()
        try:
            sessions: list[SessionInfo] = await self.waha.list_sessions(all=True)
        except ClientError as error:
            self.metrics.discovery.labels("failed").inc()
            log.warning("could not list WAHA sessions: %s", error)
            if self.table.api_failing_since is None:
                self.table.api_failing_since = trio.current_time()
            return
        self.table.api_failing_since = None
        for info in sessions:
            before = self.table.entry(info.name)
            if info.status == "WORKING" and (before is None or before.status != "WORKING"):
                self._working_again(info.name)  # a status webhook may have been lost
            await self._apply(info.name, info.status, at=None, listed=True, engine=info.engine)
        for name in self.table.gone(s.name for s in sessions):
            self._release(name)
        self._reconcile()

    async def apply_event(self, event: StatusEvent) -> None:
        """Apply one ``session.status`` webhook in WAHA's time order (or, status None, the
        engine another webhook named)."""
        if event.engine is not None:
            self.table.note_engine(event.session, event.engine)
        if event.status is None:
            return
        verdict = self.table.verdict(event.session, event.status, event.at)
        if verdict is Verdict.STALE:
            log.debug("stale session.status ignored", extra={"session": event.session})
            return
        if event.status == "WORKING":
            # Every WORKING WAHA announces follows a (re)start, even one so quick that the
            # table never saw the session stop: its presence subscriptions are gone.
            self._working_again(event.session)
        if verdict is Verdict.ASK and self.listing:
            try:
                info = await self.waha.get_session(event.session)
            except ApiError as error:
                if error.status == 404:
                    self._release(event.session)
                    self._reconcile()
                    return
                log.info("asking WAHA for a session's status failed: %s", error)
            except ClientError as error:
                log.info("asking WAHA for a session's status failed: %s", error)
            else:
                await self._apply(
                    event.session, info.status, at=event.at, listed=True, engine=info.engine
                )
                self._reconcile()
                return
        await self._apply(event.session, event.status, at=event.at, listed=False)
        self._reconcile()

    async def _apply(
        self,
        session: str,
        status: str,
        *,
        at: float | None,
        listed: bool,
        engine: str | None = None,
    ) -> None:
        before = self.table.entry(session)
        previous = before.status if before is not None else None
        left_out = before.left_out if before is not None else False
        now = trio.current_time()
        entry = self.table.observe(session, status, now=now, at=at, listed=listed, engine=engine)
        if entry is None:
            return
        if previous != status:
            log.info(
                "session is %s",
                status,
                extra={"session": session, "event": "session.status", "previous": previous},
            )
            self.doorbells.ring_owned(session)  # a poller holding replies looks again
        self._warn_left_out(entry.left_out and not left_out, session)
        if self.auto_restart and self._unhealthy(session, status, now):
            await self._restart(session, now)

    def _working_again(self, session: str) -> None:
        if self.working is not None:
            self.working.offer(WatchAgain(session))

    def _release(self, session: str) -> None:
        """The session is gone from WAHA: stop its poller, forget what was kept for it."""
        if self.table.entry(session) is None:
            return
        log.info(
            "session gone from WAHA; its poller stops",
            extra={"session": session, "event": "session.gone"},
        )
        self.table.forget(session)
        self.control.stop(session)
        for keeper in self.forget:
            keeper.forget(session)

    def _reconcile(self) -> None:
        """Start and stop pollers so that exactly the desired sessions have one."""
        desired = self.table.desired()
        running = set(self.control.running())
        for session in sorted(running - desired):
            log.info("poller stops", extra={"session": session, "event": "worker.stopped"})
            self.control.stop(session)
        for session in sorted(desired - running):
            self.control.start(session)

    def _unhealthy(self, session: str, status: str, now: float) -> bool:
        if status in UNHEALTHY:
            return True
        entry = self.table.entry(session)
        since = entry.starting_since if entry is not None else None
        return since is not None and now - since > self.startup_timeout

    async def _restart(self, session: str, now: float) -> None:
        entry = self.table.entry(session)
        if entry is None:
            return
        if entry.restarted_at is not None and now - entry.restarted_at < self.startup_timeout:
            return  # give the last restart its chance first
        entry.restarted_at = now
        entry.starting_since = None
        try:
            await self.waha.restart_session(session)
        except ClientError as error:
            log.warning("restarting the session failed: %s", error, extra={"session": session})
            return
        entry.restarts += 1
        log.warning(
            "session was unhealthy and has been restarted",
            extra={"session": session, "event": "session.restarted"},
        )
