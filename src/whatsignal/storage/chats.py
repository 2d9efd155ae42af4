"""What the user steers per WhatsApp chat from Signal: the chats ``/chats`` lists, and the
chats ``/mute`` silenced (``muted_chats`` table, migration 9).

A muted chat's messages are not forwarded to Signal: they stay in WhatsApp, and the bridge
only counts them (``held``), so ``/status`` and ``/unmute`` can say how many arrived. Nothing
is replayed when the chat is unmuted (the user asked for silence; WhatsApp keeps the
messages). The session and chat name someone, so both are looked-up fields.

Functions of a sqlite3 connection and the store's codec, run on the store's thread;
:class:`ChatsSql` adds them to the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import attrs

from whatsignal.storage.crypto import Codec

__all__ = ["ChatActivity", "Chats", "ChatsSql", "Mute"]


@attrs.frozen
class ChatActivity:
    """A chat with bridged messages, and when its latest one was bridged (unix time)."""

    session: str
    chat_id: str
    last_at: float


@attrs.frozen
class Mute:
    """A muted chat: since when, and how many of its messages were held back since."""

    session: str
    chat_id: str
    since: float
    held: int = 0


class Chats(Protocol):
    """The chat listing and the mutes (every write durable when it returns)."""

    async def active_chats(
        self, bridge_number: str, destination: str, *, limit: int
    ) -> list[ChatActivity]:
        """The chats bridged between the bridge number and destination (any session), the
        most recently active first."""
        ...

    async def mutes(self) -> list[Mute]:
        """Every muted chat."""
        ...

    async def mute(self, session: str, chat_id: str, *, at: float) -> bool:
        """Mute a chat; False when it was muted already (then nothing changes)."""
        ...

    async def unmute(self, session: str, chat_id: str) -> Mute | None:
        """Unmute a chat; what its mute was (None: it was not muted)."""
        ...

    async def count_held(self, session: str, chat_id: str) -> None:
        """Count one message held back because its chat is muted."""
        ...


def active(
    conn: sqlite3.Connection, codec: Codec, bridge_number: str, destination: str, limit: int
) -> list[ChatActivity]:
    rows = conn.execute(
        "SELECT session, session_enc, chat_id, chat_id_enc, MAX(created_at)"
        " FROM message_mappings WHERE bridge_number = ? AND destination = ?"
        " GROUP BY session, chat_id ORDER BY MAX(created_at) DESC LIMIT ?",
        (codec.lookup(bridge_number), codec.lookup(destination), limit),
    ).fetchall()
    return [
        ChatActivity(str(codec.reveal(row[0], row[1])), str(codec.reveal(row[2], row[3])), row[4])
        for row in rows
    ]


def all_mutes(conn: sqlite3.Connection, codec: Codec) -> list[Mute]:
    rows = conn.execute(
        "SELECT session, session_enc, chat_id, chat_id_enc, since, held FROM muted_chats"
    ).fetchall()
    return [
        Mute(str(codec.reveal(r[0], r[1])), str(codec.reveal(r[2], r[3])), r[4], r[5]) for r in rows
    ]


def put_mute(conn: sqlite3.Connection, codec: Codec, session: str, chat_id: str, at: float) -> bool:
    return (
        conn.execute(
            "INSERT INTO muted_chats (session, session_enc, chat_id, chat_id_enc, since, held)"
            " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (session, chat_id) DO NOTHING",
            (
                codec.lookup(session),
                codec.sibling(session),
                codec.lookup(chat_id),
                codec.sibling(chat_id),
                at,
            ),
        ).rowcount
        == 1
    )


def drop_mute(conn: sqlite3.Connection, codec: Codec, session: str, chat_id: str) -> Mute | None:
    where = (codec.lookup(session), codec.lookup(chat_id))
    row = conn.execute(
        "SELECT since, held FROM muted_chats WHERE session = ? AND chat_id = ?", where
    ).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM muted_chats WHERE session = ? AND chat_id = ?", where)
    return Mute(session, chat_id, row[0], row[1])


def held_one(conn: sqlite3.Connection, codec: Codec, session: str, chat_id: str) -> None:
    conn.execute(
        "UPDATE muted_chats SET held = held + 1 WHERE session = ? AND chat_id = ?",
        (codec.lookup(session), codec.lookup(chat_id)),
    )


class ChatsSql:
    """:class:`Chats` for a store that runs SQL functions on its thread (``_read``/``_write``
    as :class:`~whatsignal.storage.sqlite.SqliteStore` has them)."""

    _read: Callable[..., Awaitable[Any]]
    _write: Callable[..., Awaitable[Any]]

    async def active_chats(
        self, bridge_number: str, destination: str, *, limit: int
    ) -> list[ChatActivity]:
        found: Sequence[ChatActivity] = await self._read(active, bridge_number, destination, limit)
        return list(found)

    async def mutes(self) -> list[Mute]:
        return list(await self._read(all_mutes))

    async def mute(self, session: str, chat_id: str, *, at: float) -> bool:
        return bool(await self._write(put_mute, session, chat_id, at))

    async def unmute(self, session: str, chat_id: str) -> Mute | None:
        found: Mute | None = await self._write(drop_mute, session, chat_id)
        return found

    async def count_held(self, session: str, chat_id: str) -> None:
        await self._write(held_one, session, chat_id)
