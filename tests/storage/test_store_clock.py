"""The store's one clock: every time it stamps comes from the clock it was given.

The hand clock starts in 1970 (see ``HandClock``), so a stamp taken from the real wall
clock instead would be 50 years off and fail these tests.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import trio
from storage_helpers import HandClock, event, mapping

from whatsignal.clock import wall_clock
from whatsignal.storage import LATEST_VERSION, SqliteStore
from whatsignal.storage.migrations import migrate


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture(params=["memory", "file"])
async def clocked(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery, clock: HandClock
) -> SqliteStore:
    """A running SqliteStore that reads ``clock``."""
    path = ":memory:" if request.param == "memory" else str(tmp_path / "clocked.db")
    running: SqliteStore = await nursery.start(SqliteStore(path, clock=clock).run)
    return running


async def _updated_at(store: SqliteStore) -> dict[str, float]:
    """``updated_at`` of every journal row, by key (not part of the Store interface)."""
    db = store._db
    assert db is not None
    rows = await db.call(
        lambda conn: conn.execute("SELECT key, updated_at FROM journal").fetchall(), write=False
    )
    return {str(key): float(at) for key, at in rows}


def _applied_at(path: Path) -> dict[int, float]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version, applied_at FROM schema_version").fetchall()
    return {int(version): float(at) for version, at in rows}


async def test_done_rows_are_stamped_by_the_clock_and_pruned_by_it(
    clocked: SqliteStore, clock: HandClock
) -> None:
    start = clock.now
    early, late = await clocked.journal([event("early", chat="1"), event("late", chat="2")])
    assert early is not None
    assert late is not None
    assert await _updated_at(clocked) == {"early": start, "late": start}

    early_done = clock.advance(100)
    await clocked.complete(early, mappings=[mapping("E", created_at=early_done)])
    late_done = clock.advance(100)
    await clocked.complete(late)
    assert await _updated_at(clocked) == {"early": early_done, "late": late_done}

    # Retention keeps a row finished exactly at the boundary and deletes one finished before.
    keep_mappings = 0.0
    assert await clocked.prune(done_before=early_done, mappings_before=keep_mappings) == 0
    assert await clocked.prune(done_before=early_done + 1, mappings_before=keep_mappings) == 1
    assert not await clocked.has_key("early")
    assert await clocked.has_key("late")
    assert await clocked.prune(done_before=late_done + 1, mappings_before=keep_mappings) == 1
    assert await clocked.state_counts() == {}


async def test_every_journal_write_stamps_the_clock_of_its_call(
    clocked: SqliteStore, clock: HandClock
) -> None:
    ids = await clocked.journal([event(f"k{i}", chat=f"{i}") for i in range(5)])
    retried, buried, moved, moved_to_end, moved_many = (i for i in ids if i is not None)
    stamps: dict[str, float] = {}
    stamps["k0"] = clock.advance(1)
    await clocked.retry_later(retried, next_attempt_at=5.0, error="x", count_attempt=True)
    stamps["k1"] = clock.advance(1)
    await clocked.bury(buried, error="x")
    stamps["k2"] = clock.advance(1)
    await clocked.requeue(moved, queue="other", chat="c")
    stamps["k3"] = clock.advance(1)
    await clocked.requeue(moved_to_end, queue="other", chat="d", to_end=True)
    stamps["k4"] = clock.advance(1)
    await clocked.requeue_many([(moved_many, "other", "e")])
    clock.advance(1)  # nothing stamps a time it did not read when it was called
    assert await _updated_at(clocked) == stamps


async def test_resurrect_stamps_received_at_from_the_clock(
    clocked: SqliteStore, clock: HandClock
) -> None:
    [row_id] = await clocked.journal([event("dead", received_at=5.0)])
    assert row_id is not None
    await clocked.bury(row_id, error="poison")
    revived_at = clock.advance(3600)
    assert await clocked.resurrect(row_id)
    [row] = await clocked.pending_heads("default")
    assert row.received_at == revived_at
    assert await clocked.last_received("default", "whatsapp") == revived_at
    assert await _updated_at(clocked) == {"dead": revived_at}


async def test_signal_identities_are_stamped_by_the_clock(
    clocked: SqliteStore, clock: HandClock
) -> None:
    seen_at = clock.advance(7)
    await clocked.put_signal_identity("+15550003333", "u-1")
    db = clocked._db
    assert db is not None
    rows = await db.call(
        lambda conn: conn.execute("SELECT updated_at FROM signal_identities").fetchall(),
        write=False,
    )
    assert rows == [(seen_at,)]


async def test_migrations_are_stamped_with_the_clock_of_the_start(tmp_path: Path) -> None:
    path = tmp_path / "stamped.db"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, applied_at=10.0, target=1)  # a database an older whatsignal created
    old.close()
    async with trio.open_nursery() as nursery:
        await nursery.start(SqliteStore(str(path), clock=HandClock(20.0)).run)
        nursery.cancel_scope.cancel()
    stamps = _applied_at(path)
    assert stamps[1] == 10.0  # applied back then, not restamped
    assert all(stamps[version] == 20.0 for version in range(2, LATEST_VERSION + 1))


def test_migrate_stamps_the_time_it_is_given() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn, applied_at=42.5)
    rows = conn.execute("SELECT applied_at FROM schema_version").fetchall()
    assert rows == [(42.5,)] * LATEST_VERSION
    conn.close()


async def test_the_clock_is_read_on_the_trio_thread_only(tmp_path: Path) -> None:
    # A bridge may hand down a clock built on trio's own (trio.current_time() only works in
    # the trio thread), so the database thread must never call it.
    read_on: set[int] = set()

    def clock() -> float:
        read_on.add(threading.get_ident())
        return 1_000_000.0 + trio.current_time()

    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(
            SqliteStore(str(tmp_path / "t.db"), clock=clock).run
        )
        [row_id] = await store.journal([event("k")])
        assert row_id is not None
        await store.complete(row_id)
        await store.put_signal_identity("+1", "u")
        nursery.cancel_scope.cancel()
    assert read_on == {threading.get_ident()}


async def test_the_default_clock_is_the_wall_clock(nursery: trio.Nursery) -> None:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    before = wall_clock()
    await store.journal([event("k")])
    after = wall_clock()
    [stamp] = (await _updated_at(store)).values()
    assert before <= stamp <= after
