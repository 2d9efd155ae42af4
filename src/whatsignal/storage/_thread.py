"""The dedicated database thread: one OS thread owns one sqlite3 connection for its life.

Why a thread of our own: stdlib ``sqlite3`` objects must stay on the thread that created
them, and ``trio.to_thread.run_sync`` (even behind a ``CapacityLimiter(1)``) may run each
call on a different worker thread. So :class:`DbThread` starts one ``threading.Thread``
that opens the connection, then serves work items from a queue until it is told to stop.

Work items are plain functions ``fn(conn) -> value``. Each caller awaits a ``trio.Event``
that the thread sets through the caller's trio token once the item's outcome is final.

Group commit: the thread takes whatever items are queued when it becomes free (up to
``batch_max``). The reads run first, each on its own; the writes then run together in ONE
``BEGIN IMMEDIATE`` ... ``COMMIT``, each inside its own SAVEPOINT so that an item that fails
is rolled back alone and its neighbours still commit. The fsync cost of ``synchronous=FULL``
is thereby paid once per batch instead of once per caller. Every write's caller is told of
its outcome only after the COMMIT, so "returned" means "durable".

A caller may pass ``then``: a plain function called with the item's value in the trio thread,
in the order the items ran (so, for journal inserts, in row id order across callers and
batches), right before the caller is woken, and only if the item succeeded. The intake uses it
to hand each journaled row to its session's poller in commit order.

Cancellation: a caller that is cancelled while waiting just stops waiting. Its item still
runs (or already ran) to completion on the thread and its outcome is dropped; nothing is
half-applied, because every item is atomic.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs
import trio

from whatsignal.errors import StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")

SAFETY_NET_PAGES = 10_000
"""``wal_autocheckpoint`` of a thread that checkpoints itself (SQLite's own: a safety net)."""

Opener = Callable[[], sqlite3.Connection]
Work = Callable[[sqlite3.Connection], Any]


@attrs.define
class StoreStats:
    """Counters of the database thread (read from trio; written only by the thread).

    Attributes:
        transactions: write transactions committed (one per group-committed batch).
        failed_transactions: write transactions that could not commit.
        writes: write items executed (committed or rolled back alone).
        reads: read items executed.
        largest_batch: the most write items ever committed together.
    """

    transactions: int = 0
    failed_transactions: int = 0
    writes: int = 0
    reads: int = 0
    largest_batch: int = 0


@attrs.define(eq=False)
class _Job:
    """One work item and the slot its outcome is delivered through."""

    fn: Work
    write: bool
    token: trio.lowlevel.TrioToken
    then: Callable[[Any], None] | None = None
    done: trio.Event = attrs.Factory(trio.Event)
    value: Any = None
    error: BaseException | None = None
    delivered: bool = False  # touched only by the database thread


class _Stop:
    """The sentinel that tells the thread to finish the queued work and exit."""


_STOP = _Stop()


def to_storage_error(exc: BaseException, context: str) -> BaseException:
    """Turn an sqlite3 error into a StorageError (with the original as its cause).

    Other exceptions (StorageError raised on purpose, programming errors) pass unchanged.
    """
    if isinstance(exc, sqlite3.Error):
        error = StorageError(f"{context}: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _wake(jobs: list[_Job]) -> None:
    """Runs in the trio thread: run the jobs' ``then`` (in order), release their callers."""
    for job in jobs:
        if job.then is not None and job.error is None:
            try:
                job.then(job.value)
            except Exception:
                log.exception("a store call's completion hook failed")
        job.done.set()


def _deliver(jobs: list[_Job]) -> None:
    """Hand finished jobs back to their trio runs, one callback per run."""
    by_token: dict[trio.lowlevel.TrioToken, list[_Job]] = {}
    for job in jobs:
        job.delivered = True
        by_token.setdefault(job.token, []).append(job)
    for token, group in by_token.items():
        # RunFinishedError: that trio run is over, so nobody waits for these outcomes.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(_wake, group)


@attrs.define(eq=False)
class DbThread:
    """Owner of the connection's thread and of the queue that feeds it.

    Use :meth:`start` (opens the connection through ``opener`` on the new thread), then
    :meth:`call` any number of times from trio, then :meth:`stop`.
    """

    _opener: Opener
    _name: str = "whatsignal-db"
    _batch_max: int = 256
    stats: StoreStats = attrs.Factory(StoreStats)
    checkpoint_after: int | None = None
    """Write items after which this thread checkpoints the WAL, once its queue is empty (at
    the latest after four times as many); None: SQLite's own checkpoints only."""
    _written: int = attrs.field(init=False, default=0)
    _queue: queue.SimpleQueue[_Job | _Stop] = attrs.field(init=False, factory=queue.SimpleQueue)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _closed: bool = attrs.field(init=False, default=False)
    _thread: threading.Thread | None = attrs.field(init=False, default=None)
    _exited: trio.Event = attrs.field(init=False, factory=trio.Event)
    _ready: _Job | None = attrs.field(init=False, default=None)

    @property
    def ident(self) -> int | None:
        """The OS thread id that owns the connection (None before start)."""
        return None if self._thread is None else self._thread.ident

    async def start(self) -> None:
        """Start the thread and wait until it has opened the connection.

        Raises:
            StorageError: opening failed (the thread has then already exited).
        """
        token = trio.lowlevel.current_trio_token()
        self._ready = _Job(fn=lambda conn: None, write=False, token=token)
        self._thread = threading.Thread(
            target=self._main, args=(token,), name=self._name, daemon=True
        )
        self._thread.start()
        opened = False
        try:
            await self._ready.done.wait()
            opened = True
        finally:
            if not opened:
                self.stop_nowait()  # cancelled while opening: the thread exits once it is open
        if self._ready.error is not None:
            raise self._ready.error

    async def call(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        write: bool,
        then: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``fn(conn)`` on the database thread and return its result.

        ``write=True`` runs it inside the next group-committed transaction and returns only
        after that transaction committed. sqlite3 errors come back as StorageError. ``then``:
        see the module docstring.
        """
        job = _Job(fn=fn, write=write, token=trio.lowlevel.current_trio_token(), then=then)
        with self._lock:
            if self._closed:
                raise StorageError("the store is closed")
            self._queue.put(job)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return cast(T, job.value)

    def stop_nowait(self) -> None:
        """Ask the thread to finish the work already queued, close and exit."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop the thread and wait (shielded, at most ``grace`` s) until it has exited.

        Shielded because it runs while the store is being cancelled; bounded because a
        wedged disk must not hang shutdown forever (the daemon thread is then abandoned;
        WAL keeps the file consistent whatever happens to it).
        """
        self.stop_nowait()
        if self._thread is None:
            return
        with trio.move_on_after(grace, shield=True) as scope:
            await self._exited.wait()
        if scope.cancelled_caught:
            log.warning("database thread did not stop within %.0f s; abandoning it", grace)

    # ---- everything below runs on the database thread -----------------------------------

    def _main(self, token: trio.lowlevel.TrioToken) -> None:
        assert self._ready is not None
        batch: list[_Job] = []
        try:
            try:
                conn = self._opener()
                if self.checkpoint_after is not None:
                    conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")
            except Exception as exc:  # noqa: BLE001 - handed to the caller of start()
                self._ready.error = to_storage_error(exc, "cannot open the database")
                return
            finally:
                _deliver([self._ready])
            try:
                self._serve(conn, batch)
            finally:
                conn.close()
        finally:
            with self._lock:
                self._closed = True
            leftovers = [job for job in batch if not job.delivered]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Job):
                    leftovers.append(item)
            for job in leftovers:
                if job.error is None:
                    job.error = StorageError("the store closed before this operation ran")
            _deliver(leftovers)
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._exited.set)

    def _serve(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        """Take batches off the queue until the stop sentinel arrives."""
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch.clear()
            if isinstance(item, _Stop):
                return
            batch.append(item)
            while len(batch) < self._batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stopping = True
                    break
                batch.append(item)
            reads = [job for job in batch if not job.write]
            writes = [job for job in batch if job.write]
            for job in reads:
                self._run_read(conn, job)
            _deliver(reads)
            if writes:
                self._run_writes(conn, writes)
                _deliver(writes)
                self._written += len(writes)
            self._checkpoint_when_idle(conn)
            batch.clear()

    def _checkpoint_when_idle(self, conn: sqlite3.Connection) -> None:
        """Copy the WAL into the database file between batches, not inside a commit.

        SQLite checkpoints inside the commit that takes the WAL past ``wal_autocheckpoint``
        pages: that commit took 1.5-3 ms instead of 0.25, and so did the message waiting for it
        (issue 16). Here it runs once the last batch's callers were told and no work waits.
        """
        after = self.checkpoint_after
        if after is None or self._written < after:
            return
        if not self._queue.empty() and self._written < 4 * after:
            return
        self._written = 0
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            log.exception("WAL checkpoint failed (SQLite's own checkpoints remain)")

    def _run_read(self, conn: sqlite3.Connection, job: _Job) -> None:
        self.stats.reads += 1
        try:
            # One snapshot for all of the read's statements: on the reader's connection a
            # commit may land between two of them (a pending snapshot's rows and watermark).
            conn.execute("BEGIN")
            job.value = job.fn(conn)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
            job.error = to_storage_error(exc, "database read failed")
        if conn.in_transaction:  # the read's snapshot ends here
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("could not end a transaction a read left open (its snapshot)")

    def _run_writes(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        """Run ``jobs`` in one transaction, each isolated by a SAVEPOINT."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in jobs:
                self.stats.writes += 1
                conn.execute("SAVEPOINT item")
                try:
                    job.value = job.fn(conn)
                except Exception as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                    conn.execute("ROLLBACK TO item")
                    job.error = to_storage_error(exc, "database write failed")
                conn.execute("RELEASE item")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.stats.failed_transactions += 1
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rollback after a failed transaction failed too")
            for job in jobs:
                job.value = None
                job.error = to_storage_error(exc, "database transaction failed")
        else:
            self.stats.transactions += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))


@attrs.define(eq=False)
class DbThreads:
    """The writer's :class:`DbThread` and, for a database file, a reader's on a second
    connection. In WAL mode a read sees everything committed when it starts and never waits
    behind a group commit's fsync (on one connection, every read queued behind the commit in
    progress, and a caller that reads several times in a row waited for each). Writes, and
    every call of an in-memory database (a second connection would be another database), go
    to the writer.
    """

    writer: DbThread
    reader: DbThread | None = None

    @property
    def ident(self) -> int | None:
        """The writer's thread id (the one that owns the database's writes)."""
        return self.writer.ident

    async def start(self) -> None:
        """Start the writer (it opens and migrates), then the reader."""
        await self.writer.start()
        if self.reader is None:
            return
        started = False
        try:
            await self.reader.start()
            started = True
        finally:
            if not started:
                await self.writer.stop()

    async def call(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        write: bool,
        then: Callable[[T], None] | None = None,
    ) -> T:
        """:meth:`DbThread.call` on the writer, or (a read) on the reader."""
        db = self.writer if write or self.reader is None else self.reader
        return await db.call(fn, write=write, then=then)

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop the reader, then the writer (see :meth:`DbThread.stop`)."""
        if self.reader is not None:
            await self.reader.stop(grace=grace)
        await self.writer.stop(grace=grace)
