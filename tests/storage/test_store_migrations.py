"""Numbered migrations: an old database upgrades, a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from whatsignal.errors import StorageError
from whatsignal.storage import LATEST_VERSION, Contact, SqliteStore
from whatsignal.storage.migrations import (
    MIGRATIONS,
    Migration,
    check_numbering,
    current_version,
    migrate,
)

# migrate() stamps what it applies with a time its caller reads from a clock.
NOW = 1_700_000_000.0


def _connect(path: Path | str) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_migrations_are_numbered_without_gaps() -> None:
    check_numbering()
    assert len(MIGRATIONS) == LATEST_VERSION
    with pytest.raises(ValueError, match="without gaps"):
        check_numbering((Migration(1, "a", ()), Migration(3, "c", ())))


def test_a_fresh_database_gets_every_migration_once() -> None:
    conn = _connect(":memory:")
    assert current_version(conn) == 0
    assert migrate(conn, applied_at=NOW) == LATEST_VERSION
    assert migrate(conn, applied_at=NOW) == LATEST_VERSION  # running again changes nothing
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    assert versions == list(range(1, LATEST_VERSION + 1))


async def test_a_version_1_database_upgrades_with_its_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = _connect(path)
    assert migrate(conn, applied_at=NOW, target=1) == 1
    conn.execute(
        "INSERT INTO journal (source, key, queue, chat, kind, payload, received_at, updated_at)"
        " VALUES ('whatsapp', 'wa:msg:old', 'default', 'a@c.us', 'message', x'7b7d', 5, 5)"
    )
    conn.execute(
        "INSERT INTO message_mappings (session, whatsapp_id, chat_id, bridge_number,"
        " destination, signal_timestamp, direction, created_at)"
        " VALUES ('default', 'W1', 'a@c.us', '+1', '+2', 42, 'wa_to_signal', 5)"
    )
    assert conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'contacts'"
    ).fetchone() == (0,)
    conn.close()

    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(SqliteStore(str(path)).run)
        [row] = await store.pending_heads("default")
        assert (row.key, row.payload) == ("wa:msg:old", b"{}")
        found = await store.mapping_by_signal_timestamp("+1", 42)
        assert found is not None
        assert found.whatsapp_id == "W1"
        contact = Contact("default", "1@c.us", "Bob", "1", 1.0)
        await store.put_contact(contact)  # a table that version 2 added
        assert await store.get_contact("default", "1@c.us") == contact
        await store.check_health()  # the probe's table, which version 3 added
        nursery.cancel_scope.cancel()

    with _connect(path) as check:
        assert current_version(check) == LATEST_VERSION


async def test_a_database_from_a_newer_whatsignal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = _connect(path)
    migrate(conn, applied_at=NOW)
    conn.execute("INSERT INTO schema_version VALUES (?, 'from the future', 0)", (999,))
    conn.close()
    async with trio.open_nursery() as nursery:
        with pytest.raises(StorageError, match="newer than this whatsignal"):
            await nursery.start(SqliteStore(str(path)).run)


def test_a_failing_migration_leaves_the_previous_version() -> None:
    steps = (
        Migration(1, "ok", ("CREATE TABLE a (x)",)),
        Migration(2, "broken", ("CREATE TABLE b (x)", "THIS IS NOT SQL")),
    )
    conn = _connect(":memory:")
    with pytest.raises(StorageError, match="schema migration 2 failed"):
        migrate(conn, applied_at=NOW, migrations=steps)
    assert current_version(conn) == 1
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "a" in tables
    assert "b" not in tables  # rolled back with the failed step
    assert not conn.in_transaction
