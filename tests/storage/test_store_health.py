"""The store's health check: a durable write, to the very file the store opened.

Run against a real file: deleted, replaced, made read-only (as a non-root user: root writes any
file whatever its mode), and a connection that can no longer write (``PRAGMA query_only``,
which stands in for a disk that is full or remounted read-only, and works as root too).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import trio

from whatsignal.errors import StorageError
from whatsignal.storage import Health, SqliteStore

AS_ROOT = os.geteuid() == 0


async def _open(nursery: trio.Nursery, path: Path, now: float = 1_700_000_000.0) -> SqliteStore:
    store: SqliteStore = await nursery.start(SqliteStore(str(path), clock=lambda: now).run)
    return store


async def _checked_at(store: SqliteStore) -> list[float]:
    rows = await store._call(  # the probe's row is not part of any protocol
        lambda conn: conn.execute("SELECT checked_at FROM health").fetchall(), write=False
    )
    return [row[0] for row in rows]


async def test_a_healthy_store_writes_its_one_probe_row(store: SqliteStore) -> None:
    health: Health = store  # mypy checks the structural match
    writes = store.stats.writes

    await health.check_health()
    await health.check_health()

    assert len(await _checked_at(store)) == 1  # one row, rewritten
    assert store.stats.writes == writes + 2  # through the group-committed write path


async def test_the_probe_row_carries_the_stores_clock(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    store = await _open(nursery, tmp_path / "h.db", now=1_700_000_123.0)
    await store.check_health()
    assert await _checked_at(store) == [1_700_000_123.0]


async def test_a_deleted_database_file_is_reported(tmp_path: Path, nursery: trio.Nursery) -> None:
    path = tmp_path / "h.db"
    store = await _open(nursery, path)
    await store.check_health()
    path.unlink()  # SQLite goes on writing through its open descriptor, to a ghost

    with pytest.raises(StorageError, match="deleted or moved since the bridge opened it"):
        await store.check_health()


async def test_a_replaced_database_file_is_reported(tmp_path: Path, nursery: trio.Nursery) -> None:
    path = tmp_path / "h.db"
    store = await _open(nursery, path)
    shutil.copyfile(path, tmp_path / "restored.db")
    os.replace(tmp_path / "restored.db", path)  # e.g. a backup restored over the live file

    with pytest.raises(StorageError, match="replaced since the bridge opened it"):
        await store.check_health()


@pytest.mark.skipif(
    AS_ROOT,
    reason="root may write a file whatever its mode, so a chmod changes nothing to detect; "
    "test_a_store_that_cannot_write_is_reported covers a store that cannot write",
)
async def test_a_database_file_made_read_only_is_reported(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    path = tmp_path / "h.db"
    store = await _open(nursery, path)
    path.chmod(stat.S_IRUSR)
    try:
        with pytest.raises(StorageError, match="no longer writable"):
            await store.check_health()
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


async def test_a_file_the_process_may_no_longer_write_is_reported(
    tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The answer the kernel gives a non-root process after the chmod above (root is never
    # refused, so this stands in for it whoever runs the tests).
    path = tmp_path / "h.db"
    store = await _open(nursery, path)
    monkeypatch.setattr(os, "access", lambda p, mode: not (p == str(path) and mode == os.W_OK))

    with pytest.raises(StorageError, match="no longer writable"):
        await store.check_health()


async def test_a_database_file_that_cannot_be_looked_at_is_reported(
    tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.db"
    store = await _open(nursery, path)

    def denied(p: str, *args: object, **kwargs: object) -> os.stat_result:
        raise PermissionError(13, "Permission denied", p)  # e.g. its directory's mode changed

    monkeypatch.setattr(os, "stat", denied)
    with pytest.raises(StorageError, match=r"cannot be looked at: Permission denied$"):
        await store.check_health()


async def test_a_store_that_cannot_write_is_reported(tmp_path: Path, nursery: trio.Nursery) -> None:
    store = await _open(nursery, tmp_path / "h.db")
    # What a full disk or a file system remounted read-only does to a running connection.
    assert store._db is not None  # on the writer's connection: the one health checks write on
    await store._db.writer.call(lambda conn: conn.execute("PRAGMA query_only = ON"), write=False)

    with pytest.raises(StorageError, match="readonly"):
        await store.check_health()


async def test_an_in_memory_store_has_no_file_to_lose(nursery: trio.Nursery) -> None:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    await store.check_health()
    assert len(await _checked_at(store)) == 1
