"""The message mappings' SQL, as plain functions of a sqlite3 connection.

A mapping ties one WhatsApp message to one Signal message; quotes, reactions, receipts,
edits and deletes are resolved through them. Like ``journal.py``, each function runs on the
store's database thread inside the caller's transaction and reads no clock: a mapping
carries its own ``created_at``.

Every column that names someone goes through the store's codec (``crypto.py``): the
session, ids, numbers and sender name hold lookup hashes, compared only for equality, and
are read back from their ``*_enc`` siblings. Ordering is by ``created_at`` and ``id`` only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import attrs

from whatsignal.storage.crypto import Codec
from whatsignal.storage.models import Direction, MessageMapping, delivery_rank

LOOKED_UP = ("session", "whatsapp_id", "chat_id", "bridge_number", "destination")
"""The looked-up columns every mapping has (``sender_name`` may be missing)."""

COLUMNS = (
    ", ".join(f"{c}, {c}_enc" for c in LOOKED_UP)
    + ", signal_timestamp, direction, created_at, sender_name, sender_name_enc, delivery_status"
    + ", signal_group"
)
"""The columns of a :class:`MessageMapping`, in the order :func:`row_to_mapping` reads them
(each looked-up column followed by its sealed sibling)."""

ACK_LEVELS = range(-1, 5)
"""The WAHA ack levels a delivery status may take (ERROR .. PLAYED)."""


def row_to_mapping(codec: Codec, row: tuple[Any, ...] | None) -> MessageMapping | None:
    """Convert a row selected with :data:`COLUMNS` (or no row) into a mapping (or None)."""
    if row is None:
        return None
    clear = [codec.reveal(row[2 * i], row[2 * i + 1]) or "" for i in range(len(LOOKED_UP))]
    return MessageMapping(
        session=clear[0],
        whatsapp_id=clear[1],
        chat_id=clear[2],
        bridge_number=clear[3],
        destination=clear[4],
        signal_timestamp=row[10],
        direction=cast(Direction, row[11]),
        created_at=row[12],
        sender_name=codec.reveal(row[13], row[14]),
        delivery_status=row[15],
        signal_group=codec.open_text(row[16]),
    )


def _pairs(codec: Codec, *values: str | None) -> list[Any]:
    """Each value as its lookup and its sealed sibling."""
    return [v for value in values for v in (codec.lookup_or_none(value), codec.sibling(value))]


def upsert(conn: sqlite3.Connection, codec: Codec, mappings: Sequence[MessageMapping]) -> None:
    """Store ``mappings`` (the mapping half of ``complete``).

    A mapping whose ``(session, whatsapp_id)`` exists already (the message was sent again
    after a crash) replaces the old one, keeping any delivery status it had.
    """
    for m in mappings:
        conn.execute(
            f"INSERT INTO message_mappings ({COLUMNS})"
            f" VALUES ({', '.join('?' * 17)})"
            " ON CONFLICT (session, whatsapp_id) DO UPDATE SET"
            "  chat_id = excluded.chat_id, chat_id_enc = excluded.chat_id_enc,"
            "  bridge_number = excluded.bridge_number,"
            "  bridge_number_enc = excluded.bridge_number_enc,"
            "  destination = excluded.destination, destination_enc = excluded.destination_enc,"
            "  signal_timestamp = excluded.signal_timestamp,"
            "  direction = excluded.direction, created_at = excluded.created_at,"
            "  sender_name = excluded.sender_name, sender_name_enc = excluded.sender_name_enc,"
            "  delivery_status = COALESCE(delivery_status, excluded.delivery_status),"
            "  signal_group = excluded.signal_group",
            (
                *_pairs(codec, m.session, m.whatsapp_id, m.chat_id, m.bridge_number),
                *_pairs(codec, m.destination),
                m.signal_timestamp,
                m.direction,
                m.created_at,
                *_pairs(codec, m.sender_name),
                m.delivery_status,
                codec.seal(m.signal_group),
            ),
        )


def by_whatsapp_id(
    conn: sqlite3.Connection, codec: Codec, session: str, whatsapp_id: str
) -> MessageMapping | None:
    """The mapping of one WhatsApp message of ``session``."""
    return row_to_mapping(
        codec,
        conn.execute(
            f"SELECT {COLUMNS} FROM message_mappings WHERE session = ? AND whatsapp_id = ?",
            (codec.lookup(session), codec.lookup(whatsapp_id)),
        ).fetchone(),
    )


def by_signal_timestamp(
    conn: sqlite3.Connection, codec: Codec, bridge_number: str, signal_timestamp: int
) -> MessageMapping | None:
    """The mapping of that exact Signal timestamp on that number (the newest, should two
    collide)."""
    return row_to_mapping(
        codec,
        conn.execute(
            f"SELECT {COLUMNS} FROM message_mappings"
            " WHERE bridge_number = ? AND signal_timestamp = ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            (codec.lookup(bridge_number), signal_timestamp),
        ).fetchone(),
    )


def latest(
    conn: sqlite3.Connection,
    codec: Codec,
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
    params: list[object] = [codec.lookup(bridge_number), codec.lookup(destination)]
    if sender_name is not None:
        sql += " AND sender_name = ? AND direction = 'wa_to_signal'"
        params.append(codec.lookup(sender_name))
    if sessions is not None:
        sql += f" AND session IN ({', '.join('?' * len(sessions))})"
        params.extend(codec.lookup(session) for session in sessions)
    sql += " ORDER BY created_at DESC, id DESC LIMIT 1"
    return row_to_mapping(codec, conn.execute(sql, params).fetchone())


def recent_chats(conn: sqlite3.Connection, codec: Codec, session: str, *, limit: int) -> list[str]:
    """The session's chats that have mappings, most recently active first."""
    rows = conn.execute(
        "SELECT chat_id, chat_id_enc FROM message_mappings WHERE session = ?"
        " GROUP BY chat_id ORDER BY MAX(created_at) DESC LIMIT ?",
        (codec.lookup(session), limit),
    ).fetchall()
    return [str(codec.reveal(row[0], row[1])) for row in rows]


def check_ack_level(status: int) -> None:
    """Raise ValueError unless ``status`` is a WAHA ack level (-1..4)."""
    if status not in ACK_LEVELS:
        raise ValueError(f"not a WAHA ack level: {status!r}")


def update_delivery(
    conn: sqlite3.Connection, codec: Codec, session: str, whatsapp_id: str, status: int
) -> bool:
    """Raise a mapping's ack level along :func:`~.models.delivery_rank`, never lowering it.

    Returns whether it changed (False too for an unknown message).

    Raises:
        ValueError: ``status`` is not a WAHA ack level.
    """
    check_ack_level(status)
    where = (codec.lookup(session), codec.lookup(whatsapp_id))
    row = conn.execute(
        "SELECT delivery_status FROM message_mappings WHERE session = ? AND whatsapp_id = ?",
        where,
    ).fetchone()
    if row is None:
        return False
    current = row[0]
    if current is not None and delivery_rank(status) <= delivery_rank(current):
        return False
    conn.execute(
        "UPDATE message_mappings SET delivery_status = ? WHERE session = ? AND whatsapp_id = ?",
        (status, *where),
    )
    return True


def prune(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete the mappings created before ``before``; returns how many."""
    return conn.execute("DELETE FROM message_mappings WHERE created_at < ?", (before,)).rowcount


@attrs.define(eq=False)
class RecentMappings:
    """The mappings recently found by Signal timestamp, kept in memory (trio thread only).

    A reply, reaction or edit from Signal is looked up by the timestamp it quotes twice: by
    the router to choose its chat, then by the handler for WhatsApp's ``reply_to``; and a
    conversation quotes the same few messages again and again. Each lookup was a read on the
    database thread (issue 16's profile: the largest read of a Signal message). Only found
    mappings are kept, at most ``kept`` (all forgotten when full), and every write that could
    change an answer forgets what it touches: a mapping written with the same timestamp or
    the same WhatsApp message (which replaces it), a delivery status raised, a prune (all).
    ``generation`` counts those writes: a read that was in flight while one committed may
    have seen the state before it, so its answer is not kept.
    """

    kept: int = 1024
    generation: int = attrs.field(default=0, init=False)
    _by_stamp: dict[tuple[str, int], MessageMapping] = attrs.field(factory=dict, init=False)
    _by_message: dict[tuple[str, str], tuple[str, int]] = attrs.field(factory=dict, init=False)

    def get(self, bridge_number: str, signal_timestamp: int) -> MessageMapping | None:
        return self._by_stamp.get((bridge_number, signal_timestamp))

    def keep(
        self, generation: int, bridge_number: str, signal_timestamp: int, found: MessageMapping
    ) -> None:
        """Keep what a read that began at ``generation`` found, unless a write came between."""
        if generation != self.generation:
            return
        if len(self._by_stamp) >= self.kept:
            self._by_stamp.clear()
            self._by_message.clear()
        self._by_stamp[bridge_number, signal_timestamp] = found
        self._by_message[found.session, found.whatsapp_id] = (bridge_number, signal_timestamp)

    def written(self, mappings: Sequence[MessageMapping]) -> None:
        """Forget what ``mappings``, just written, may have replaced."""
        self.generation += 1
        for m in mappings:
            self._forget_stamp((m.bridge_number, m.signal_timestamp))
            self.message_changed(m.session, m.whatsapp_id)

    def message_changed(self, session: str, whatsapp_id: str) -> None:
        """Forget the mapping of one WhatsApp message (its delivery status changed)."""
        self.generation += 1
        stamp = self._by_message.pop((session, whatsapp_id), None)
        if stamp is not None:
            self._by_stamp.pop(stamp, None)

    def clear(self) -> None:
        self.generation += 1
        self._by_stamp.clear()
        self._by_message.clear()

    def _forget_stamp(self, stamp: tuple[str, int]) -> None:
        found = self._by_stamp.pop(stamp, None)
        if found is not None:
            self._by_message.pop((found.session, found.whatsapp_id), None)


class MappingsSql:
    """The store's mapping methods (:class:`~whatsignal.storage.base.Mappings`) for a store
    that runs SQL functions on its thread (``_read``/``_write`` as
    :class:`~whatsignal.storage.sqlite.SqliteStore` has them) and keeps ``_recent``."""

    _read: Callable[..., Awaitable[Any]]
    _write: Callable[..., Awaitable[Any]]
    _recent: RecentMappings

    async def mapping_by_whatsapp_id(self, session: str, whatsapp_id: str) -> MessageMapping | None:
        found: MessageMapping | None = await self._read(by_whatsapp_id, session, whatsapp_id)
        return found

    async def mapping_by_signal_timestamp(
        self, bridge_number: str, signal_timestamp: int
    ) -> MessageMapping | None:
        kept = self._recent.get(bridge_number, signal_timestamp)
        if kept is not None:
            return kept
        generation = self._recent.generation
        found: MessageMapping | None = await self._read(
            by_signal_timestamp, bridge_number, signal_timestamp
        )
        if found is not None:
            self._recent.keep(generation, bridge_number, signal_timestamp, found)
        return found

    async def latest_mapping(
        self, bridge_number: str, destination: str, *, sessions: Sequence[str] | None = None
    ) -> MessageMapping | None:
        if sessions is not None and not sessions:
            return None  # nothing can match: answered without the database
        found: MessageMapping | None = await self._read(
            latest, bridge_number, destination, None, _tuple(sessions)
        )
        return found

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
        found: MessageMapping | None = await self._read(
            latest, bridge_number, destination, sender_name, allowed
        )
        return found

    async def recent_chats(self, session: str, *, limit: int = 200) -> list[str]:
        chats: list[str] = await self._read(recent_chats, session, limit=limit)
        return chats

    async def update_delivery(self, session: str, whatsapp_id: str, status: int) -> bool:
        """See :meth:`Mappings.update_delivery`.

        Raises:
            ValueError: ``status`` is not a WAHA ack level (-1..4), before any database work.
        """
        check_ack_level(status)
        try:
            changed: bool = await self._write(update_delivery, session, whatsapp_id, status)
        finally:
            self._recent.message_changed(session, whatsapp_id)
        return changed


def _tuple(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """A snapshot of the caller's sequence, taken before the work leaves the trio thread."""
    return None if values is None else tuple(values)
