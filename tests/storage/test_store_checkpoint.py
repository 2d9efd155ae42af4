"""The writer checkpoints the WAL between batches, not inside a commit: after
``checkpoint_after`` write items once no work waits, or at the latest after four times as many;
on a file the database itself then holds what the WAL held."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from storage_helpers import FAST_KDF, Gate, event, insert, run_batched

from whatsignal.storage import SqliteStore
from whatsignal.storage._thread import SAFETY_NET_PAGES, DbThread
from whatsignal.storage.sqlite import CHECKPOINT_AFTER


class Recording(sqlite3.Connection):
    """A connection that notes the table's row count whenever a checkpoint is asked for."""

    checkpoints: list[int]
    fail: bool = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith("PRAGMA wal_checkpoint"):
            self.checkpoints.append(int(super().execute("SELECT COUNT(*) FROM t").fetchone()[0]))
            if self.fail:
                raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)


@attrs.define
class Opener:
    """Opens a :class:`Recording` connection (on the database thread, which must own it)."""

    fail: bool = False
    checkpoints: list[int] = attrs.Factory(list)

    def __call__(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", isolation_level=None, factory=Recording)
        conn.checkpoints = self.checkpoints
        conn.fail = self.fail
        conn.execute("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
        return conn


async def checkpointed(opener: Opener, count: int) -> None:
    """Wait until the thread has checkpointed ``count`` times (nothing else is queued, so it
    does once it has told the last caller)."""
    with trio.fail_after(5):
        while len(opener.checkpoints) < count:
            await trio.sleep(0.001)


async def test_an_idle_writer_checkpoints_after_so_many_writes() -> None:
    opener = Opener()
    db = DbThread(opener, checkpoint_after=3)
    await db.start()
    try:
        for group in range(3):
            for value in range(3):
                await db.call(insert(3 * group + value), write=True)
            await checkpointed(opener, group + 1)
    finally:
        await db.stop()
    assert opener.checkpoints == [3, 6, 9]  # never after one or two writes


async def test_a_writer_that_is_never_idle_still_checkpoints() -> None:
    opener = Opener()
    db = DbThread(opener, batch_max=1, checkpoint_after=2)
    await db.start()
    try:
        # Ten writes queued behind a held job, one per batch: the queue empties only after
        # the last; the eighth (four times checkpoint_after) checkpoints all the same.
        await run_batched(db, Gate(), [insert(v) for v in range(10)])
        await checkpointed(opener, 2)
    finally:
        await db.stop()
    assert opener.checkpoints == [8, 10]


async def test_a_failed_checkpoint_is_logged_and_the_writer_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    opener = Opener(fail=True)
    db = DbThread(opener, checkpoint_after=1)
    await db.start()
    try:
        await db.call(insert(1), write=True)
        await checkpointed(opener, 1)
        assert await db.call(insert(2), write=True) == 2
        await checkpointed(opener, 2)
    finally:
        await db.stop()
    assert opener.checkpoints == [1, 2]
    assert "WAL checkpoint failed" in caplog.text


async def test_the_database_file_holds_the_rows_once_the_writer_checkpointed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"

    def rows_in_the_file_alone() -> int:
        copy = tmp_path / "copy.db"  # the database without its WAL
        shutil.copyfile(path, copy)
        with sqlite3.connect(copy) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if ("journal",) not in tables.fetchall():
                return 0  # not even the schema: every migration is still in the WAL
            return int(conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0])

    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(
            SqliteStore(str(path), kdf_iterations=FAST_KDF).run
        )
        for i in range(10):
            await store.journal([event(f"wa:default:{i}")])
        assert rows_in_the_file_alone() == 0  # all in the WAL: SQLite did not checkpoint
        for i in range(10, CHECKPOINT_AFTER):
            await store.journal([event(f"wa:default:{i}")])
        await store._call(lambda c: None, write=True)  # the writer is past its checkpoint
        assert rows_in_the_file_alone() == CHECKPOINT_AFTER
        assert (
            await store._call(
                lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0], write=True
            )
            == SAFETY_NET_PAGES
        )
        nursery.cancel_scope.cancel()
