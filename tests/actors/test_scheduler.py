"""Retention: finished rows and old mappings go, pending and dead rows stay."""

from __future__ import annotations

import time

import trio
import trio.testing

from whatsignal.actors.scheduler import Scheduler
from whatsignal.errors import StorageError
from whatsignal.storage import InboundEvent, MessageMapping, SqliteStore

DAY = 86400.0


def _event(key: str, chat: str) -> InboundEvent:
    return InboundEvent(
        source="whatsapp",
        key=key,
        queue="s",
        chat=chat,
        kind="message",
        payload=b"{}",
        received_at=0.0,
    )


async def test_prunes_only_finished_rows_older_than_retention(nursery: trio.Nursery) -> None:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    done, _pending, dead = await store.journal(
        [_event("a", "1"), _event("b", "2"), _event("c", "3")]
    )
    assert done is not None
    assert dead is not None
    mapping = MessageMapping(
        session="s",
        whatsapp_id="w",
        chat_id="1",
        bridge_number="+1",
        destination="+2",
        signal_timestamp=1,
        direction="wa_to_signal",
        created_at=0.0,
    )
    await store.complete(done, mappings=[mapping])
    await store.bury(dead, error="x")
    # The row finished just now; the mapping was created at the epoch (ancient).
    now = [time.time()]
    scheduler = Scheduler(store=store, clock=lambda: now[0], retention=30 * DAY, interval=DAY)
    assert await scheduler.prune_once() == 1  # only the ancient mapping
    assert await store.mapping_by_whatsapp_id("s", "w") is None
    assert await store.has_key("a")  # finished too recently
    now[0] += 31 * DAY
    assert await scheduler.prune_once() == 1  # now the finished row too
    assert not await store.has_key("a")
    assert await store.has_key("b")  # pending: still work
    assert await store.has_key("c")  # dead: kept for the operator


async def test_runs_every_interval_and_survives_database_errors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[float] = []
    cutoffs: list[tuple[float, float]] = []

    class FlakyStore:
        async def prune(self, *, done_before: float, mappings_before: float) -> int:
            calls.append(trio.current_time())
            cutoffs.append((done_before, mappings_before))
            if len(calls) == 2:
                raise StorageError("locked")
            return 3

    def clock() -> float:  # the bridge's wall clock, moving with trio's
        return 1_700_000_000.0 + trio.current_time()

    scheduler = Scheduler(
        store=FlakyStore(),  # type: ignore[arg-type]
        clock=clock,
        retention=DAY,
        interval=3600.0,
    )
    with trio.move_on_after(3 * 3600 + 1):
        await scheduler.run()
    assert calls == [0, 3600, 7200, 10800]  # the failed pass at 3600 did not stop it
    start = 1_700_000_000.0 - DAY
    assert cutoffs == [(start + t, start + t) for t in (0, 3600, 7200, 10800)]
