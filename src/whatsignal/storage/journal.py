"""The journal's SQL: the inbound work queue as plain functions of a sqlite3 connection.

Each function is one step of a :class:`~whatsignal.storage.base.Journal` method and runs on
the store's database thread, inside whatever transaction the caller (the group commit of
``_thread.py``) has open; none of them begins, commits or reads the clock. Times to stamp
(``now``) are read by the caller, so that the store's one clock decides them.

Every value that names someone or says something goes through the store's codec
(``crypto.py``): ``key``, ``queue`` and ``chat`` hold lookup hashes (with their clear values
sealed in ``*_enc``), ``payload`` and ``last_error`` are sealed. No SQL here orders, ranges or
pattern-matches them, except ``queue NOT LIKE 'signal:%'``, which the queue's lookup keeps
working (``fields.queue_lookup``).

Row ids are the queue order: rows of one ``(queue, chat)`` are handled in id order, which is
why :func:`move_to_end` renumbers rather than updates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, cast

from whatsignal.errors import StorageError
from whatsignal.storage.crypto import Codec
from whatsignal.storage.fields import queue_lookup
from whatsignal.storage.models import InboundEvent, JournalRow, JournalState, Source

COLUMNS = (
    "id, source, key, key_enc, queue, queue_enc, chat, chat_enc, kind, payload, received_at,"
    " state, attempts, next_attempt_at, last_error"
)
"""The columns of a :class:`JournalRow`, in the order :func:`row_to_journal_row` reads them."""


def row_to_journal_row(codec: Codec, row: tuple[Any, ...]) -> JournalRow:
    """Convert a row selected with :data:`COLUMNS` into a :class:`JournalRow`."""
    return JournalRow(
        id=row[0],
        source=cast(Source, row[1]),
        key=_text(codec.reveal(row[2], row[3])),
        queue=_text(codec.reveal(row[4], row[5])),
        chat=codec.reveal(row[6], row[7]),
        kind=row[8],
        payload=codec.open_bytes(row[9]),
        received_at=row[10],
        state=cast(JournalState, row[11]),
        attempts=row[12],
        next_attempt_at=row[13],
        last_error=codec.open_text(row[14]),
    )


def _text(value: str | None) -> str:
    if value is None:
        raise StorageError("a journal row lost a value that cannot be missing")
    return value


def _rows(codec: Codec, rows: list[tuple[Any, ...]]) -> list[JournalRow]:
    return [row_to_journal_row(codec, row) for row in rows]


def _place(codec: Codec, queue: str, chat: str | None) -> tuple[Any, ...]:
    """The stored ``queue, queue_enc, chat, chat_enc`` of a row's place."""
    return (
        queue_lookup(codec, queue),
        codec.sibling(queue),
        codec.lookup_or_none(chat),
        codec.sibling(chat),
    )


def _must_exist(cursor: sqlite3.Cursor, row_id: int) -> None:
    if cursor.rowcount == 0:
        raise StorageError(f"journal row {row_id} does not exist")


def insert(
    conn: sqlite3.Connection, codec: Codec, events: Sequence[InboundEvent], *, now: float
) -> list[int | None]:
    """Journal ``events`` (insert-or-ignore on the key); per event, its new id or None."""
    ids: list[int | None] = []
    for event in events:
        cursor = conn.execute(
            "INSERT INTO journal (source, key, key_enc, queue, queue_enc, chat, chat_enc, kind,"
            " payload, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (
                event.source,
                codec.lookup(event.key),
                codec.sibling(event.key),
                *_place(codec, event.queue, event.chat),
                event.kind,
                codec.seal(event.payload),
                event.received_at,
                now,
            ),
        )
        ids.append(cursor.lastrowid if cursor.rowcount == 1 else None)
    return ids


def pending_heads(
    conn: sqlite3.Connection, codec: Codec, queue: str, *, limit: int
) -> list[JournalRow]:
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
        (queue_lookup(codec, queue), queue_lookup(codec, queue), limit),
    ).fetchall()
    return _rows(codec, rows)


def pending_rows(
    conn: sqlite3.Connection, codec: Codec, queue: str, *, limit: int, after: int = 0
) -> list[JournalRow]:
    """The first ``limit`` pending rows of ``queue`` with an id above ``after``, by id."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM journal WHERE queue = ? AND state = 'pending' AND id > ?"
        " ORDER BY id LIMIT ?",
        (queue_lookup(codec, queue), after, limit),
    ).fetchall()
    return _rows(codec, rows)


def pending_count(
    conn: sqlite3.Connection, codec: Codec, queue: str | None, source: str | None = None
) -> int:
    """How many rows are pending, in ``queue`` or (None) overall, of ``source`` or any."""
    sql, params = "SELECT COUNT(*) FROM journal WHERE state = 'pending'", []
    if queue is not None:
        sql += " AND queue = ?"
        params.append(queue_lookup(codec, queue))
    if source is not None:
        sql += " AND source = ?"
        params.append(source)
    return int(conn.execute(sql, params).fetchone()[0])


def queues_with_pending(conn: sqlite3.Connection, codec: Codec) -> list[str]:
    """The queues that have at least one pending row, sorted."""
    rows = conn.execute(
        "SELECT queue, queue_enc FROM journal WHERE state = 'pending' GROUP BY queue"
    ).fetchall()
    return sorted(_text(codec.reveal(row[0], row[1])) for row in rows)


def mark_done(
    conn: sqlite3.Connection, codec: Codec, row_id: int, *, now: float, keep_text: bool = True
) -> None:
    """Mark a row done at ``now`` (the journal half of ``complete``); without ``keep_text``
    (``database.keepMessageText: false``) its payload and last error are dropped: the row
    keeps only what deduplication and routing need.

    Raises:
        StorageError: there is no such row.
    """
    if keep_text:
        cursor = conn.execute(
            "UPDATE journal SET state = 'done', updated_at = ? WHERE id = ?", (now, row_id)
        )
    else:
        cursor = conn.execute(
            "UPDATE journal SET state = 'done', updated_at = ?, payload = ?, last_error = NULL"
            " WHERE id = ?",
            (now, codec.seal(b""), row_id),
        )
    _must_exist(cursor, row_id)


def retry_later(
    conn: sqlite3.Connection,
    codec: Codec,
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
        (1 if count_attempt else 0, next_attempt_at, codec.seal(error), now, row_id),
    )
    _must_exist(cursor, row_id)
    row = conn.execute("SELECT attempts FROM journal WHERE id = ?", (row_id,)).fetchone()
    return int(row[0])


def bury(conn: sqlite3.Connection, codec: Codec, row_id: int, *, error: str, now: float) -> None:
    """Make a row a dead letter.

    Raises:
        StorageError: there is no such row.
    """
    cursor = conn.execute(
        "UPDATE journal SET state = 'dead', last_error = ?, updated_at = ? WHERE id = ?",
        (codec.seal(error), now, row_id),
    )
    _must_exist(cursor, row_id)


def move_to_end(
    conn: sqlite3.Connection,
    codec: Codec,
    row_id: int,
    *,
    queue: str,
    chat: str | None,
    now: float,
) -> int:
    """Renumber a row after every row journaled so far, in another queue and chat.

    Returns the row's new id.

    Raises:
        StorageError: there is no such row.
    """
    moved = conn.execute(
        "SELECT source, key, key_enc, kind, payload, received_at, state, attempts,"
        " next_attempt_at, last_error FROM journal WHERE id = ?",
        (row_id,),
    ).fetchone()
    if moved is None:
        raise StorageError(f"journal row {row_id} does not exist")
    # Delete first: the natural key is unique. Both happen in the caller's transaction.
    conn.execute("DELETE FROM journal WHERE id = ?", (row_id,))
    cursor = conn.execute(
        "INSERT INTO journal (source, key, key_enc, queue, queue_enc, chat, chat_enc, kind,"
        " payload, received_at, state, attempts, next_attempt_at, last_error, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*moved[:3], *_place(codec, queue, chat), *moved[3:], now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def requeue(
    conn: sqlite3.Connection,
    codec: Codec,
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
        return move_to_end(conn, codec, row_id, queue=queue, chat=chat, now=now)
    cursor = conn.execute(
        "UPDATE journal SET queue = ?, queue_enc = ?, chat = ?, chat_enc = ?, updated_at = ?"
        " WHERE id = ?",
        (*_place(codec, queue, chat), now, row_id),
    )
    _must_exist(cursor, row_id)
    return row_id


def requeue_many(
    conn: sqlite3.Connection,
    codec: Codec,
    moves: Sequence[tuple[int, str, str | None]],
    *,
    now: float,
) -> list[int]:
    """:func:`move_to_end` for each ``(row_id, queue, chat)`` in order; the new ids.

    Atomic only as part of the caller's transaction: a missing row raises after the
    earlier moves, which the caller must roll back.
    """
    return [
        move_to_end(conn, codec, row_id, queue=queue, chat=chat, now=now)
        for row_id, queue, chat in moves
    ]


def retry_now(conn: sqlite3.Connection) -> int:
    """Make every waiting pending row due; returns how many were waiting."""
    return conn.execute(
        "UPDATE journal SET next_attempt_at = 0 WHERE state = 'pending' AND next_attempt_at > 0"
    ).rowcount


def dead_letters(conn: sqlite3.Connection, codec: Codec, *, limit: int) -> list[JournalRow]:
    """The dead rows, oldest first."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM journal WHERE state = 'dead' ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return _rows(codec, rows)


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


def pending_by_queue(conn: sqlite3.Connection, codec: Codec) -> dict[str, int]:
    """Pending rows per queue (served by the partial index on pending rows)."""
    return {queue: count for queue, (count, _) in pending_stats(conn, codec).items()}


def pending_stats(conn: sqlite3.Connection, codec: Codec) -> dict[str, tuple[int, float]]:
    """Per queue with pending rows: how many, and when the oldest of them arrived."""
    rows = conn.execute(
        "SELECT queue, queue_enc, COUNT(*), MIN(received_at) FROM journal"
        " WHERE state = 'pending' GROUP BY queue"
    ).fetchall()
    return {_text(codec.reveal(row[0], row[1])): (int(row[2]), float(row[3])) for row in rows}


def pending_since(
    conn: sqlite3.Connection, codec: Codec, *, before: float, limit: int
) -> list[JournalRow]:
    """Pending rows of session queues that arrived before ``before``, oldest first."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM journal WHERE state = 'pending' AND received_at < ?"
        " AND queue NOT LIKE 'signal:%' ORDER BY id LIMIT ?",
        (before, limit),
    ).fetchall()
    return _rows(codec, rows)


def state_counts(conn: sqlite3.Connection, codec: Codec) -> dict[tuple[str, str], int]:
    """Row counts per ``(queue, state)``."""
    rows = conn.execute(
        "SELECT queue, queue_enc, state, COUNT(*) FROM journal GROUP BY queue, state"
    ).fetchall()
    return {(_text(codec.reveal(row[0], row[1])), row[2]): int(row[3]) for row in rows}


def last_received(conn: sqlite3.Connection, codec: Codec, queue: str, source: str) -> float | None:
    """When the newest event of ``source`` in ``queue`` arrived (any state), or None."""
    row = conn.execute(
        "SELECT MAX(received_at) FROM journal WHERE queue = ? AND source = ?",
        (queue_lookup(codec, queue), source),
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def has_key(conn: sqlite3.Connection, codec: Codec, key: str) -> bool:
    """Whether a row with this natural key exists."""
    found = conn.execute("SELECT 1 FROM journal WHERE key = ?", (codec.lookup(key),))
    return found.fetchone() is not None


def state_of(conn: sqlite3.Connection, codec: Codec, key: str) -> JournalState | None:
    """The state of the row with this natural key, or None if there is none."""
    row = conn.execute("SELECT state FROM journal WHERE key = ?", (codec.lookup(key),)).fetchone()
    return None if row is None else cast(JournalState, row[0])


def prune_done(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete the done rows last updated before ``before``; returns how many.

    Pending and dead rows are never pruned: they are work still owed, or an operator's.
    """
    return conn.execute(
        "DELETE FROM journal WHERE state = 'done' AND updated_at < ?", (before,)
    ).rowcount
