"""The journal's SQL: the inbound work queue as plain functions of a sqlite3 connection.

Each function is one step of a :class:`~whatsignal.storage.base.Journal` method and runs on
the store's database thread, inside whatever transaction the caller (the group commit of
``_thread.py``) has open; none of them begins, commits or reads the clock. Times to stamp
(``now``) are read by the caller, so that the store's one clock decides them.

Row ids are the queue order: rows of one ``(queue, chat)`` are handled in id order, which is
why :func:`move_to_end` renumbers rather than updates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, cast

from whatsignal.errors import StorageError
from whatsignal.storage.models import InboundEvent, JournalRow, JournalState, Source

COLUMNS = (
    "id, source, key, queue, chat, kind, payload, received_at,"
    " state, attempts, next_attempt_at, last_error"
)
"""The columns of a :class:`JournalRow`, in the order :func:`row_to_journal_row` reads them."""


def row_to_journal_row(row: tuple[Any, ...]) -> JournalRow:
    """Convert a row selected with :data:`COLUMNS` into a :class:`JournalRow`."""
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


def _must_exist(cursor: sqlite3.Cursor, row_id: int) -> None:
    if cursor.rowcount == 0:
        raise StorageError(f"journal row {row_id} does not exist")


def insert(
    conn: sqlite3.Connection, events: Sequence[InboundEvent], *, now: float
) -> list[int | None]:
    """Journal ``events`` (insert-or-ignore on the key); per event, its new id or None."""
    ids: list[int | None] = []
    for event in events:
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


def pending_heads(conn: sqlite3.Connection, queue: str, *, limit: int) -> list[JournalRow]:
    """The oldest pending row of each lane of ``queue`` (a chat in one direction: its
    ``source``) plus every chat-less row, by id."""
    rows = conn.execute(
        # Heads: the lowest id of each chat and source, plus every chat-less row. Both halves
        # are searches of the (queue, state, chat, id) index.
        f"SELECT {COLUMNS} FROM journal WHERE id IN ("
        "  SELECT MIN(id) FROM journal"
        "  WHERE queue = ? AND state = 'pending' AND chat IS NOT NULL GROUP BY chat, source"
        "  UNION ALL"
        "  SELECT id FROM journal WHERE queue = ? AND state = 'pending' AND chat IS NULL"
        ") ORDER BY id LIMIT ?",
        (queue, queue, limit),
    ).fetchall()
    return [row_to_journal_row(row) for row in rows]


def pending_count(conn: sqlite3.Connection, queue: str | None, source: str | None = None) -> int:
    """How many rows are pending, in ``queue`` or (None) overall, of ``source`` or any."""
    sql, params = "SELECT COUNT(*) FROM journal WHERE state = 'pending'", []
    if queue is not None:
        sql += " AND queue = ?"
        params.append(queue)
    if source is not None:
        sql += " AND source = ?"
        params.append(source)
    return int(conn.execute(sql, params).fetchone()[0])


def queues_with_pending(conn: sqlite3.Connection) -> list[str]:
    """The queues that have at least one pending row, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT queue FROM journal WHERE state = 'pending' ORDER BY queue"
    ).fetchall()
    return [row[0] for row in rows]


def mark_done(conn: sqlite3.Connection, row_id: int, *, now: float) -> None:
    """Mark a row done at ``now`` (the journal half of ``complete``).

    Raises:
        StorageError: there is no such row.
    """
    cursor = conn.execute(
        "UPDATE journal SET state = 'done', updated_at = ? WHERE id = ?", (now, row_id)
    )
    _must_exist(cursor, row_id)


def retry_later(
    conn: sqlite3.Connection,
    row_id: int,
    *,
    next_attempt_at: float,
    error: str,
    count_attempt: bool,
    now: float,
) -> int:
    """Postpone a row, counting the attempt if ``count_attempt``; returns its attempts.

    Raises:
        StorageError: there is no such row.
    """
    cursor = conn.execute(
        "UPDATE journal SET attempts = attempts + ?, next_attempt_at = ?,"
        " last_error = ?, updated_at = ? WHERE id = ?",
        (1 if count_attempt else 0, next_attempt_at, error, now, row_id),
    )
    _must_exist(cursor, row_id)
    row = conn.execute("SELECT attempts FROM journal WHERE id = ?", (row_id,)).fetchone()
    return int(row[0])


def bury(conn: sqlite3.Connection, row_id: int, *, error: str, now: float) -> None:
    """Make a row a dead letter.

    Raises:
        StorageError: there is no such row.
    """
    cursor = conn.execute(
        "UPDATE journal SET state = 'dead', last_error = ?, updated_at = ? WHERE id = ?",
        (error, now, row_id),
    )
    _must_exist(cursor, row_id)


def move_to_end(
    conn: sqlite3.Connection, row_id: int, *, queue: str, chat: str | None, now: float
) -> int:
    """Renumber a row after every row journaled so far, in another queue and chat.

    Returns the row's new id.

    Raises:
        StorageError: there is no such row.
    """
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


def requeue(
    conn: sqlite3.Connection,
    row_id: int,
    queue: str,
    chat: str | None,
    *,
    to_end: bool,
    now: float,
) -> int:
    """Hand a row to another queue and chat, in place or (``to_end``) renumbered.

    Returns the row's id, a new one when renumbered.

    Raises:
        StorageError: there is no such row.
    """
    if to_end:
        return move_to_end(conn, row_id, queue=queue, chat=chat, now=now)
    cursor = conn.execute(
        "UPDATE journal SET queue = ?, chat = ?, updated_at = ? WHERE id = ?",
        (queue, chat, now, row_id),
    )
    _must_exist(cursor, row_id)
    return row_id


def requeue_many(
    conn: sqlite3.Connection, moves: Sequence[tuple[int, str, str | None]], *, now: float
) -> list[int]:
    """:func:`move_to_end` for each ``(row_id, queue, chat)`` in order; the new ids.

    Atomic only as part of the caller's transaction: a missing row raises after the
    earlier moves, which the caller must roll back.
    """
    return [
        move_to_end(conn, row_id, queue=queue, chat=chat, now=now) for row_id, queue, chat in moves
    ]


def retry_now(conn: sqlite3.Connection) -> int:
    """Make every waiting pending row due; returns how many were waiting."""
    return conn.execute(
        "UPDATE journal SET next_attempt_at = 0 WHERE state = 'pending' AND next_attempt_at > 0"
    ).rowcount


def dead_letters(conn: sqlite3.Connection, *, limit: int) -> list[JournalRow]:
    """The dead rows, oldest first."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM journal WHERE state = 'dead' ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return [row_to_journal_row(row) for row in rows]


def resurrect(conn: sqlite3.Connection, row_id: int, *, now: float) -> bool:
    """Make a dead row pending again as if it had arrived at ``now``; False if not dead.

    The fresh ``received_at`` gives the row a new retry window instead of an instant expiry;
    ``last_error`` is kept for the operator's record.
    """
    cursor = conn.execute(
        "UPDATE journal SET state = 'pending', attempts = 0, next_attempt_at = 0,"
        " received_at = ?, updated_at = ? WHERE id = ? AND state = 'dead'",
        (now, now, row_id),
    )
    return cursor.rowcount == 1


def pending_by_queue(conn: sqlite3.Connection) -> dict[str, int]:
    """Pending rows per queue (served by the partial index on pending rows)."""
    rows = conn.execute(
        "SELECT queue, COUNT(*) FROM journal WHERE state = 'pending' GROUP BY queue"
    ).fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def pending_stats(conn: sqlite3.Connection) -> dict[str, tuple[int, float]]:
    """Per queue with pending rows: how many, and when the oldest of them arrived."""
    rows = conn.execute(
        "SELECT queue, COUNT(*), MIN(received_at) FROM journal WHERE state = 'pending'"
        " GROUP BY queue"
    ).fetchall()
    return {str(row[0]): (int(row[1]), float(row[2])) for row in rows}


def pending_since(conn: sqlite3.Connection, *, before: float, limit: int) -> list[JournalRow]:
    """Pending rows of session queues that arrived before ``before``, oldest first."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM journal WHERE state = 'pending' AND received_at < ?"
        " AND queue NOT LIKE 'signal:%' ORDER BY id LIMIT ?",
        (before, limit),
    ).fetchall()
    return [row_to_journal_row(row) for row in rows]


def state_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Row counts per ``(queue, state)``."""
    rows = conn.execute("SELECT queue, state, COUNT(*) FROM journal GROUP BY queue, state")
    return {(row[0], row[1]): int(row[2]) for row in rows.fetchall()}


def last_received(conn: sqlite3.Connection, queue: str, source: str) -> float | None:
    """When the newest event of ``source`` in ``queue`` arrived (any state), or None."""
    row = conn.execute(
        "SELECT MAX(received_at) FROM journal WHERE queue = ? AND source = ?", (queue, source)
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def has_key(conn: sqlite3.Connection, key: str) -> bool:
    """Whether a row with this natural key exists."""
    return conn.execute("SELECT 1 FROM journal WHERE key = ?", (key,)).fetchone() is not None


def state_of(conn: sqlite3.Connection, key: str) -> JournalState | None:
    """The state of the row with this natural key, or None if there is none."""
    row = conn.execute("SELECT state FROM journal WHERE key = ?", (key,)).fetchone()
    return None if row is None else cast(JournalState, row[0])


def prune_done(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete the done rows last updated before ``before``; returns how many.

    Pending and dead rows are never pruned: they are work still owed, or an operator's.
    """
    return conn.execute(
        "DELETE FROM journal WHERE state = 'done' AND updated_at < ?", (before,)
    ).rowcount
