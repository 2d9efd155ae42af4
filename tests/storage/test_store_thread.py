"""The dedicated database thread: batching, isolation of failures, shutdown edge cases."""

from __future__ import annotations

import logging
import sqlite3
import threading
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from storage_helpers import Gate, insert, run_batched

from whatsignal.errors import StorageError
from whatsignal.storage._thread import DbThread


def _open_memory() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
    return conn


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])


async def test_queued_writes_commit_together_and_a_failure_stays_alone() -> None:
    db = DbThread(_open_memory)
    await db.start()
    try:
        gate = Gate()
        outcomes = await run_batched(db, gate, [insert(1), insert(1), insert(2)])
        assert outcomes[0] == 1
        assert isinstance(outcomes[1], StorageError)  # UNIQUE violation: only this one fails
        assert "database write failed: UNIQUE constraint failed" in str(outcomes[1])
        assert outcomes[2] == 2
        assert db.stats.transactions == 1
        assert db.stats.largest_batch == 3
        assert await db.call(_count, write=False) == 2
    finally:
        await db.stop()


async def test_a_transaction_that_cannot_commit_fails_every_call_in_it() -> None:
    def sabotage(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # ends the group transaction under everyone's feet

    db = DbThread(_open_memory)
    await db.start()
    try:
        outcomes = await run_batched(db, Gate(), [insert(1), sabotage, insert(2)])
        assert all(isinstance(o, StorageError) for o in outcomes)
        assert "transaction failed" in str(outcomes[0])
        assert db.stats.failed_transactions == 1
        assert await db.call(_count, write=False) == 0
        assert await db.call(insert(3), write=True) == 1  # the thread carries on
    finally:
        await db.stop()


async def test_read_errors_are_storage_errors_and_reads_leave_no_transaction() -> None:
    db = DbThread(_open_memory)
    await db.start()
    try:
        with pytest.raises(StorageError, match="database read failed"):
            await db.call(lambda conn: conn.execute("SELECT * FROM missing"), write=False)
        with pytest.raises(ZeroDivisionError):  # programming errors pass through unchanged
            await db.call(lambda conn: 1 // 0, write=False)
        # A read runs in a snapshot of its own (one transaction for all its statements)...
        assert await db.call(lambda conn: conn.in_transaction, write=False) is True
        # ...which ends with it: the next write's BEGIN IMMEDIATE finds none open.
        await db.call(lambda conn: conn.execute("CREATE TABLE later (x)"), write=True)
    finally:
        await db.stop()


async def test_calls_after_stop_fail_and_stop_is_idempotent() -> None:
    db = DbThread(_open_memory)
    await db.start()
    await db.stop()
    await db.stop()
    with pytest.raises(StorageError, match="closed"):
        await db.call(_count, write=False)


async def test_stop_before_start_does_nothing() -> None:
    await DbThread(_open_memory).stop()


async def test_stop_gives_up_after_the_grace_period(caplog: pytest.LogCaptureFixture) -> None:
    db = DbThread(_open_memory)
    await db.start()
    gate = Gate()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(db.call, gate.job, write=False))
        await gate.wait_entered()
        with caplog.at_level(logging.WARNING):
            await db.stop(grace=0.05)
        assert "did not stop" in caplog.text
        gate.release.set()


async def test_cancelling_start_while_opening_still_stops_the_thread() -> None:
    gate = threading.Event()

    def slow_open() -> sqlite3.Connection:
        gate.wait(10)
        return _open_memory()

    db = DbThread(slow_open)
    with trio.move_on_after(0.05):
        await db.start()
    gate.set()
    thread = db._thread
    assert thread is not None
    await trio.to_thread.run_sync(thread.join, 10)
    assert not thread.is_alive()


class _Boom(BaseException):
    """Not an Exception: simulates a crash of the thread itself."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_if_the_thread_dies_every_waiting_caller_is_released() -> None:
    def crash(conn: sqlite3.Connection) -> None:
        raise _Boom

    db = DbThread(_open_memory, batch_max=1)
    await db.start()
    outcomes = await run_batched(db, Gate(), [insert(1), crash, insert(2), insert(3)])
    assert outcomes[0] == 1  # committed before the crash
    assert all(isinstance(o, StorageError) for o in outcomes[1:])  # released, not stuck
    with pytest.raises(StorageError, match="closed"):
        await db.call(_count, write=False)
    await db.stop()
    thread = db._thread
    assert thread is not None
    await trio.to_thread.run_sync(thread.join, 10)  # let the thread's exception be reported


def test_outcomes_for_a_finished_trio_run_are_dropped_quietly() -> None:
    gate = Gate()
    holder: dict[str, DbThread] = {}

    async def main() -> None:
        db = DbThread(_open_memory)
        holder["db"] = db
        await db.start()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(db.call, gate.job, write=False))
            await gate.wait_entered()
            nursery.cancel_scope.cancel()  # the caller gives up; the job is still running

    trio.run(main)
    db = holder["db"]
    gate.release.set()  # the thread now reports to a trio run that no longer exists
    db.stop_nowait()
    thread = db._thread
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()


async def test_stop_finishes_the_work_queued_before_it() -> None:
    db = DbThread(_open_memory)
    await db.start()
    outcomes = await run_batched(db, Gate(), [insert(1), insert(2)], stop=True)
    assert outcomes == [1, 2]
    with pytest.raises(StorageError, match="closed"):
        await db.call(_count, write=False)
    await db.stop()


class _RollbackFails(sqlite3.Connection):
    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "ROLLBACK":
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)


async def test_a_failed_rollback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def open_flaky() -> sqlite3.Connection:
        return sqlite3.connect(":memory:", isolation_level=None, factory=_RollbackFails)

    def release_twice(conn: sqlite3.Connection) -> None:
        conn.execute("RELEASE item")  # the batch's own RELEASE then fails

    db = DbThread(open_flaky)
    await db.start()
    try:
        with caplog.at_level(logging.ERROR):
            await db.call(lambda conn: conn.execute("SELECT 1"), write=False)
            assert "could not end a transaction" in caplog.text
            with pytest.raises(StorageError, match="transaction failed"):
                await db.call(release_twice, write=True)
            assert "rollback after a failed transaction failed" in caplog.text
    finally:
        await db.stop()
