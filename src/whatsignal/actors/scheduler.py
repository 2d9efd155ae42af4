"""Scheduler: periodic housekeeping of the journal.

* **Retention**, every ``server.cleanupIntervalHours``: journal rows that finished (``done``)
  more than ``retentionDays`` ago go, and message mappings older than that. Pending and dead
  rows are never pruned: they are work, or evidence an operator still has to look at.
  Retention must stay far longer than WAHA's webhook retry window (15 x 2 s by default): a
  done row is also the dedupe key that turns a late redelivery into a no-op.
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

__all__ = ["Scheduler"]

log = logging.getLogger("whatsignal.scheduler")


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
