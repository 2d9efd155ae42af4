"""SessionPoller: the actor that works one WAHA session's journal queue, in order per chat.

The journal is the queue. The poller reads its session's pending rows from it, starts the
oldest of each chat that is due (different chats run concurrently, one row per chat at a time,
so order within a chat is kept), and sleeps until its doorbell rings or the earliest retry
falls due. It keeps what it read in memory (:class:`~whatsignal.actors.lanes.PendingLanes`),
and the intake hands it each new WhatsApp row in commit order, so a busy session does not read
the journal back for every message; a ring (rows requeued to it, an operator's retry) makes it
read again. Nothing is held only in memory: a restarted poller reads the same rows. What a
row means is the relay's business (:class:`RowHandler`); the poller decides only when to try,
when to try again and when to give up:

    transient (no answer, 5xx, session not WORKING, breaker open) -> retry with growing backoff,
        and never sooner than the failed attempt took (a timed-out send waits at least its
        timeout), no attempt used, until ``retry.maxAgeHours``;
    rate limited (signal-cli 429) -> the bridge number pauses; retry after the pause;
    permanent, or a row that cannot be handled (poison) -> an attempt is used; after
        ``retry.maxAttempts`` the row is dead: it stops blocking its chat, and the relay tells
        the destination in Signal (an admin can retry it).

A lane is one chat in one direction (:meth:`~whatsignal.storage.Journal.pending_heads`): a
WAHA outage never holds back what WhatsApp sent to Signal, and a Signal outage never holds
back the replies.

While its WAHA session is known not to be WORKING (:class:`SessionStatus`), the poller holds the
replies written in Signal for it instead of trying them: they wait in the journal, in order,
and go as soon as the session works again. The user is told once per outage, when the first
reply has to wait, and once more when the replies that waited have gone. A held reply older
than ``retry.maxAgeHours`` is given up on like any other row.

Resting: when nothing is in flight, no row waits for a retry time, no reply is held and the
doorbell stays quiet for ``rest_after`` seconds, ``run`` returns; the registry parks the
session and starts it again on its next ring (an idle session costs no task and no timer).

Stopping: once ``stopping`` is set the poller starts no new row and finishes those in hand;
:class:`InFlight` tells the root when they are done.

A failure's text is kept in the journal (``last_error``, shown on the dead-letter page), on the
status page and in the log. It is reduced first (:func:`~whatsignal.clients.redact_error`):
quoted runs dropped, numbers masked, lone surrogates replaced, bounded. Upstream errors come
reduced already; this catches whatever else a row's failure says (a bug quoting the payload).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.actors.doorbells import Doorbell
from whatsignal.actors.lanes import PendingLanes, lane_of
from whatsignal.clients import redact_error
from whatsignal.clock import Clock
from whatsignal.errors import StorageError
from whatsignal.metrics import Metrics
from whatsignal.relay.upstreams import Deferred, UpstreamError
from whatsignal.reliability import Backoff, Failure
from whatsignal.storage import Journal, JournalRow, MessageMapping

__all__ = ["InFlight", "RetryPolicy", "RowHandler", "SessionPoller", "SessionStatus"]

log = logging.getLogger("whatsignal.worker")

ERROR_LIMIT = 500
"""How many characters of a failure's (reduced) text are kept."""


def _safe(error: str) -> str:
    """A failure's text as it may be stored and logged (see the module docstring)."""
    return wlog.mask_text(redact_error(error, limit=ERROR_LIMIT))


class SessionStatus(Protocol):
    """What the poller knows of its WAHA session (the session table)."""

    def working(self, session: str) -> bool: ...

    def status(self, session: str) -> str | None: ...


class RowHandler(Protocol):
    """What a poller does with its rows (the relay)."""

    async def handle(self, row: JournalRow) -> Sequence[MessageMapping]:
        """Do the row's work; returns the message mappings to record with its ``done``."""
        ...

    async def dead(self, row: JournalRow) -> None:
        """The row was given up on (best effort, must not raise)."""
        ...

    async def session_down(self, session: str, status: str, waiting: int) -> None:
        """Replies wait because the session is not WORKING (best effort, must not raise)."""
        ...

    async def session_back(self, session: str, delivered: int, failed: int) -> None:
        """The replies that waited have gone (best effort, must not raise)."""
        ...


@attrs.define
class _Outage:
    """Replies held for the session: the user was told; what became of them since."""

    delivered: int = 0
    failed: int = 0


@attrs.frozen
class RetryPolicy:
    """When to try a failing row again and when to give up (``retry.*``).

    Args:
        backoff: delays between attempts (``retry.initialBackoffMs``/``maxBackoffMs``).
        max_attempts: permanent failures allowed before a row is dead.
        max_age: seconds a row may keep failing transiently before it is dead.
    """

    backoff: Backoff
    max_attempts: int
    max_age: float


@attrs.define(eq=False)
class InFlight:
    """How many rows are being handled right now, across all pollers; a graceful stop waits
    for :meth:`idle` instead of polling a count."""

    count: int = attrs.field(default=0, init=False)
    _idle: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        self._idle.set()

    @contextmanager
    def one(self) -> Iterator[None]:
        """Count one row for as long as the block runs."""
        if self.count == 0:
            self._idle = trio.Event()
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no row is in flight."""
        while self.count:
            await self._idle.wait()


def _direction(row: JournalRow) -> str:
    return "wa_to_signal" if row.source == "whatsapp" else "signal_to_wa"


@attrs.define(eq=False, kw_only=True)
class SessionPoller:
    """The per-session actor. ``stopping`` set: finish the rows in hand, start no new ones.

    Args:
        concurrency: how many rows of the session may be handled (sent) at once; a row whose
            send is over waits for its journal write without counting (its chat stays busy).
        rest_after: how long the poller stays up with nothing to do before it rests.
    """

    session: str
    journal: Journal
    relay: RowHandler
    sessions: SessionStatus
    doorbell: Doorbell
    retry: RetryPolicy
    metrics: Metrics
    clock: Clock
    in_flight: InFlight
    stopping: trio.Event
    concurrency: int = 16
    rest_after: float = 2.0
    busy: set[str] = attrs.field(factory=set, init=False)
    """The lanes (a chat in one direction) with a row in flight now."""
    last_activity: float | None = attrs.field(default=None, init=False)
    """When (wall clock) a row of this session was last handled."""
    last_error: str | None = attrs.field(default=None, init=False)
    """The last failure of a row of this session (masked), for the status page."""
    _transient: dict[int, int] = attrs.field(factory=dict, init=False)
    _pending: PendingLanes = attrs.field(factory=PendingLanes, init=False)
    _running: set[int] = attrs.field(factory=set, init=False)
    """The ids of the rows in flight now."""
    _outage: _Outage | None = attrs.field(default=None, init=False)

    @property
    def holding_replies(self) -> bool:
        """Whether replies wait for the session now (the user was told; told again when
        they have gone)."""
        return self._outage is not None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        limiter = trio.CapacityLimiter(self.concurrency)
        self.busy.clear()
        self._pending, self._running = PendingLanes(), set()
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                if self.stopping.is_set():
                    await trio.sleep_forever()  # the root cancels us once in-flight work is done
                await self._pending.refresh(self.journal, self.doorbell, self._running)
                now = self.clock()
                working = self.sessions.working(self.session)
                wake, held = math.inf, False
                for row in list(self._pending.heads()):
                    lane = lane_of(row)
                    if lane in self.busy or self.stopping.is_set():
                        continue
                    expires = row.received_at + self.retry.max_age
                    if row.source == "signal" and not working and now < expires:
                        held = True  # the reply waits for its session
                        wake = min(wake, expires)
                        continue
                    if row.next_attempt_at > now:
                        wake = min(wake, row.next_attempt_at)
                        continue
                    self.busy.add(lane)
                    self._pending.take(row)
                    self._running.add(row.id)
                    nursery.start_soon(self._run_one, row, lane, limiter, working)
                await self._tell(held, working)
                if wake < math.inf or self.busy:
                    await self.doorbell.wait(max(0.0, wake - now))
                elif await self.doorbell.quiet(self.rest_after):
                    return  # nothing to do: rest until the next ring

    async def _tell(self, held: bool, working: bool) -> None:
        """Tell the user once when replies start to wait, and once when they have gone."""
        if held and self._outage is None:
            waiting = await self.journal.pending_count(self.session, source="signal")
            status = self.sessions.status(self.session) or "not WORKING"
            log.warning(
                "session is %s: %d replies wait for it",
                status,
                waiting,
                extra={"session": self.session, "event": "replies.waiting"},
            )
            self._outage = _Outage()
            await self.relay.session_down(self.session, status, waiting)
        elif (
            working
            and self._outage is not None
            and not self._replies_busy()
            and await self.journal.pending_count(self.session, source="signal") == 0
        ):
            outage, self._outage = self._outage, None
            log.info(
                "session works again: %d replies that waited delivered, %d failed",
                outage.delivered,
                outage.failed,
                extra={"session": self.session, "event": "replies.delivered"},
            )
            await self.relay.session_back(self.session, outage.delivered, outage.failed)

    def _replies_busy(self) -> bool:
        return any(lane.startswith("signal:") for lane in self.busy)

    async def _run_one(
        self, row: JournalRow, lane: str, limiter: trio.CapacityLimiter, working: bool
    ) -> None:
        try:
            with self.in_flight.one():
                if row.source == "signal" and not working:
                    # Held past retry.maxAgeHours: its session did not come back in time.
                    reason = "gave up after retry.maxAgeHours: the session was not WORKING"
                    async with limiter:
                        await self._dead(row, reason)
                else:
                    await self._attempt(row, limiter)
        finally:
            self.busy.discard(lane)
            self._running.discard(row.id)
            self.doorbell.nudge()  # the lane's next row, if any, is in memory

    async def _attempt(self, row: JournalRow, limiter: trio.CapacityLimiter) -> None:
        began = trio.current_time()
        try:
            # The limit is on sends at once: a row whose send is over waits for its journal
            # write (the lane stays busy until then) without holding another chat back. A free
            # slot is taken without a checkpoint, so a handed row's send starts at once.
            try:
                limiter.acquire_nowait()
            except trio.WouldBlock:
                await limiter.acquire()
            try:
                mappings = await self.relay.handle(row)
            finally:
                limiter.release()
        except Deferred as deferred:
            if self._too_old(row):
                await self._dead(row, f"gave up after retry.maxAgeHours: {deferred}")
                return
            await self._later(row, str(deferred), deferred.retry_after)
        except UpstreamError as error:
            await self._failed(row, error, took=trio.current_time() - began)
        except StorageError:
            raise  # the store is unwell, not the row: the supervisor restarts the poller
        except Exception as error:  # noqa: BLE001 - a poison row: counted, then dead
            # A row that cannot be handled as it is (poison: a malformed payload, or a bug a
            # payload triggers) uses up attempts and ends dead. It must never crash the
            # poller: a restart would cancel the other chats' sends in flight and then meet
            # the same row again, forever.
            reason = _safe(f"{type(error).__name__}: {error}")
            log.warning("row %d cannot be handled: %s", row.id, reason)
            await self._permanent(row, f"unhandleable: {reason}")
        else:
            await self.journal.complete(row.id, mappings=mappings)
            self._pending.settle(row, None)
            self._transient.pop(row.id, None)
            self.last_activity = self.clock()
            self.metrics.handled.labels(_direction(row), "delivered").inc()
            if self._outage is not None and row.source == "signal":
                self._outage.delivered += 1

    def _too_old(self, row: JournalRow) -> bool:
        return self.clock() - row.received_at > self.retry.max_age

    async def _failed(self, row: JournalRow, error: UpstreamError, *, took: float) -> None:
        """A transient failure waits its backoff, and at least as long as the failed attempt
        took: a send that timed out may have been carried out by a slow upstream, which a
        quick retry would only load more (and, where the send carries no id, show twice)."""
        self.metrics.failures.labels(_direction(row), error.failure.value).inc()
        text = f"{error.upstream}: {error.error}"
        if error.failure is Failure.RATE_LIMITED:
            # The upstream paused the whole bridge number; this row waits for the pause.
            await self._later(row, text, error.retry_after or 0.0)
        elif error.failure is Failure.TRANSIENT:
            if self._too_old(row):
                await self._dead(row, f"gave up after retry.maxAgeHours: {text}")
                return
            count = self._transient.get(row.id, 0) + 1
            self._transient[row.id] = count
            await self._later(row, text, max(self.retry.backoff.delay(count), took))
        else:
            await self._permanent(row, text)

    async def _later(
        self, row: JournalRow, error: str, delay: float, *, count: bool = False
    ) -> None:
        error = _safe(error)
        self.last_error = error
        self.metrics.handled.labels(_direction(row), "retried").inc()
        log.info(
            "row %d (%s) retry in %.1fs: %s",
            row.id,
            row.kind,
            delay,
            error,
            extra={"session": self.session},
        )
        due = self.clock() + delay
        attempts = await self.journal.retry_later(
            row.id, next_attempt_at=due, error=error, count_attempt=count
        )
        again = attrs.evolve(row, attempts=attempts, next_attempt_at=due, last_error=error)
        self._pending.settle(row, again)

    async def _permanent(self, row: JournalRow, error: str) -> None:
        error = _safe(error)
        attempts = row.attempts + 1
        if attempts >= self.retry.max_attempts:
            # Count the last attempt too, so the dead letter shows every attempt made.
            await self.journal.retry_later(
                row.id, next_attempt_at=self.clock(), error=error, count_attempt=True
            )
            await self._dead(row, error)
            return
        await self._later(row, error, self.retry.backoff.delay(attempts), count=True)

    async def _dead(self, row: JournalRow, error: str) -> None:
        error = _safe(error)
        await self.journal.bury(row.id, error=error)
        self._pending.settle(row, None)
        self._transient.pop(row.id, None)
        self.last_error = error
        self.metrics.dead.labels(_direction(row)).inc()
        self.metrics.handled.labels(_direction(row), "dead").inc()
        if self._outage is not None and row.source == "signal":
            self._outage.failed += 1
        log.error(
            "row %d (%s) is a dead letter: %s",
            row.id,
            row.kind,
            error,
            extra={"session": self.session},
        )
        await self.relay.dead(row)
