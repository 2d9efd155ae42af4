"""Housekeeping: finished rows and old mappings go, pending and dead rows stay; rows that waited
longer than retry.maxAgeHours for a poller that is not there become dead letters, told."""

from __future__ import annotations

import time

import trio
import trio.testing

from whatsignal.actors.scheduler import Scheduler
from whatsignal.errors import StorageError
from whatsignal.metrics import Metrics
from whatsignal.storage import InboundEvent, JournalRow, MessageMapping, SqliteStore

DAY = 86400.0


class Running:
    def __init__(self, *sessions: str) -> None:
        self.sessions = list(sessions)

    def running(self) -> list[str]:
        return self.sessions


class Told:
    def __init__(self) -> None:
        self.rows: list[int] = []

    async def dead(self, row: JournalRow) -> None:
        self.rows.append(row.id)


def _scheduler(store: object, clock: object, **kwargs: object) -> Scheduler:
    options: dict[str, object] = {
        "relay": Told(),
        "running": Running(),
        "metrics": Metrics(),
        "retention": 30 * DAY,
        "interval": DAY,
        "max_age": DAY,
    }
    options.update(kwargs)
    return Scheduler(store=store, clock=clock, **options)  # type: ignore[arg-type]


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
    scheduler = _scheduler(store, lambda: now[0])
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
        async def pending_since(self, *, before: float, limit: int = 256) -> list[JournalRow]:
            return []

        async def prune(self, *, done_before: float, mappings_before: float) -> int:
            calls.append(trio.current_time())
            cutoffs.append((done_before, mappings_before))
            if len(calls) == 2:
                raise StorageError("locked")
            return 3

    def clock() -> float:  # the bridge's wall clock, moving with trio's
        return 1_700_000_000.0 + trio.current_time()

    scheduler = _scheduler(
        FlakyStore(), clock, retention=DAY, interval=3600.0, expire_interval=3600.0
    )
    with trio.move_on_after(3 * 3600 + 1):
        await scheduler.run()
    assert calls == [0, 3600, 7200, 10800]  # the failed pass at 3600 did not stop it
    start = 1_700_000_000.0 - DAY
    assert cutoffs == [(start + t, start + t) for t in (0, 3600, 7200, 10800)]


async def test_rows_that_waited_too_long_for_a_missing_poller_become_told_dead_letters(
    nursery: trio.Nursery,
) -> None:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    old = InboundEvent(
        source="signal",
        key="gone",
        queue="gone",
        chat="1@c.us",
        kind="envelope",
        payload=b"{}",
        received_at=1000.0,
    )
    polled = InboundEvent(
        source="whatsapp",
        key="live",
        queue="live",
        chat="1@c.us",
        kind="message",
        payload=b"{}",
        received_at=1000.0,
    )
    fresh = InboundEvent(
        source="whatsapp",
        key="fresh",
        queue="gone",
        chat="2@c.us",
        kind="message",
        payload=b"{}",
        received_at=1000.0 + DAY,
    )
    gone_id, _, fresh_id = await store.journal([old, polled, fresh])
    told, metrics = Told(), Metrics()
    scheduler = _scheduler(
        store, lambda: 1001.0 + DAY, relay=told, running=Running("live"), metrics=metrics
    )
    assert await scheduler.expire_once() == 1
    assert told.rows == [gone_id]
    assert await store.state_of("gone") == "dead"
    assert await store.state_of("live") == "pending"  # its poller ages its own rows
    assert await store.state_of("fresh") == "pending"  # not old enough
    assert metrics.dead.labels("signal_to_wa")._value.get() == 1
    assert fresh_id is not None
