"""SqliteStore: the embedded :class:`~whatsignal.storage.base.Store`, on stdlib sqlite3.

One actor, one dedicated thread, one connection (see ``_thread.py`` for why and for group
commit). The database runs in WAL mode with ``synchronous=FULL`` by default: WAHA forgets
an event as soon as it has its 200, so a journaled event must survive a power cut, not just
a process crash. ``database.synchronous`` may relax that.

Resource handling:
    ``await nursery.start(store.run)`` opens the database, migrates it and returns the
    store; cancelling ``run`` finishes the queued work and closes the connection. Calls
    outside that window raise StorageError.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar, cast

import attrs
import trio

from whatsignal.errors import StorageError
from whatsignal.storage._thread import DbThread, StoreStats
from whatsignal.storage.migrations import migrate
from whatsignal.storage.models import (
    Contact,
    Direction,
    Group,
    InboundEvent,
    JournalRow,
    JournalState,
    MessageMapping,
    Source,
    delivery_rank,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
"""Accepted values of ``database.synchronous`` (SQLite's ``PRAGMA synchronous``)."""

_JOURNAL_COLUMNS = (
    "id, source, key, queue, chat, kind, payload, received_at,"
    " state, attempts, next_attempt_at, last_error"
)
_MAPPING_COLUMNS = (
    "session, whatsapp_id, chat_id, bridge_number, destination, signal_timestamp,"
    " direction, created_at, sender_name, delivery_status"
)


def _journal_row(row: tuple[Any, ...]) -> JournalRow:
    return JournalRow(
        id=row[0],
        source=cast(Source, row[1]),
        key=row[2],
        queue=row[3],
        chat=row[4],
        kind=row[5],
        payload=bytes(row[6]),
        received_at=row[7],
        state=cast(JournalState, row[8]),
        attempts=row[9],
        next_attempt_at=row[10],
        last_error=row[11],
    )


def _mapping(row: tuple[Any, ...] | None) -> MessageMapping | None:
    if row is None:
        return None
    return MessageMapping(
        session=row[0],
        whatsapp_id=row[1],
        chat_id=row[2],
        bridge_number=row[3],
        destination=row[4],
        signal_timestamp=row[5],
        direction=cast(Direction, row[6]),
        created_at=row[7],
        sender_name=row[8],
        delivery_status=row[9],
    )


def _upper(value: str) -> str:
    return value.upper()


def _touch_private(path: str) -> None:
    """Create the database file readable by its owner only (it holds message content)."""
    if not os.path.exists(path):
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)


def _move_to_end(
    conn: sqlite3.Connection, row_id: int, queue: str, chat: str | None, now: float
) -> int:
    """Renumber a row after every row journaled so far, in another queue and chat."""
    moved = conn.execute(
        "SELECT source, key, kind, payload, received_at, state, attempts,"
        " next_attempt_at, last_error FROM journal WHERE id = ?",
        (row_id,),
    ).fetchone()
    if moved is None:
        raise StorageError(f"journal row {row_id} does not exist")
    # Delete first: the natural key is unique. Both happen in the caller's transaction.
    conn.execute("DELETE FROM journal WHERE id = ?", (row_id,))
    cursor = conn.execute(
        "INSERT INTO journal (source, key, queue, chat, kind, payload, received_at,"
        " state, attempts, next_attempt_at, last_error, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (moved[0], moved[1], queue, chat, *moved[2:], now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _must_exist(cursor: sqlite3.Cursor, row_id: int) -> None:
    if cursor.rowcount == 0:
        raise StorageError(f"journal row {row_id} does not exist")


@attrs.define(eq=False)
class SqliteStore:
    """The SQLite store actor.

    Args:
        path: the database file, or ``":memory:"`` (tests; gone when the store stops).
        synchronous: SQLite's ``PRAGMA synchronous``; FULL unless durability against power
            loss may be traded for speed.
        batch_max: the most calls group-committed into one transaction.
        busy_timeout_ms: how long to wait for a lock held by another process.

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
    stats: StoreStats = attrs.field(init=False, factory=StoreStats)
    _db: DbThread | None = attrs.field(init=False, default=None)

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
        db = DbThread(self._open, batch_max=self.batch_max, stats=self.stats)
        self._db = db
        try:
            await db.start()
            task_status.started(self)
            await trio.sleep_forever()
        finally:
            self._db = None
            await db.stop()

    def _open(self) -> sqlite3.Connection:
        """Runs on the database thread: connect, set the pragmas, migrate."""
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
            migrate(conn)
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

    # ---- journal ------------------------------------------------------------------------

    async def journal(self, events: Sequence[InboundEvent]) -> list[int | None]:
        """See :meth:`Store.journal`.

        If the caller is cancelled while waiting, the events may still be committed; that
        is harmless because journaling them again is a no-op.
        """
        batch = tuple(events)
        if not batch:
            return []
        now = time.time()

        def work(conn: sqlite3.Connection) -> list[int | None]:
            ids: list[int | None] = []
            for event in batch:
                cursor = conn.execute(
                    "INSERT INTO journal (source, key, queue, chat, kind, payload, received_at,"
                    " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (
                        event.source,
                        event.key,
                        event.queue,
                        event.chat,
                        event.kind,
                        event.payload,
                        event.received_at,
                        now,
                    ),
                )
                ids.append(cursor.lastrowid if cursor.rowcount == 1 else None)
            return ids

        return await self._call(work, write=True)

    async def pending_heads(self, queue: str, *, limit: int = 256) -> list[JournalRow]:
        """See :meth:`Store.pending_heads`; the result is in id (arrival) order."""

        def work(conn: sqlite3.Connection) -> list[JournalRow]:
            rows = conn.execute(
                # Heads: the lowest id of each chat, plus every chat-less row. Both halves
                # are searches of the (queue, state, chat, id) index.
                f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE id IN ("
                "  SELECT MIN(id) FROM journal"
                "  WHERE queue = ? AND state = 'pending' AND chat IS NOT NULL GROUP BY chat"
                "  UNION ALL"
                "  SELECT id FROM journal WHERE queue = ? AND state = 'pending' AND chat IS NULL"
                ") ORDER BY id LIMIT ?",
                (queue, queue, limit),
            ).fetchall()
            return [_journal_row(row) for row in rows]

        return await self._call(work, write=False)

    async def pending_count(self, queue: str | None = None) -> int:
        """See :meth:`Store.pending_count`."""

        def work(conn: sqlite3.Connection) -> int:
            if queue is None:
                row = conn.execute("SELECT COUNT(*) FROM journal WHERE state = 'pending'")
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM journal WHERE queue = ? AND state = 'pending'",
                    (queue,),
                )
            return int(row.fetchone()[0])

        return await self._call(work, write=False)

    async def queues_with_pending(self) -> list[str]:
        """See :meth:`Store.queues_with_pending`."""

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT queue FROM journal WHERE state = 'pending' ORDER BY queue"
            ).fetchall()
            return [row[0] for row in rows]

        return await self._call(work, write=False)

    async def complete(self, row_id: int, *, mappings: Sequence[MessageMapping] = ()) -> None:
        """See :meth:`Store.complete`.

        A mapping whose ``(session, whatsapp_id)`` exists already (the message was sent
        again after a crash) replaces the old one, keeping any delivery status it had.
        """
        batch = tuple(mappings)
        now = time.time()

        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE journal SET state = 'done', updated_at = ? WHERE id = ?", (now, row_id)
            )
            _must_exist(cursor, row_id)
            for m in batch:
                conn.execute(
                    f"INSERT INTO message_mappings ({_MAPPING_COLUMNS})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (session, whatsapp_id) DO UPDATE SET"
                    "  chat_id = excluded.chat_id, bridge_number = excluded.bridge_number,"
                    "  destination = excluded.destination,"
                    "  signal_timestamp = excluded.signal_timestamp,"
                    "  direction = excluded.direction, created_at = excluded.created_at,"
                    "  sender_name = excluded.sender_name,"
                    "  delivery_status = COALESCE(delivery_status, excluded.delivery_status)",
                    (
                        m.session,
                        m.whatsapp_id,
                        m.chat_id,
                        m.bridge_number,
                        m.destination,
                        m.signal_timestamp,
                        m.direction,
                        m.created_at,
                        m.sender_name,
                        m.delivery_status,
                    ),
                )

        await self._call(work, write=True)

    async def retry_later(
        self, row_id: int, *, next_attempt_at: float, error: str, count_attempt: bool
    ) -> int:
        """See :meth:`Store.retry_later`."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE journal SET attempts = attempts + ?, next_attempt_at = ?,"
                " last_error = ?, updated_at = ? WHERE id = ?",
                (1 if count_attempt else 0, next_attempt_at, error, now, row_id),
            )
            _must_exist(cursor, row_id)
            row = conn.execute("SELECT attempts FROM journal WHERE id = ?", (row_id,)).fetchone()
            return int(row[0])

        return await self._call(work, write=True)

    async def bury(self, row_id: int, *, error: str) -> None:
        """See :meth:`Store.bury`."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE journal SET state = 'dead', last_error = ?, updated_at = ? WHERE id = ?",
                (error, now, row_id),
            )
            _must_exist(cursor, row_id)

        await self._call(work, write=True)

    async def requeue(
        self, row_id: int, *, queue: str, chat: str | None, to_end: bool = False
    ) -> int:
        """See :meth:`Store.requeue`."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> int:
            if to_end:
                return _move_to_end(conn, row_id, queue, chat, now)
            cursor = conn.execute(
                "UPDATE journal SET queue = ?, chat = ?, updated_at = ? WHERE id = ?",
                (queue, chat, now, row_id),
            )
            _must_exist(cursor, row_id)
            return row_id

        return await self._call(work, write=True)

    async def requeue_many(self, moves: Sequence[tuple[int, str, str | None]]) -> list[int]:
        """See :meth:`Store.requeue_many`."""
        now = time.time()
        batch = list(moves)

        def work(conn: sqlite3.Connection) -> list[int]:
            return [_move_to_end(conn, row_id, queue, chat, now) for row_id, queue, chat in batch]

        return await self._call(work, write=True)

    async def retry_now(self) -> int:
        """See :meth:`Store.retry_now`."""

        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE journal SET next_attempt_at = 0"
                " WHERE state = 'pending' AND next_attempt_at > 0"
            ).rowcount

        return await self._call(work, write=True)

    async def dead_letters(self, *, limit: int = 100) -> list[JournalRow]:
        """See :meth:`Store.dead_letters`."""

        def work(conn: sqlite3.Connection) -> list[JournalRow]:
            rows = conn.execute(
                f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE state = 'dead' ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
            return [_journal_row(row) for row in rows]

        return await self._call(work, write=False)

    async def resurrect(self, row_id: int) -> bool:
        """See :meth:`Store.resurrect`. ``last_error`` is kept for the operator's record."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE journal SET state = 'pending', attempts = 0, next_attempt_at = 0,"
                " received_at = ?, updated_at = ? WHERE id = ? AND state = 'dead'",
                (now, now, row_id),
            )
            return cursor.rowcount == 1

        return await self._call(work, write=True)

    async def pending_by_queue(self) -> dict[str, int]:
        """See :meth:`Store.pending_by_queue` (served by the partial index on pending rows)."""

        def work(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT queue, COUNT(*) FROM journal WHERE state = 'pending' GROUP BY queue"
            ).fetchall()
            return {str(row[0]): int(row[1]) for row in rows}

        return await self._call(work, write=False)

    async def state_counts(self) -> dict[tuple[str, str], int]:
        """See :meth:`Store.state_counts`."""

        def work(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
            rows = conn.execute(
                "SELECT queue, state, COUNT(*) FROM journal GROUP BY queue, state"
            ).fetchall()
            return {(row[0], row[1]): int(row[2]) for row in rows}

        return await self._call(work, write=False)

    # ---- message mappings ---------------------------------------------------------------

    async def mapping_by_whatsapp_id(self, session: str, whatsapp_id: str) -> MessageMapping | None:
        """See :meth:`Store.mapping_by_whatsapp_id`."""

        def work(conn: sqlite3.Connection) -> MessageMapping | None:
            return _mapping(
                conn.execute(
                    f"SELECT {_MAPPING_COLUMNS} FROM message_mappings"
                    " WHERE session = ? AND whatsapp_id = ?",
                    (session, whatsapp_id),
                ).fetchone()
            )

        return await self._call(work, write=False)

    async def mapping_by_signal_timestamp(
        self, bridge_number: str, signal_timestamp: int
    ) -> MessageMapping | None:
        """See :meth:`Store.mapping_by_signal_timestamp` (the newest, should two collide)."""

        def work(conn: sqlite3.Connection) -> MessageMapping | None:
            return _mapping(
                conn.execute(
                    f"SELECT {_MAPPING_COLUMNS} FROM message_mappings"
                    " WHERE bridge_number = ? AND signal_timestamp = ?"
                    " ORDER BY created_at DESC, id DESC LIMIT 1",
                    (bridge_number, signal_timestamp),
                ).fetchone()
            )

        return await self._call(work, write=False)

    async def last_received(self, queue: str, source: str) -> float | None:
        """See :meth:`Store.last_received`."""

        def work(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MAX(received_at) FROM journal WHERE queue = ? AND source = ?",
                (queue, source),
            ).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._call(work, write=False)

    async def recent_chats(self, session: str, *, limit: int = 200) -> list[str]:
        """See :meth:`Store.recent_chats`."""

        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT chat_id FROM message_mappings WHERE session = ?"
                " GROUP BY chat_id ORDER BY MAX(created_at) DESC LIMIT ?",
                (session, limit),
            ).fetchall()
            return [str(row[0]) for row in rows]

        return await self._call(work, write=False)

    async def has_key(self, key: str) -> bool:
        """See :meth:`Store.has_key`."""

        def work(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute("SELECT 1 FROM journal WHERE key = ?", (key,)).fetchone() is not None
            )

        return await self._call(work, write=False)

    async def latest_mapping(
        self, bridge_number: str, destination: str, *, sessions: Sequence[str] | None = None
    ) -> MessageMapping | None:
        """See :meth:`Store.latest_mapping`. An empty ``sessions`` matches nothing."""
        return await self._latest(bridge_number, destination, None, sessions)

    async def latest_mapping_by_name(
        self,
        bridge_number: str,
        destination: str,
        sender_name: str,
        *,
        sessions: Sequence[str] | None = None,
    ) -> MessageMapping | None:
        """See :meth:`Store.latest_mapping_by_name`."""
        return await self._latest(bridge_number, destination, sender_name, sessions)

    async def _latest(
        self,
        bridge_number: str,
        destination: str,
        sender_name: str | None,
        sessions: Sequence[str] | None,
    ) -> MessageMapping | None:
        allowed = None if sessions is None else tuple(sessions)
        if allowed is not None and not allowed:
            return None

        def work(conn: sqlite3.Connection) -> MessageMapping | None:
            sql = (
                f"SELECT {_MAPPING_COLUMNS} FROM message_mappings"
                " WHERE bridge_number = ? AND destination = ?"
            )
            params: list[object] = [bridge_number, destination]
            if sender_name is not None:
                sql += " AND sender_name = ? AND direction = 'wa_to_signal'"
                params.append(sender_name)
            if allowed is not None:
                sql += f" AND session IN ({', '.join('?' * len(allowed))})"
                params.extend(allowed)
            sql += " ORDER BY created_at DESC, id DESC LIMIT 1"
            return _mapping(conn.execute(sql, params).fetchone())

        return await self._call(work, write=False)

    async def update_delivery(self, session: str, whatsapp_id: str, status: int) -> bool:
        """See :meth:`Store.update_delivery` and :func:`~.models.delivery_rank`.

        Raises:
            ValueError: ``status`` is not a WAHA ack level (-1..4).
        """
        if status not in range(-1, 5):
            raise ValueError(f"not a WAHA ack level: {status!r}")

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT delivery_status FROM message_mappings"
                " WHERE session = ? AND whatsapp_id = ?",
                (session, whatsapp_id),
            ).fetchone()
            if row is None:
                return False
            current = row[0]
            if current is not None and delivery_rank(status) <= delivery_rank(current):
                return False
            conn.execute(
                "UPDATE message_mappings SET delivery_status = ?"
                " WHERE session = ? AND whatsapp_id = ?",
                (status, session, whatsapp_id),
            )
            return True

        return await self._call(work, write=True)

    # ---- caches -------------------------------------------------------------------------

    async def put_contact(self, contact: Contact) -> None:
        """See :meth:`Store.put_contact`."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO contacts (session, contact_id, name, number, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    contact.session,
                    contact.contact_id,
                    contact.name,
                    contact.number,
                    contact.updated_at,
                ),
            )

        await self._call(work, write=True)

    async def get_contact(self, session: str, contact_id: str) -> Contact | None:
        """See :meth:`Store.get_contact`."""

        def work(conn: sqlite3.Connection) -> Contact | None:
            row = conn.execute(
                "SELECT session, contact_id, name, number, updated_at FROM contacts"
                " WHERE session = ? AND contact_id = ?",
                (session, contact_id),
            ).fetchone()
            return None if row is None else Contact(*row)

        return await self._call(work, write=False)

    async def put_group(self, group: Group) -> None:
        """See :meth:`Store.put_group`."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO groups (session, group_id, name, updated_at)"
                " VALUES (?, ?, ?, ?)",
                (group.session, group.group_id, group.name, group.updated_at),
            )

        await self._call(work, write=True)

    async def get_group(self, session: str, group_id: str) -> Group | None:
        """See :meth:`Store.get_group`."""

        def work(conn: sqlite3.Connection) -> Group | None:
            row = conn.execute(
                "SELECT session, group_id, name, updated_at FROM groups"
                " WHERE session = ? AND group_id = ?",
                (session, group_id),
            ).fetchone()
            return None if row is None else Group(*row)

        return await self._call(work, write=False)

    async def put_signal_identity(self, number: str, uuid: str) -> None:
        """See :meth:`Store.put_signal_identity`.

        A number that re-registered gets its new uuid, and a uuid seen with another number
        (the account changed number) moves: ``INSERT OR REPLACE`` drops both old pairings.
        """
        now = time.time()

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO signal_identities (number, uuid, updated_at)"
                " VALUES (?, ?, ?)",
                (number, uuid, now),
            )

        await self._call(work, write=True)

    async def number_for_uuid(self, uuid: str) -> str | None:
        """See :meth:`Store.number_for_uuid`."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT number FROM signal_identities WHERE uuid = ?", (uuid,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._call(work, write=False)

    async def uuid_for_number(self, number: str) -> str | None:
        """See :meth:`Store.uuid_for_number`."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT uuid FROM signal_identities WHERE number = ?", (number,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._call(work, write=False)

    # ---- retention ----------------------------------------------------------------------

    async def prune(self, *, done_before: float, mappings_before: float) -> int:
        """See :meth:`Store.prune`."""

        def work(conn: sqlite3.Connection) -> int:
            done = conn.execute(
                "DELETE FROM journal WHERE state = 'done' AND updated_at < ?", (done_before,)
            ).rowcount
            mapped = conn.execute(
                "DELETE FROM message_mappings WHERE created_at < ?", (mappings_before,)
            ).rowcount
            return done + mapped

        return await self._call(work, write=True)
