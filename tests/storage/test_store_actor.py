"""SqliteStore as an actor: lifecycle, group commit, durability, one thread, errors."""

from __future__ import annotations

import inspect
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import trio
from storage_helpers import event, mapping

from whatsignal.errors import StorageError
from whatsignal.storage import SqliteStore, Store


def test_sqlite_store_implements_the_store_protocol() -> None:
    store: Store = SqliteStore(":memory:")  # mypy checks the structural match statically
    # Store declares nothing itself: its methods come from the narrower protocols it joins.
    members = [n for n, f in inspect.getmembers(Store, inspect.isfunction) if n[0] != "_"]
    assert len(members) == 48
    for name in members:
        declared = inspect.signature(getattr(Store, name))
        without_self = declared.replace(parameters=list(declared.parameters.values())[1:])
        assert inspect.signature(getattr(store, name)) == without_self, name


async def test_calls_before_start_and_after_stop_are_storage_errors(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.db"))
    with pytest.raises(StorageError, match="not running"):
        await store.journal([event("a")])
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        assert await store.journal([event("a")]) != [None]
        nursery.cancel_scope.cancel()
    with pytest.raises(StorageError, match="not running"):
        await store.pending_count()


async def test_run_twice_at_once_is_refused(nursery: trio.Nursery) -> None:
    store = SqliteStore(":memory:")
    await nursery.start(store.run)
    with pytest.raises(StorageError, match="already running"):
        await nursery.start(store.run)


async def test_a_file_database_survives_close_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "durable.db")
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(SqliteStore(path).run)
        done, pending = await store.journal([event("wa:msg:1"), event("wa:msg:2")])
        assert done is not None
        await store.complete(done, mappings=[mapping("1", signal_timestamp=77)])
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        reopened: SqliteStore = await nursery.start(SqliteStore(path).run)
        [head] = await reopened.pending_heads("default")
        assert head.id == pending
        assert head.key == "wa:msg:2"
        found = await reopened.mapping_by_signal_timestamp(mapping("1").bridge_number, 77)
        assert found == mapping("1", signal_timestamp=77)
        assert await reopened.journal([event("wa:msg:1")]) == [None]  # still deduplicated
        nursery.cancel_scope.cancel()


async def test_the_database_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    async with trio.open_nursery() as nursery:
        await nursery.start(SqliteStore(str(path)).run)
        nursery.cancel_scope.cancel()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(("mode", "level"), [("FULL", 2), ("normal", 1), ("OFF", 0)])
async def test_synchronous_is_applied(
    tmp_path: Path, nursery: trio.Nursery, mode: str, level: int
) -> None:
    store: SqliteStore = await nursery.start(
        SqliteStore(str(tmp_path / "s.db"), synchronous=mode).run
    )
    db = store._db
    assert db is not None and db.reader is not None
    pragma = db.writer.call(lambda c: c.execute("PRAGMA synchronous").fetchone()[0], write=False)
    assert await pragma == level  # the writer's: its commits are the ones made durable
    for thread in (db.writer, db.reader):
        timeout = thread.call(lambda c: c.execute("PRAGMA busy_timeout").fetchone()[0], write=False)
        assert await timeout > 0


def test_bad_settings_are_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(":memory:", synchronous="SOMETIMES")
    with pytest.raises(ValueError, match="batch_max"):
        SqliteStore(":memory:", batch_max=0)


async def test_an_unopenable_path_fails_start_with_storage_error(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "missing-dir" / "s.db"))
    async with trio.open_nursery() as nursery:
        with pytest.raises(StorageError, match="cannot create the database file"):
            await nursery.start(store.run)
    (tmp_path / "dir.db").mkdir()
    async with trio.open_nursery() as nursery:
        with pytest.raises(StorageError, match="cannot open the database"):
            await nursery.start(SqliteStore(str(tmp_path / "dir.db")).run)


async def test_sqlite_errors_become_storage_errors_and_journal_is_atomic(
    store: SqliteStore,
) -> None:
    bad = event("bad", received_at=object())  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="database write failed") as info:
        await store.journal([event("good"), bad])
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert await store.pending_count() == 0  # neither event was journaled
    assert await store.journal([event("good")]) != [None]


async def test_500_concurrent_journal_calls_land_in_few_transactions(tmp_path: Path) -> None:
    async with trio.open_nursery() as outer:
        store: SqliteStore = await outer.start(SqliteStore(str(tmp_path / "gc.db")).run)
        before = store.stats.transactions
        results: dict[int, list[int | None]] = {}

        async def one(i: int) -> None:
            results[i] = await store.journal([event(f"wa:msg:{i}", chat=f"{i % 7}@c.us")])

        async with trio.open_nursery() as nursery:
            for i in range(500):
                nursery.start_soon(one, i)

        ids = [r[0] for r in results.values()]
        assert len(ids) == 500
        assert None not in ids
        assert len(set(ids)) == 500
        assert await store.pending_count() == 500
        transactions = store.stats.transactions - before
        assert transactions <= 100, transactions  # group commit: far fewer than 500
        assert store.stats.largest_batch > 1
        # Order per chat follows journal order: each chat's head is its lowest id.
        heads = await store.pending_heads("default")
        assert len(heads) == 7
        outer.cancel_scope.cancel()


async def test_a_failing_call_does_not_fail_the_calls_batched_with_it(
    store: SqliteStore,
) -> None:
    outcomes: dict[str, Any] = {}

    async def good(i: int) -> None:
        outcomes[f"good{i}"] = await store.journal([event(f"k{i}")])

    async def bad() -> None:
        try:
            await store.complete(999_999)
        except StorageError as exc:
            outcomes["bad"] = exc

    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(good, i)
            if i % 10 == 0:
                nursery.start_soon(bad)
    assert isinstance(outcomes["bad"], StorageError)
    assert all(outcomes[f"good{i}"] != [None] for i in range(50))
    assert await store.pending_count() == 50


async def test_a_cancelled_journal_call_is_either_committed_or_not_and_is_safe_to_repeat(
    store: SqliteStore,
) -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.journal([event("wa:msg:1")])  # the item is queued, then the wait cancelled
    # The work still runs on the database thread (wait for it: a read may be served before
    # the queued write); a redelivery is then a no-op.
    with trio.fail_after(5):
        while await store.pending_count() != 1:
            await trio.sleep(0.001)
    assert await store.journal([event("wa:msg:1")]) == [None]
    assert await store.pending_count() == 1


async def test_each_connection_is_only_ever_used_on_its_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used_on: set[int] = set()
    used_by: dict[int, set[int]] = {}

    class RecordingConnection(sqlite3.Connection):
        def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
            self._used()
            return super().execute(*args, **kwargs)

        def close(self) -> None:
            self._used()
            super().close()

        def _used(self) -> None:
            used_on.add(threading.get_ident())
            used_by.setdefault(id(self), set()).add(threading.get_ident())

    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, factory=RecordingConnection, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    async with trio.open_nursery() as outer:
        store: SqliteStore = await outer.start(SqliteStore(str(tmp_path / "t.db")).run)
        owner = store.thread_ident

        async def work(i: int) -> None:
            [row] = await store.journal([event(f"k{i}", chat=f"{i % 5}")])
            assert row is not None
            await store.pending_heads("default")
            await store.complete(row, mappings=[mapping(f"w{i}")])
            await store.update_delivery("default", f"w{i}", 2)

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(work, i)
        outer.cancel_scope.cancel()
    assert owner is not None
    assert owner != threading.get_ident()
    # Each connection stays on its own thread: the writer's, and the reader's.
    assert owner in used_on and threading.get_ident() not in used_on
    assert all(len(threads) == 1 for threads in used_by.values())
    assert store.thread_ident is None


async def test_a_read_does_not_wait_behind_a_commit_in_progress(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A database file gets a second, read-only connection: a poller or the routing loop
    reading the journal is not held up by a group commit's fsync on a slow disk."""
    store: SqliteStore = await nursery.start(SqliteStore(str(tmp_path / "r.db")).run)
    await store.journal([event("wa:msg:1")])
    entered, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> None:  # a write stuck in its commit
        entered.set()
        release.wait(30)

    assert store._db is not None
    nursery.start_soon(lambda: store._db.writer.call(slow, write=True))  # type: ignore[union-attr]
    await trio.to_thread.run_sync(entered.wait)
    try:
        with trio.fail_after(5):
            assert await store.pending_count() == 1  # committed before: seen, at once
    finally:
        release.set()
    [again] = await store.journal([event("wa:msg:2")])  # the writer goes on afterwards
    assert again is not None and await store.pending_count() == 2


async def test_a_read_sees_one_snapshot_even_when_a_commit_lands_midway(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A poller's pending snapshot (its rows, then the journal's highest id) must not mix the
    state before a commit with the state after it: a row it then also gets handed would be
    held twice, and sent twice."""
    store: SqliteStore = await nursery.start(SqliteStore(str(tmp_path / "s.db")).run)
    await store.journal([event("wa:msg:1")])
    between, committed = threading.Event(), threading.Event()

    def two_statements(conn: sqlite3.Connection) -> tuple[int, int]:
        count = "SELECT COUNT(*) FROM journal"
        first = conn.execute(count).fetchone()[0]
        between.set()
        committed.wait(10)
        return first, conn.execute(count).fetchone()[0]

    seen: list[tuple[int, int]] = []

    async def read() -> None:
        seen.append(await store._call(two_statements, write=False))

    async with trio.open_nursery() as reading:
        reading.start_soon(read)
        await trio.to_thread.run_sync(between.wait)
        await store.journal([event("wa:msg:2")])  # commits while the read is between statements
        committed.set()
    assert seen == [(1, 1)]
    assert await store.pending_count() == 2
