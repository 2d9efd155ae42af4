"""SqliteStore: the embedded :class:`~whatsignal.storage.base.Store`, on stdlib sqlite3.

One actor, one dedicated thread, one connection (see ``_thread.py`` for why and for group
commit). The database runs in WAL mode with ``synchronous=FULL`` by default: WAHA forgets
an event as soon as it has its 200, so a journaled event must survive a power cut, not just
a process crash. ``database.synchronous`` may relax that.

Only opening, migrating and serving live here; the SQL is in ``journal.py``, ``mappings.py``
and ``caches.py``. Each method binds one of those functions to its arguments and to the
time read from the store's ``clock`` (on the trio thread, never the database thread) and
hands it to the database thread as one work item: one transaction, or one savepoint of a
group-committed one.

Resource handling:
    ``await nursery.start(store.run)`` opens the database, migrates it and returns the
    store; cancelling ``run`` finishes the queued work and closes the connection. Calls
    outside that window raise StorageError.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Concatenate, NoReturn, ParamSpec, TypeVar

import attrs
import trio

from whatsignal.clock import Clock, wall_clock
from whatsignal.errors import StorageError
from whatsignal.storage import caches as _caches
from whatsignal.storage import health as _health
from whatsignal.storage import journal as _journal
from whatsignal.storage import mappings as _mappings
from whatsignal.storage import send_parts as _parts
from whatsignal.storage._thread import DbThread, StoreStats
from whatsignal.storage.base import Store
from whatsignal.storage.migrations import migrate
from whatsignal.storage.models import (
    Contact,
    Group,
    InboundEvent,
    JournalRow,
    JournalState,
    MessageMapping,
)
from whatsignal.storage.send_parts import SendPart

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
"""Accepted values of ``database.synchronous`` (SQLite's ``PRAGMA synchronous``)."""


def _upper(value: str) -> str:
    return value.upper()


def _touch_private(path: str) -> None:
    """Create the database file readable by its owner only (it holds message content)."""
    if not os.path.exists(path):
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)


def _tuple(sessions: Sequence[str] | None) -> tuple[str, ...] | None:
    """A snapshot of the caller's sequence, taken before the work leaves the trio thread."""
    return None if sessions is None else tuple(sessions)


def _complete(
    conn: sqlite3.Connection, row_id: int, *, mappings: Sequence[MessageMapping], now: float
) -> None:
    """Both halves of ``complete`` in one work item, so that they commit together."""
    _parts.forget_row(conn, row_id)
    _journal.mark_done(conn, row_id, now=now)
    _mappings.upsert(conn, mappings)


def _prune(conn: sqlite3.Connection, *, done_before: float, mappings_before: float) -> int:
    """Both deletions of ``prune`` in one work item; the rows deleted."""
    done = _journal.prune_done(conn, before=done_before)
    return done + _mappings.prune(conn, before=mappings_before)


@attrs.define(eq=False)
class SqliteStore(Store):
    """The SQLite store actor.

    :class:`Store` is named as its base so that mypy checks each method against the
    protocol, whose docstrings the methods here inherit rather than repeat.

    Args:
        path: the database file, or ``":memory:"`` (tests; gone when the store stops).
        synchronous: SQLite's ``PRAGMA synchronous``; FULL unless durability against power
            loss may be traded for speed.
        batch_max: the most calls group-committed into one transaction.
        busy_timeout_ms: how long to wait for a lock held by another process.
        clock: the unix time the store stamps rows and migrations with (the bridge's clock).

    ``stats`` counts transactions and calls (see :class:`StoreStats`).
    """

    path: str
    synchronous: str = attrs.field(
        default="FULL",
        kw_only=True,
        converter=_upper,
        validator=attrs.validators.in_(SYNCHRONOUS_MODES),
    )
    batch_max: int = attrs.field(
        default=256,
        kw_only=True,
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)],
    )
    busy_timeout_ms: int = attrs.field(default=5000, kw_only=True)
    _clock: Clock = attrs.field(default=wall_clock, kw_only=True)
    stats: StoreStats = attrs.field(init=False, factory=StoreStats)
    _db: DbThread | None = attrs.field(init=False, default=None)
    _opened: _health.FileId | None = attrs.field(init=False, default=None)

    @property
    def thread_ident(self) -> int | None:
        """The id of the thread that owns the connection while the store runs."""
        return None if self._db is None else self._db.ident

    async def run(
        self, *, task_status: trio.TaskStatus[SqliteStore] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Open and migrate the database, report the store as started, serve until cancelled.

        Raises:
            StorageError: the database cannot be opened or migrated (from ``nursery.start``).
        """
        if self._db is not None:
            raise StorageError("the store is already running")
        opener = partial(self._open, applied_at=self._clock())
        db = DbThread(opener, batch_max=self.batch_max, stats=self.stats)
        self._db = db
        try:
            await db.start()
            task_status.started(self)
            await trio.sleep_forever()
        finally:
            self._db = None
            await db.stop()

    def _open(self, *, applied_at: float) -> sqlite3.Connection:
        """Runs on the database thread: connect, set the pragmas, migrate (stamped
        ``applied_at``, read from the clock on the trio thread)."""
        if self.path != ":memory:":
            try:
                _touch_private(self.path)
            except OSError as exc:
                raise StorageError(f"cannot create the database file: {exc}") from exc
        conn = sqlite3.connect(self.path, isolation_level=None)
        ready = False
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if self.path != ":memory:" and str(mode).lower() != "wal":
                log.warning("database journal mode is %s, not WAL", mode)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, applied_at=applied_at)
            if self.path != ":memory:":
                # Which file this connection writes: the health check tells when the path
                # names another one (deleted, or replaced under the bridge).
                self._opened = _health.file_id(self.path)
            ready = True
        finally:
            if not ready:
                conn.close()  # whatever went wrong, the half-opened connection goes
        return conn

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        db = self._db
        if db is None:
            raise StorageError("the store is not running")
        return await db.call(fn, write=write)

    async def _read(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(conn, *args, **kwargs)`` as a read on the database thread."""
        return await self._call(lambda conn: fn(conn, *args, **kwargs), write=False)

    async def _write(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(conn, *args, **kwargs)`` as one write item of the next group commit."""
        return await self._call(lambda conn: fn(conn, *args, **kwargs), write=True)

    # ---- Journal ------------------------------------------------------------------------

    async def journal(self, events: Sequence[InboundEvent]) -> list[int | None]:
        """See :meth:`Journal.journal`. A caller cancelled while waiting may still have its
        events committed; harmless, because journaling them again is a no-op."""
        batch = tuple(events)
        if not batch:
            return []
        return await self._write(_journal.insert, batch, now=self._clock())

    async def pending_heads(self, queue: str, *, limit: int = 256) -> list[JournalRow]:
        return await self._read(_journal.pending_heads, queue, limit=limit)

    async def pending_count(self, queue: str | None = None, *, source: str | None = None) -> int:
        return await self._read(_journal.pending_count, queue, source)

    async def queues_with_pending(self) -> list[str]:
        return await self._read(_journal.queues_with_pending)

    async def complete(self, row_id: int, *, mappings: Sequence[MessageMapping] = ()) -> None:
        await self._write(_complete, row_id, mappings=tuple(mappings), now=self._clock())

    async def retry_later(
        self, row_id: int, *, next_attempt_at: float, error: str, count_attempt: bool
    ) -> int:
        return await self._write(
            _journal.retry_later,
            row_id,
            next_attempt_at=next_attempt_at,
            error=error,
            count_attempt=count_attempt,
            now=self._clock(),
        )

    async def bury(self, row_id: int, *, error: str) -> None:
        await self._write(_journal.bury, row_id, error=error, now=self._clock())

    async def requeue(
        self, row_id: int, *, queue: str, chat: str | None, to_end: bool = False
    ) -> int:
        now = self._clock()
        return await self._write(_journal.requeue, row_id, queue, chat, to_end=to_end, now=now)

    async def requeue_many(self, moves: Sequence[tuple[int, str, str | None]]) -> list[int]:
        return await self._write(_journal.requeue_many, tuple(moves), now=self._clock())

    async def retry_now(self) -> int:
        return await self._write(_journal.retry_now)

    async def dead_letters(self, *, limit: int = 100) -> list[JournalRow]:
        return await self._read(_journal.dead_letters, limit=limit)

    async def resurrect(self, row_id: int) -> bool:
        return await self._write(_journal.resurrect, row_id, now=self._clock())

    async def pending_by_queue(self) -> dict[str, int]:
        return await self._read(_journal.pending_by_queue)

    async def pending_stats(self) -> dict[str, tuple[int, float]]:
        return await self._read(_journal.pending_stats)

    async def pending_since(self, *, before: float, limit: int = 256) -> list[JournalRow]:
        return await self._read(_journal.pending_since, before=before, limit=limit)

    async def state_counts(self) -> dict[tuple[str, str], int]:
        return await self._read(_journal.state_counts)

    async def last_received(self, queue: str, source: str) -> float | None:
        return await self._read(_journal.last_received, queue, source)

    async def has_key(self, key: str) -> bool:
        return await self._read(_journal.has_key, key)

    async def state_of(self, key: str) -> JournalState | None:
        return await self._read(_journal.state_of, key)

    # ---- Mappings -----------------------------------------------------------------------

    async def mapping_by_whatsapp_id(self, session: str, whatsapp_id: str) -> MessageMapping | None:
        return await self._read(_mappings.by_whatsapp_id, session, whatsapp_id)

    async def mapping_by_signal_timestamp(
        self, bridge_number: str, signal_timestamp: int
    ) -> MessageMapping | None:
        return await self._read(_mappings.by_signal_timestamp, bridge_number, signal_timestamp)

    async def latest_mapping(
        self, bridge_number: str, destination: str, *, sessions: Sequence[str] | None = None
    ) -> MessageMapping | None:
        if sessions is not None and not sessions:
            return None  # nothing can match: answered without the database
        return await self._read(
            _mappings.latest, bridge_number, destination, None, _tuple(sessions)
        )

    async def latest_mapping_by_name(
        self,
        bridge_number: str,
        destination: str,
        sender_name: str,
        *,
        sessions: Sequence[str] | None = None,
    ) -> MessageMapping | None:
        if sessions is not None and not sessions:
            return None  # nothing can match: answered without the database
        allowed = _tuple(sessions)
        return await self._read(_mappings.latest, bridge_number, destination, sender_name, allowed)

    async def recent_chats(self, session: str, *, limit: int = 200) -> list[str]:
        return await self._read(_mappings.recent_chats, session, limit=limit)

    async def update_delivery(self, session: str, whatsapp_id: str, status: int) -> bool:
        """See :meth:`Mappings.update_delivery`.

        Raises:
            ValueError: ``status`` is not a WAHA ack level (-1..4), before any database work.
        """
        _mappings.check_ack_level(status)
        return await self._write(_mappings.update_delivery, session, whatsapp_id, status)

    # ---- Caches -------------------------------------------------------------------------

    async def put_contact(self, contact: Contact) -> None:
        await self._write(_caches.put_contact, contact)

    async def get_contact(self, session: str, contact_id: str) -> Contact | None:
        return await self._read(_caches.get_contact, session, contact_id)

    async def put_group(self, group: Group) -> None:
        await self._write(_caches.put_group, group)

    async def get_group(self, session: str, group_id: str) -> Group | None:
        return await self._read(_caches.get_group, session, group_id)

    async def put_signal_identity(self, number: str, uuid: str) -> None:
        await self._write(_caches.put_signal_identity, number, uuid, now=self._clock())

    async def number_for_uuid(self, uuid: str) -> str | None:
        return await self._read(_caches.number_for_uuid, uuid)

    async def uuid_for_number(self, number: str) -> str | None:
        return await self._read(_caches.uuid_for_number, number)

    # ---- Send parts ---------------------------------------------------------------------

    async def send_parts(self, row_key: str) -> dict[int, SendPart]:
        return await self._read(_parts.load, row_key)

    async def put_send_part(self, row_key: str, index: int, part: SendPart) -> None:
        await self._write(_parts.put, row_key, index, part, now=self._clock())

    # ---- Health -------------------------------------------------------------------------

    async def check_health(self) -> None:
        await self._write(_health.check, path=self.path, opened=self._opened, now=self._clock())

    # ---- Retention ----------------------------------------------------------------------

    async def prune(self, *, done_before: float, mappings_before: float) -> int:
        return await self._write(_prune, done_before=done_before, mappings_before=mappings_before)
