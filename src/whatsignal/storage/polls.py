"""The WhatsApp polls bridged to Signal (``polls`` table, migration 10): their options, so
that a vote can cross either way.

A vote names options differently on each side: Signal by their place in the poll (from 0),
WAHA's ``sendPollVote`` by their text. The row keeps the options in the order the Signal poll
was made with, keyed like the poll's message mapping (session and WhatsApp message id, both
looked up); the options are sealed. ``native`` says whether the poll went to Signal as a
poll (a text poll cannot be voted on in Signal); ``voted``, whether the bridge number has
voted on it natively (see :mod:`whatsignal.relay.poll_votes`); ``voters`` (migration 11,
sealed), the time of each voter's latest vote shown, because WAHA posts each webhook on its own
and an older vote may arrive after a newer one. The scheduler prunes the rows with the mappings
(same cutoff).

Functions of a sqlite3 connection and the store's codec, run on the store's thread;
:class:`PollsSql` adds them to the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs

from whatsignal.storage.crypto import Codec

__all__ = ["BridgedPoll", "Polls", "PollsSql", "prune"]


@attrs.frozen
class BridgedPoll:
    """A WhatsApp poll as it was bridged: its options in order, whether several answers are
    allowed, whether Signal got it as a poll, and whether the bridge number voted on it."""

    session: str
    whatsapp_id: str
    options: tuple[str, ...]
    multiple: bool
    native: bool
    created_at: float
    voted: bool = False


class Polls(Protocol):
    """The bridged polls (every write durable when it returns)."""

    async def put_poll(self, poll: BridgedPoll) -> None:
        """Store (or replace) a bridged poll."""
        ...

    async def poll(self, session: str, whatsapp_id: str) -> BridgedPoll | None:
        """The bridged poll of one WhatsApp message, or None."""
        ...

    async def mark_poll_voted(self, session: str, whatsapp_id: str) -> None:
        """Record that the bridge number voted on the poll natively."""
        ...

    async def newest_vote(self, session: str, whatsapp_id: str, voter: str, at: float) -> bool:
        """Record that ``voter`` voted at ``at``; False (nothing recorded) when a vote of
        theirs made later was recorded already, so this one is out of date."""
        ...


def put(conn: sqlite3.Connection, codec: Codec, poll: BridgedPoll) -> None:
    conn.execute(
        "INSERT INTO polls (session, session_enc, whatsapp_id, whatsapp_id_enc, options,"
        " multiple, native, voted, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (session, whatsapp_id) DO UPDATE SET options = excluded.options,"
        " multiple = excluded.multiple, native = excluded.native,"
        " created_at = excluded.created_at",
        (
            codec.lookup(poll.session),
            codec.sibling(poll.session),
            codec.lookup(poll.whatsapp_id),
            codec.sibling(poll.whatsapp_id),
            codec.seal(json.dumps(list(poll.options))),
            int(poll.multiple),
            int(poll.native),
            int(poll.voted),
            poll.created_at,
        ),
    )


def get(
    conn: sqlite3.Connection, codec: Codec, session: str, whatsapp_id: str
) -> BridgedPoll | None:
    row = conn.execute(
        "SELECT options, multiple, native, voted, created_at FROM polls"
        " WHERE session = ? AND whatsapp_id = ?",
        (codec.lookup(session), codec.lookup(whatsapp_id)),
    ).fetchone()
    if row is None:
        return None
    options = json.loads(codec.open_text(row[0]) or "[]")
    return BridgedPoll(
        session=session,
        whatsapp_id=whatsapp_id,
        options=tuple(str(option) for option in options),
        multiple=bool(row[1]),
        native=bool(row[2]),
        voted=bool(row[3]),
        created_at=row[4],
    )


def voted(conn: sqlite3.Connection, codec: Codec, session: str, whatsapp_id: str) -> None:
    conn.execute(
        "UPDATE polls SET voted = 1 WHERE session = ? AND whatsapp_id = ?",
        (codec.lookup(session), codec.lookup(whatsapp_id)),
    )


def newest(
    conn: sqlite3.Connection, codec: Codec, session: str, whatsapp_id: str, voter: str, at: float
) -> bool:
    where = (codec.lookup(session), codec.lookup(whatsapp_id))
    row = conn.execute(
        "SELECT voters FROM polls WHERE session = ? AND whatsapp_id = ?", where
    ).fetchone()
    if row is None:
        return True  # not a bridged poll: nothing to compare with (the relay ignores it)
    voters: dict[str, float] = json.loads(codec.open_text(row[0]) or "{}")
    if voters.get(voter, at) > at:
        return False
    voters[voter] = at
    conn.execute(
        "UPDATE polls SET voters = ? WHERE session = ? AND whatsapp_id = ?",
        (codec.seal(json.dumps(voters)), *where),
    )
    return True


def prune(conn: sqlite3.Connection, *, before: float) -> int:
    """Delete the polls bridged before ``before``; returns how many."""
    return conn.execute("DELETE FROM polls WHERE created_at < ?", (before,)).rowcount


class PollsSql:
    """:class:`Polls` for a store that runs SQL functions on its thread (``_read``/``_write``
    as :class:`~whatsignal.storage.sqlite.SqliteStore` has them)."""

    _read: Callable[..., Awaitable[Any]]
    _write: Callable[..., Awaitable[Any]]

    async def put_poll(self, poll: BridgedPoll) -> None:
        await self._write(put, poll)

    async def poll(self, session: str, whatsapp_id: str) -> BridgedPoll | None:
        found: BridgedPoll | None = await self._read(get, session, whatsapp_id)
        return found

    async def mark_poll_voted(self, session: str, whatsapp_id: str) -> None:
        await self._write(voted, session, whatsapp_id)

    async def newest_vote(self, session: str, whatsapp_id: str, voter: str, at: float) -> bool:
        is_newest: bool = await self._write(newest, session, whatsapp_id, voter, at)
        return is_newest
