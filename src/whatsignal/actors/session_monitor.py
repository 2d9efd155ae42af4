"""SessionMonitor: which WAHA sessions run, and keeping them healthy.

Discovery (``whatsapp.sessionApiEnabled`` and ``signal.enableDynamicPolling``): every
``signal.sessionDiscoveryIntervalSec`` it lists WAHA's sessions (``?all=true``: without it WAHA
hides stopped sessions, which then look deleted) and starts a worker for each WORKING session
that has a channel (its own, or the ``"*"`` default), up to ``signal.maxConcurrentSessions``
discovered ones; it stops the workers of discovered sessions that stop or disappear. Their work
stays in the journal and is picked up when they come back. Configured sessions always keep
their worker (the static mode of the Go version).

Health (``whatsapp.sessionAutoRestart``): a session that is FAILED, or STARTING for longer than
``whatsapp.sessionStartupTimeoutSec``, is restarted, at most once per timeout. SCAN_QR_CODE is
not unhealthy: it waits for a human (the Go version restarted it in a loop).

``session.status`` webhooks reach it through :meth:`notify`, so changes apply at once rather
than at the next listing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NoReturn

import attrs
import trio

from whatsignal.actors.context import ChannelMap
from whatsignal.clients import SessionInfo, WahaClient
from whatsignal.errors import ClientError

__all__ = ["SessionMonitor"]

log = logging.getLogger("whatsignal.sessions")

WORKING = "WORKING"
UNHEALTHY = frozenset({"FAILED"})


@attrs.define(eq=False, kw_only=True)
class SessionMonitor:
    """Args:
    ensure_worker / stop_worker / running: the registry's hooks (actors share no imports).
    static: the sessions named in the configuration.
    """

    waha: WahaClient
    channels: ChannelMap
    ensure_worker: Callable[[str], None]
    stop_worker: Callable[[str], None]
    running: Callable[[], Sequence[str]]
    static: frozenset[str]
    interval: float
    discover: bool
    auto_restart: bool
    startup_timeout: float
    max_discovered: int
    _events: trio.MemorySendChannel[tuple[str, str]] = attrs.field(init=False)
    _inbox: trio.MemoryReceiveChannel[tuple[str, str]] = attrs.field(init=False)
    _starting_since: dict[str, float] = attrs.field(factory=dict, init=False)
    _restarted_at: dict[str, float] = attrs.field(factory=dict, init=False)
    _full_warned: set[str] = attrs.field(factory=set, init=False)
    statuses: dict[str, str] = attrs.field(factory=dict, init=False)
    restarts: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._events, self._inbox = trio.open_memory_channel[tuple[str, str]](256)

    def notify(self, session: str, status: str) -> None:
        """A ``session.status`` webhook arrived. Never blocks: when the inbox is full the next
        listing catches up anyway."""
        try:
            self._events.send_nowait((session, status))
        except trio.WouldBlock:
            log.debug("session status inbox full; the next listing catches up")

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        task_status.started()
        next_poll = trio.current_time()
        while True:
            if trio.current_time() >= next_poll:
                await self.poll_once()
                next_poll = trio.current_time() + self.interval
            with trio.move_on_at(next_poll):
                session, status = await self._inbox.receive()
                await self.apply(session, status)

    async def poll_once(self) -> None:
        """List WAHA's sessions and apply each status; stop discovered workers of sessions
        that are gone. A failing listing changes nothing (the static sessions keep running)."""
        try:
            sessions: list[SessionInfo] = await self.waha.list_sessions(all=True)
        except ClientError as error:
            log.warning("could not list WAHA sessions: %s", error)
            return
        seen = {s.name for s in sessions}
        for info in sessions:
            await self.apply(info.name, info.status)
        for name in list(self.running()):
            if name not in seen and name not in self.static:
                log.info("session gone from WAHA; its worker stops", extra={"session": name})
                self.statuses.pop(name, None)
                self.stop_worker(name)

    async def apply(self, session: str, status: str) -> None:
        """React to one session's status."""
        if not self.channels.configured(session):
            return
        previous = self.statuses.get(session)
        self.statuses[session] = status
        if previous != status:
            log.info("session is %s", status, extra={"session": session})
        now = trio.current_time()
        if status == "STARTING":
            self._starting_since.setdefault(session, now)
        else:
            self._starting_since.pop(session, None)
        if status == WORKING:
            self._start(session)
        elif session not in self.static and session in self.running():
            self.stop_worker(session)
        if self.auto_restart and self._unhealthy(session, status, now):
            await self._restart(session, now)

    def _start(self, session: str) -> None:
        running = set(self.running())
        if session in running or (session not in self.static and not self.discover):
            return
        discovered = len(running - self.static)
        if session not in self.static and discovered >= self.max_discovered:
            if session not in self._full_warned:
                self._full_warned.add(session)
                log.warning(
                    "signal.maxConcurrentSessions (%d) reached: session not started",
                    self.max_discovered,
                    extra={"session": session},
                )
            return
        self._full_warned.discard(session)
        self.ensure_worker(session)

    def _unhealthy(self, session: str, status: str, now: float) -> bool:
        if status in UNHEALTHY:
            return True
        since = self._starting_since.get(session)
        return since is not None and now - since > self.startup_timeout

    async def _restart(self, session: str, now: float) -> None:
        last = self._restarted_at.get(session)
        if last is not None and now - last < self.startup_timeout:
            return  # give the last restart its chance first
        self._restarted_at[session] = now
        self._starting_since.pop(session, None)
        try:
            await self.waha.restart_session(session)
        except ClientError as error:
            log.warning("restarting the session failed: %s", error, extra={"session": session})
            return
        self.restarts += 1
        log.warning("session was unhealthy and has been restarted", extra={"session": session})
