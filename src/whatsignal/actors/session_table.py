"""SessionTable: what the bridge knows of each WAHA session, and which may have a poller.

Pure state and decisions, no I/O: the :class:`~whatsignal.actors.session_monitor.
SessionMonitor` is its only writer (from listings, ``session.status`` webhooks and sessions that
show up with work), and turns its decisions into pollers started and stopped. Pollers, the
router and the status page read it.

Which sessions have a poller (:meth:`SessionTable.desired`):

* every configured session, always, whatever its state: while it is not WORKING its poller
  holds the replies for it (and tells the user), and still delivers what WhatsApp sent;
* with discovery on, a session the ``"*"`` channel serves, while it holds one of the
  ``signal.maxConcurrentSessions`` slots. It takes a slot when it shows up (a listing, a status
  webhook, a message webhook) and one is free; otherwise it is *left out*: its events wait in
  the journal, and it takes the next slot that frees, in the order sessions were left out;
* a discovered session that **stops** frees its slot at once but keeps its poller, *waiting*
  (holding the replies for it, costing nothing while idle); if it comes back while every slot
  is taken, it is left out like any other;
* a session that disappears from WAHA's listing frees everything the bridge kept for it.

Ordering of status changes: WAHA sends webhooks concurrently, so one session's events can
arrive out of order or twice. Each event carries WAHA's time of the change; an event older than
the last one applied is stale and ignored, and when the order cannot be told (same time, no
time, or a listing saw the session since the last event) the monitor asks WAHA
(:meth:`SessionTable.verdict`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable

import attrs

__all__ = ["SessionEntry", "SessionTable", "Verdict", "WorkerState"]

WORKING = "WORKING"
STOPPED = "STOPPED"


class Verdict(enum.Enum):
    """What to do with a status event, given what was applied before."""

    APPLY = "apply"
    STALE = "stale"
    ASK = "ask"  # the order cannot be told: ask WAHA for the session's status now


class WorkerState(enum.Enum):
    """A session's poller, as the status page shows it."""

    RUNNING = "running"
    WAITING = "waiting for WORKING"
    LEFT_OUT = "left out"
    NONE = "none"


@attrs.define
class SessionEntry:
    """One session as the bridge knows it.

    Attributes:
        status: WAHA's status, or None until known.
        status_at: WAHA's time (ms) of the newest status event applied, or None.
        listed: the status was last set by a listing (or an answer to a question), which may
            be newer than ``status_at``.
        slot: a discovered session holding one of the cap's slots.
        waiting: a discovered session that stopped while holding a slot: it keeps its poller.
        left_out: a discovered session that wanted a slot when none was free.
        left_out_at: the order in which sessions were left out (first come, first served).
        changed_at: when (monotonic) the status last changed.
        starting_since, restarted_at: for the health rules (monotonic).
        restarts: how often the bridge restarted the session in WAHA.
        engine: the engine behind the session (``GOWS``, ``NOWEB``, ``WEBJS``, ...) as WAHA's
            session listing or answer, or a webhook's envelope, last said; None until known.
    """

    name: str
    configured: bool
    status: str | None = None
    status_at: float | None = None
    listed: bool = False
    slot: bool = False
    waiting: bool = False
    left_out: bool = False
    left_out_at: int = 0
    changed_at: float | None = None
    starting_since: float | None = None
    restarted_at: float | None = None
    restarts: int = 0
    engine: str | None = None


@attrs.define(eq=False, kw_only=True)
class SessionTable:
    """Args:
    configured: the sessions named in the configuration.
    serves: whether a session has a channel (its own, or the ``"*"`` default).
    discover: session discovery is on (otherwise only the configured sessions run).
    cap: ``signal.maxConcurrentSessions``: slots for discovered sessions.
    """

    configured: frozenset[str]
    serves: Callable[[str], bool]
    discover: bool
    cap: int
    _entries: dict[str, SessionEntry] = attrs.field(factory=dict, init=False)
    _slots: int = attrs.field(default=0, init=False)
    """How many entries hold a slot (kept as they change: no scan per observation)."""
    _queue: dict[str, SessionEntry] = attrs.field(factory=dict, init=False)
    """The left-out sessions, first left out first (insertion order)."""
    _not_working: set[str] = attrs.field(factory=set, init=False)
    """The sessions whose status is known and not WORKING."""
    api_failing_since: float | None = attrs.field(default=None, init=False)
    """Since when (monotonic) WAHA's session listing fails, or None while it answers."""
    _left_out_counter: int = attrs.field(default=0, init=False)

    # ---- views ---------------------------------------------------------------------------

    def entry(self, session: str) -> SessionEntry | None:
        return self._entries.get(session)

    def entries(self) -> list[SessionEntry]:
        return [self._entries[name] for name in sorted(self._entries)]

    def status(self, session: str) -> str | None:
        found = self._entries.get(session)
        return None if found is None else found.status

    def working(self, session: str) -> bool:
        """Whether replies may go to the session now: WORKING, or not known to be otherwise
        (before the first listing, or with nobody to ask, the send itself finds out)."""
        status = self.status(session)
        return status is None or status == WORKING

    def engine(self, session: str) -> str | None:
        """The engine behind the session, or None while WAHA has not said."""
        found = self._entries.get(session)
        return None if found is None else found.engine

    def note_engine(self, session: str, engine: str) -> None:
        """A webhook named the engine behind a session: kept for a session the bridge knows or
        is configured with (its status stays as it was, or unknown); any other: nothing."""
        found = self._entries.get(session)
        if found is None and session in self.configured:
            found = self._entries[session] = SessionEntry(session, True)
        if found is not None:
            found.engine = engine

    def known(self) -> list[str]:
        """Every session the bridge knows of now (whatever its state)."""
        return sorted(self._entries)

    def desired(self) -> set[str]:
        """The sessions that should have a poller now."""
        wanted = set(self.configured)
        wanted.update(e.name for e in self._entries.values() if e.slot or e.waiting)
        return wanted

    def worker_state(self, session: str, has_poller: bool) -> WorkerState:
        found = self._entries.get(session)
        if found is not None and found.left_out:
            return WorkerState.LEFT_OUT
        if not has_poller:
            return WorkerState.NONE
        return WorkerState.RUNNING if self.working(session) else WorkerState.WAITING

    def slots_used(self) -> int:
        return self._slots

    def not_working(self) -> set[str]:
        """The sessions whose status is known and is not WORKING (a copy)."""
        return set(self._not_working)

    # ---- decisions -----------------------------------------------------------------------

    def verdict(self, session: str, status: str, at: float | None) -> Verdict:
        """Whether a ``session.status`` event of WAHA's time ``at`` (ms) is news."""
        found = self._entries.get(session)
        if found is None or (found.status_at is None and not found.listed):
            return Verdict.APPLY if at is not None else Verdict.ASK
        if at is None:
            return Verdict.ASK
        if found.status_at is not None and at < found.status_at:
            return Verdict.STALE
        if found.status_at is not None and at == found.status_at:
            return Verdict.APPLY if status == found.status else Verdict.ASK
        if found.listed:
            # A listing saw the session after the last event applied: this event may be
            # older than what the listing saw.
            return Verdict.ASK
        return Verdict.APPLY

    def observe(
        self,
        session: str,
        status: str | None,
        *,
        now: float,
        at: float | None = None,
        listed: bool = False,
        engine: str | None = None,
    ) -> SessionEntry | None:
        """Record a session's status (None: it showed up with work, status not known) and,
        when WAHA named it, its engine; take or give back its slot. Returns its entry, or None
        when the bridge does not serve it."""
        found = self._entries.get(session)
        if found is None:
            if not self._wanted(session):
                return None
            found = self._entries[session] = SessionEntry(session, session in self.configured)
        if status is not None and status != found.status:
            found.status = status
            if status == WORKING:
                self._not_working.discard(session)
            else:
                self._not_working.add(session)
            found.changed_at = now
            found.starting_since = (found.starting_since or now) if status == "STARTING" else None
        if engine is not None:
            found.engine = engine
        if at is not None:
            found.status_at = max(at, found.status_at or at)
        if status is not None:
            found.listed = listed
        if not found.configured:
            self._place(found)
        self._fill()
        return found

    def forget(self, session: str) -> None:
        """The session is gone from WAHA: everything kept for it goes, its slot frees."""
        found = self._entries.pop(session, None)
        if found is not None:
            self._slots -= found.slot
            self._queue.pop(session, None)
            self._not_working.discard(session)
        self._fill()

    def gone(self, listed: Iterable[str]) -> list[str]:
        """The known sessions a complete listing no longer shows (configured ones aside)."""
        seen = set(listed)
        return [n for n, e in self._entries.items() if n not in seen and not e.configured]

    def _wanted(self, session: str) -> bool:
        if session in self.configured:
            return True
        return self.discover and self.serves(session)

    def _place(self, entry: SessionEntry) -> None:
        """Slot bookkeeping of a discovered session after its status changed."""
        if entry.status == STOPPED:
            if entry.slot:
                self._slots -= 1
                entry.slot, entry.waiting = False, True
            entry.left_out = False
            self._queue.pop(entry.name, None)
            return
        if entry.slot:
            return
        if self._slots < self.cap:
            self._take_slot(entry)
        elif not entry.left_out:
            entry.waiting = False
            entry.left_out = True
            self._left_out_counter += 1
            entry.left_out_at = self._left_out_counter
            self._queue[entry.name] = entry

    def _take_slot(self, entry: SessionEntry) -> None:
        self._slots += 1
        entry.slot, entry.left_out, entry.waiting = True, False, False
        self._queue.pop(entry.name, None)

    def _fill(self) -> None:
        """Give free slots to left-out sessions, first left out first (a left-out session
        is never STOPPED: a stop takes it out of the queue)."""
        while self._queue and self._slots < self.cap:
            self._take_slot(next(iter(self._queue.values())))
