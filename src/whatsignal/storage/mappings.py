"""The message mappings' SQL, as plain functions of a sqlite3 connection.

A mapping ties one WhatsApp message to one Signal message; quotes, reactions, receipts,
edits and deletes are resolved through them. Like ``journal.py``, each function runs on the
store's database thread inside the caller's transaction and reads no clock: a mapping
carries its own ``created_at``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, cast

from whatsignal.storage.models import Direction, MessageMapping, delivery_rank

COLUMNS = (
    "session, whatsapp_id, chat_id, bridge_number, destination, signal_timestamp,"
    " direction, created_at, sender_name, delivery_status"
)
"""The columns of a :class:`MessageMapping`, in the order :func:`row_to_mapping` reads them."""

ACK_LEVELS = range(-1, 5)
"""The WAHA ack levels a delivery status may take (ERROR .. PLAYED)."""


def row_to_mapping(row: tuple[Any, ...] | None) -> MessageMapping | None:
    """Convert a row selected with :data:`COLUMNS` (or no row) into a mapping (or None)."""
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


def upsert(conn: sqlite3.Connection, mappings: Sequence[MessageMapping]) -> None:
    """Store ``mappings`` (the mapping half of ``complete``).

    A mapping whose ``(session, whatsapp_id)`` exists already (the message was sent again
    after a crash) replaces the old one, keeping any delivery status it had.
    """
    for m in mappings:
        conn.execute(
            f"INSERT INTO message_mappings ({COLUMNS})"
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


def by_whatsapp_id(
    conn: sqlite3.Connection, session: str, whatsapp_id: str
) -> MessageMapping | None:
    """The mapping of one WhatsApp message of ``session``."""
    return row_to_mapping(
        conn.execute(
            f"SELECT {COLUMNS} FROM message_mappings WHERE session = ? AND whatsapp_id = ?",
            (session, whatsapp_id),
        ).fetchone()
    )


def by_signal_timestamp(
    conn: sqlite3.Connection, bridge_number: str, signal_timestamp: int
) -> MessageMapping | None:
    """The mapping of that exact Signal timestamp on that number (the newest, should two
    collide)."""
    return row_to_mapping(
        conn.execute(
            f"SELECT {COLUMNS} FROM message_mappings"
            " WHERE bridge_number = ? AND signal_timestamp = ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            (bridge_number, signal_timestamp),
        ).fetchone()
    )


def latest(
    conn: sqlite3.Connection,
    bridge_number: str,
    destination: str,
    sender_name: str | None = None,
    sessions: Sequence[str] | None = None,
) -> MessageMapping | None:
    """The most recent mapping between the bridge number and destination.

    ``sender_name`` narrows it to WhatsApp -> Signal messages of that sender; ``sessions``
    to those sessions (None: any session; empty: none, so the result is None).
    """
    if sessions is not None and not sessions:
        return None
    sql = f"SELECT {COLUMNS} FROM message_mappings WHERE bridge_number = ? AND destination = ?"
    params: list[object] = [bridge_number, destination]
    if sender_name is not None:
        sql += " AND sender_name = ? AND direction = 'wa_to_signal'"
        params.append(sender_name)
    if sessions is not None:
        sql += f" AND session IN ({', '.join('?' * len(sessions))})"
        params.extend(sessions)
    sql += " ORDER BY created_at DESC, id DESC LIMIT 1"
    return row_to_mapping(conn.execute(sql, params).fetchone())


def recent_chats(conn: sqlite3.Connection, session: str, *, limit: int) -> list[str]:
    """The session's chats that have mappings, most recently active first."""
    rows = conn.execute(
        "SELECT chat_id FROM message_mappings WHERE session = ?"
        " GROUP BY chat_id ORDER BY MAX(created_at) DESC LIMIT ?",
        (session, limit),
    ).fetchall()
    return [str(row[0]) for row in rows]


def check_ack_level(status: int) -> None:
    """Raise ValueError unless ``status`` is a WAHA ack level (-1..4)."""
    if status not in ACK_LEVELS:
        raise ValueError(f"not a WAHA ack level: {status!r}")


def update_delivery(conn: sqlite3.Connection, session: str, whatsapp_id: str, status: int) -> bool:
    """Raise a mapping's ack level along :func:`~.models.delivery_rank`, never lowering it.

    Returns whether it changed (False too for an unknown message).

    Raises:
        ValueError: ``status`` is not a WAHA ack level.
    """
    check_ack_level(status)
    row = conn.execute(
        "SELECT delivery_status FROM message_mappings WHERE session = ? AND whatsapp_id = ?",
        (session, whatsapp_id),
    ).fetchone()
    if row is None:
        return False
    current = row[0]
    if current is not None and delivery_rank(status) <= delivery_rank(current):
        return False
    conn.execute(
        "UPDATE message_mappings SET delivery_status = ? WHERE session = ? AND whatsapp_id = ?",
        (status, session, whatsapp_id),
    )
    return True


def prune(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete the mappings created before ``before``; returns how many."""
    return conn.execute("DELETE FROM message_mappings WHERE created_at < ?", (before,)).rowcount
