"""Scheduler: periodic housekeeping of the journal.

* **Retention**, every ``server.cleanupIntervalHours``: journal rows that finished (``done``)
  more than ``retentionDays`` ago go, and message mappings older than that. Pending and dead
  rows are never pruned: they are work, or evidence an operator still has to look at.
  A done row is also the natural key that turns a redelivery into a no-op, so the intake
  refuses events older than :func:`dedupe_horizon` (a margin short of the retention): a
  replay of anything older could no longer be told from a new event.
* **Expiry**, every ``expire_interval`` seconds: a pending row older than
  ``retry.maxAgeHours`` in a queue that has no poller (its session is gone from WAHA, or left
  out by ``signal.maxConcurrentSessions``) becomes a dead letter, and the user is told, as a
  poller does with the rows it gives up on. Without this, work for a session that never comes
  back would wait forever, unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NoReturn, Protocol

import attrs
import trio

from whatsignal.clock import Clock
from whatsignal.errors import StorageError
from whatsignal.metrics import Metrics
from whatsignal.storage import Journal, JournalRow, Retention

__all__ = ["KEY_MARGIN", "Scheduler", "dedupe_horizon"]

log = logging.getLogger("whatsignal.scheduler")


KEY_MARGIN = 0.1
"""The share of the retention the dedupe horizon stays short of (at least an hour)."""


def dedupe_horizon(retention: float) -> float:
    """The age (seconds) up to which the journal can still tell a redelivered event: a margin
    short of ``retention``, the seconds a done row (its natural key) is kept.

    A row is pruned ``retention`` after it was *done*, which is after it arrived, which is
    after the sender stamped it, so an event younger than ``retention`` still has its key.
    The margin covers a sender's clock running ahead of the bridge's (the event's time is
    WAHA's or the Signal sender's, the row's is the bridge's): 10 % of the retention, at
    least an hour. At the smallest retention (1 day) that is 21.6 hours, far beyond WAHA's
    webhook retries (30 s by default; about 4 minutes with the linear policy).
    """
    return retention - max(3600.0, retention * KEY_MARGIN)


class SchedulerStore(Journal, Retention, Protocol):
    """The journal, and its retention."""


class Running(Protocol):
    """The sessions that have a poller now (the registry)."""

    def running(self) -> Sequence[str]: ...


class DeadLetters(Protocol):
    """Tells the user about a row given up on (the relay)."""

    async def dead(self, row: JournalRow) -> None: ...


@attrs.define(eq=False, kw_only=True)
class Scheduler:
    """Args:
    retention: seconds a finished row or a mapping is kept.
    interval: seconds between retention passes.
    max_age: ``retry.maxAgeHours`` in seconds.
    """

    store: SchedulerStore
    clock: Clock
    relay: DeadLetters
    running: Running
    metrics: Metrics
    retention: float
    interval: float
    max_age: float
    expire_interval: float = 60.0

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        task_status.started()
        next_prune = trio.current_time()
        while True:
            if trio.current_time() >= next_prune:
                await self.prune_once()
                next_prune = trio.current_time() + self.interval
            await self.expire_once()
            await trio.sleep(min(self.expire_interval, max(0.0, next_prune - trio.current_time())))

    async def prune_once(self) -> int:
        """One retention pass; a failing database is logged and tried again next time."""
        cutoff = self.clock() - self.retention
        try:
            removed = await self.store.prune(done_before=cutoff, mappings_before=cutoff)
        except StorageError as error:
            log.error("retention pass failed (will retry): %s", error)
            return 0
        if removed:
            log.info("retention: %d old rows pruned", removed)
        return removed

    async def expire_once(self) -> int:
        """Give up on rows that waited longer than ``max_age`` for a poller that is not
        there; returns how many."""
        try:
            rows = await self.store.pending_since(before=self.clock() - self.max_age)
            running = set(self.running.running())
            expired = 0
            for row in rows:
                if row.queue in running:
                    continue  # its poller ages its own rows
                await self.store.bury(
                    row.id,
                    error=f"gave up after retry.maxAgeHours: session {row.queue} did not run",
                )
                direction = "wa_to_signal" if row.source == "whatsapp" else "signal_to_wa"
                self.metrics.dead.labels(direction).inc()
                self.metrics.handled.labels(direction, "dead").inc()
                log.error(
                    "row %d (%s) is a dead letter: its session did not run for retry.maxAgeHours",
                    row.id,
                    row.kind,
                    extra={"session": row.queue},
                )
                await self.relay.dead(row)
                expired += 1
        except StorageError as error:
            log.error("expiry pass failed (will retry): %s", error)
            return 0
        return expired
