"""Alerter: tells the user, in Signal, when something needs them: once per condition.

A bridge runs unattended; its worst failure is a silent one (WhatsApp logged the session out,
WAHA died) that nobody notices until a friend asks why there was no answer. So the alerter
looks every ``tick`` seconds at what the bridge knows and tells the destination(s) concerned,
in their one-to-one conversation with the bridge number:

* a session of theirs needs a human: SCAN_QR_CODE (logged out) or a PASSKEY state at once;
  FAILED, or STOPPED not by the user's own ``/stop``, once it has not been WORKING for
  ``alerts.graceSec`` (WAHA's and the bridge's own restarts get that long). One message names
  the session, its state and the next step; one more when it is WORKING again (unless its
  poller held replies: then the poller's "works again, N replies sent" is that message);
* WAHA's session API failing for ``api_after`` seconds (three discovery intervals): every
  destination, once, and once more when it answers again;
* messages of a session pending longer than ``alerts.stuckAfterMinutes``.

One alert per condition until it clears: a condition is raised once, in the store (so a
restart does not repeat it), and cleared only after it has been false for ``settle`` seconds,
so a session that flaps, or events that repeat, fold into the one alert. A state in between
(STARTING) neither raises nor clears.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NoReturn, Protocol

import attrs
import trio

from whatsignal.actors.session_table import SessionEntry
from whatsignal.channels import ChannelMap
from whatsignal.clock import Clock
from whatsignal.errors import StorageError
from whatsignal.relay import alert_notices as texts
from whatsignal.storage import Alerts

__all__ = ["AlertSettings", "Alerter", "stopped_by_user"]

log = logging.getLogger("whatsignal.alerts")

AT_ONCE = frozenset({"SCAN_QR_CODE", "PASSKEY_REQUIRED", "PASSKEY_CONFIRMATION_REQUIRED"})
AFTER_GRACE = frozenset({"FAILED", "STOPPED"})


def stopped_by_user(session: str) -> str:
    """The store key that marks a session the user stopped with ``/stop`` (no alert)."""
    return f"stopped-by-user:{session}"


class AlertStore(Alerts, Protocol):
    """The alerts raised, and the journal's pending rows (for stuck messages)."""

    async def pending_stats(self) -> dict[str, tuple[int, float]]: ...


class Teller(Protocol):
    """Sends a notice from a bridge number to a user (:class:`~whatsignal.relay.Notices`)."""

    async def tell(self, bridge_number: str, recipient: str, text: str) -> bool: ...


class SessionsView(Protocol):
    """What the alerter reads of the session table."""

    @property
    def api_failing_since(self) -> float | None: ...

    def entry(self, session: str) -> SessionEntry | None: ...

    def not_working(self) -> set[str]: ...


@attrs.frozen
class AlertSettings:
    """Args:
    grace: ``alerts.graceSec``.
    stuck_after: ``alerts.stuckAfterMinutes``, in seconds.
    api_after: how long WAHA's session API may fail before it is told (three intervals).
    settle: how long a condition must be false before it clears (flapping folds).
    tick: how often the alerter looks.
    stuck_every: how often the journal is asked for stuck messages.
    """

    grace: float
    stuck_after: float
    api_after: float
    settle: float = 10.0
    tick: float = 1.0
    stuck_every: float = 30.0


@attrs.frozen
class _Condition:
    key: str
    recipients: tuple[tuple[str, str], ...]
    text: str = ""
    delay: float = 0.0
    clear_text: str | None = None


@attrs.define(eq=False, kw_only=True)
class Alerter:
    """Args:
    held: whether a session's poller holds replies now (it tells the recovery itself).
    listing: whether WAHA's session API is used at all (``whatsapp.sessionApiEnabled``).
    """

    store: AlertStore
    table: SessionsView
    channels: ChannelMap
    notices: Teller
    clock: Clock
    settings: AlertSettings
    held: Callable[[str], bool]
    listing: bool
    _raised: set[str] | None = attrs.field(default=None, init=False)
    """The keys raised and not cleared (read from the store once, then kept as told)."""
    _since: dict[str, float] = attrs.field(factory=dict, init=False)
    _clear_since: dict[str, float] = attrs.field(factory=dict, init=False)
    _stuck: tuple[list[_Condition], list[_Condition]] = attrs.field(
        factory=lambda: ([], []), init=False
    )
    _stuck_at: float = attrs.field(default=-float("inf"), init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        task_status.started()
        while True:
            try:
                await self.check()
            except StorageError as error:
                # The store failing (or stopping first at shutdown) costs this look only:
                # alerts are kept in the store, so the next look carries on where this one was.
                log.error("alert check failed (will retry): %s", error)
            await trio.sleep(self.settings.tick)

    async def check(self) -> None:
        """Look once: raise what became true long enough, clear what became false."""
        now = trio.current_time()
        if self._raised is None:
            self._raised = set(await self.store.raised_alerts())
        active, clear = await self._sessions()
        self._waha(now, active, clear)
        if now - self._stuck_at >= self.settings.stuck_every:
            self._stuck_at = now
            self._stuck = await self._stuck_conditions()
        active += self._stuck[0]
        clear += self._stuck[1]
        for condition in active:
            await self._raise(condition, now)
        for condition in clear:
            await self._clear(condition, now)

    def _told_or_counting(self, prefix: str) -> set[str]:
        """The names of the conditions of a kind that are raised, or on their way up or down
        (the only ones a false condition can change)."""
        keys = (self._raised or set()) | self._since.keys() | self._clear_since.keys()
        return {key.removeprefix(prefix) for key in keys if key.startswith(prefix)}

    async def _sessions(self) -> tuple[list[_Condition], list[_Condition]]:
        """The sessions' conditions: only sessions not WORKING, or whose alert is raised or on
        its way, are looked at (a WORKING session with nothing raised has nothing to clear),
        so a look costs nothing per idle session."""
        active: list[_Condition] = []
        clear: list[_Condition] = []
        for name in sorted(self.table.not_working() | self._told_or_counting("session:")):
            entry = self.table.entry(name)
            route = self.channels.route(name)
            if entry is None or route is None or entry.status is None:
                continue
            who = ((route.bridge_number, route.destination),)
            key = f"session:{entry.name}"
            text = texts.session_needs_you(entry.name, entry.status)
            if entry.status in AT_ONCE:
                active.append(_Condition(key, who, text))
            elif entry.status in AFTER_GRACE:
                if entry.status == "STOPPED" and await self.store.alert_raised(
                    stopped_by_user(entry.name)
                ):
                    continue  # the user stopped it: nothing to tell, nothing cleared
                active.append(_Condition(key, who, text, delay=self.settings.grace))
            elif entry.status == "WORKING":
                told = None if self.held(entry.name) else texts.session_works_again(entry.name)
                clear.append(_Condition(key, who, clear_text=told))
        return active, clear

    def _everyone(self) -> tuple[tuple[str, str], ...]:
        routes = [*self.channels.routes.values()]
        if self.channels.default is not None:
            routes.append(self.channels.default)
        return tuple(dict.fromkeys((r.bridge_number, r.destination) for r in routes))

    def _waha(self, now: float, active: list[_Condition], clear: list[_Condition]) -> None:
        if not self.listing:
            return
        since = self.table.api_failing_since
        everyone = self._everyone()
        if since is None:
            clear.append(_Condition("waha", everyone, clear_text=texts.waha_back()))
        elif now - since >= self.settings.api_after:
            text = texts.waha_unreachable((now - since) / 60)
            active.append(_Condition("waha", everyone, text))

    async def _stuck_conditions(self) -> tuple[list[_Condition], list[_Condition]]:
        stats = await self.store.pending_stats()
        wall = self.clock()
        minutes = round(self.settings.stuck_after / 60)
        active: list[_Condition] = []
        clear: list[_Condition] = []
        waiting = {q for q in stats if not q.startswith("signal:")}
        for queue in sorted(waiting | self._told_or_counting("stuck:")):
            route = self.channels.route(queue)
            if route is None:
                continue
            who = ((route.bridge_number, route.destination),)
            count, oldest = stats.get(queue, (0, wall))
            if count and wall - oldest >= self.settings.stuck_after:
                text = texts.messages_stuck(queue, count, minutes)
                active.append(_Condition(f"stuck:{queue}", who, text))
            else:
                told = texts.stuck_cleared(queue)
                clear.append(_Condition(f"stuck:{queue}", who, clear_text=told))
        return active, clear

    def _is_raised(self, key: str) -> bool:
        return self._raised is not None and key in self._raised

    async def _raise(self, condition: _Condition, now: float) -> None:
        key = condition.key
        self._clear_since.pop(key, None)
        if self._is_raised(key):
            return
        first = self._since.setdefault(key, now)
        if now - first < condition.delay:
            return
        log.warning("alert: %s", key.split(":", 1)[0], extra={"event": "alert.raised"})
        await self._tell(condition.recipients, condition.text)
        await self.store.raise_alert(key, at=self.clock())
        if self._raised is not None:
            self._raised.add(key)

    async def _clear(self, condition: _Condition, now: float) -> None:
        key = condition.key
        self._since.pop(key, None)
        if not self._is_raised(key):
            return
        first = self._clear_since.setdefault(key, now)
        if now - first < self.settings.settle:
            return
        log.info("alert cleared: %s", key.split(":", 1)[0], extra={"event": "alert.cleared"})
        if condition.clear_text is not None:
            await self._tell(condition.recipients, condition.clear_text)
        await self.store.clear_alert(key)
        if self._raised is not None:
            self._raised.discard(key)
        del self._clear_since[key]

    async def _tell(self, recipients: Sequence[tuple[str, str]], text: str) -> None:
        for bridge_number, destination in recipients:
            await self.notices.tell(bridge_number, destination, text)
