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

``session.status`` webhooks reach it from the intake over a bounded memory channel
(:func:`status_channel`), so changes apply at once rather than at the next listing; when the
channel is full, the next listing catches up. It starts and stops pollers through the
registry's :class:`~whatsignal.actors.registry.SessionControl`.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import attrs
import trio

from whatsignal.actors.registry import SessionControl
from whatsignal.channels import ChannelMap
from whatsignal.clients import SessionInfo, WahaClient
from whatsignal.errors import ClientError

__all__ = ["SessionMonitor", "StatusChange", "status_channel"]

log = logging.getLogger("whatsignal.sessions")

WORKING = "WORKING"
UNHEALTHY = frozenset({"FAILED"})

StatusChange = tuple[str, str]
"""``(session, status)`` from a ``session.status`` webhook."""


def status_channel(
    size: int = 256,
) -> tuple[trio.MemorySendChannel[StatusChange], trio.MemoryReceiveChannel[StatusChange]]:
    """The channel from the intake (which sends without blocking) to the monitor."""
    return trio.open_memory_channel[StatusChange](size)


@attrs.define(eq=False, kw_only=True)
class SessionMonitor:
    """Args:
    control: the registry (start and stop pollers, which run now).
    inbox: ``session.status`` changes from the intake.
    static: the sessions named in the configuration.
    """

    waha: WahaClient
    channels: ChannelMap
    control: SessionControl
    inbox: trio.MemoryReceiveChannel[StatusChange]
    static: frozenset[str]
    interval: float
    discover: bool
    auto_restart: bool
    startup_timeout: float
    max_discovered: int
    _starting_since: dict[str, float] = attrs.field(factory=dict, init=False)
    _restarted_at: dict[str, float] = attrs.field(factory=dict, init=False)
    _full_warned: set[str] = attrs.field(factory=set, init=False)
    statuses: dict[str, str] = attrs.field(factory=dict, init=False)
    """Each session's last known status (the status page shows it)."""

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
                session, status = await self.inbox.receive()
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
        for name in list(self.control.running()):
            if name not in seen and name not in self.static:
                log.info("session gone from WAHA; its worker stops", extra={"session": name})
                self.statuses.pop(name, None)
                self.control.stop(name)

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
        elif session not in self.static and session in self.control.running():
            self.control.stop(session)
        if self.auto_restart and self._unhealthy(session, status, now):
            await self._restart(session, now)

    def _start(self, session: str) -> None:
        running = set(self.control.running())
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
        self.control.start(session)

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
        log.warning("session was unhealthy and has been restarted", extra={"session": session})
