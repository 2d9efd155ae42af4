"""Scheduler: periodic housekeeping (retention of finished journal rows and old mappings).

Every ``server.cleanupIntervalHours`` it deletes journal rows that finished (``done``) more than
``retentionDays`` ago, and message mappings older than that. Pending and dead rows are never
pruned: they are work, or evidence an operator still has to look at.

Retention must stay far longer than WAHA's webhook retry window (15 x 2 s by default): a done
row is also the dedupe key that turns a late redelivery into a no-op.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import attrs
import trio

from whatsignal.clock import Clock
from whatsignal.errors import StorageError
from whatsignal.storage import Retention

__all__ = ["Scheduler"]

log = logging.getLogger("whatsignal.scheduler")


@attrs.define(eq=False, kw_only=True)
class Scheduler:
    store: Retention
    clock: Clock
    retention: float  # seconds
    interval: float  # seconds

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        task_status.started()
        while True:
            await self.prune_once()
            await trio.sleep(self.interval)

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
