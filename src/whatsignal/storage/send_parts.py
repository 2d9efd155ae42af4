"""The send parts of a journal row: the message id each WhatsApp send of a row carries, and
which of those sends are known to have gone out.

A Signal message may cause several WhatsApp sends (each file one send, the text one more). On
engines that accept a pre-generated id (GOWS, NOWEB) the id of a part is fetched from WAHA and
stored here *before* the part is sent, so every retry of that part (after a timeout, a 5xx, a
crash and restart) carries the same id and WhatsApp shows the message once. A part WAHA
answered is recorded as sent, so a retry of the row does not send it again.

One row per part, keyed by the journal row's natural key (not its id, which changes when the
router moves the row to its session's queue) and the part's index. The parts of a row go with
its ``done`` (:func:`forget_row`, in the same transaction); a dead row keeps them, so that a
retry an operator asks for still carries the same ids.

Functions of a sqlite3 connection and the store's codec, run on the store's thread like
:mod:`.journal`'s. The row key is a looked-up field (stored as the journal stores its key),
the ids are sealed: they name the chat.
"""

from __future__ import annotations

import sqlite3

import attrs

from whatsignal.storage.crypto import Codec

__all__ = ["SendPart", "forget_row", "load", "put", "row_keys"]


@attrs.frozen
class SendPart:
    """One WhatsApp send of a journal row.

    Attributes:
        message_id: the pre-generated id (WAHA's bare key) the send carries, or None when the
            engine takes none.
        sent_id: None until the send is known to have gone out; then the serialised id of the
            message WhatsApp shows (``""`` when no id is known).
    """

    message_id: str | None = None
    sent_id: str | None = None


def load(conn: sqlite3.Connection, codec: Codec, row_key: str) -> dict[int, SendPart]:
    """The parts stored for the row with natural key ``row_key``, by index."""
    rows = conn.execute(
        "SELECT part, message_id, sent_id FROM send_parts WHERE row_key = ?",
        (codec.lookup(row_key),),
    ).fetchall()
    return {
        int(part): SendPart(codec.open_text(message_id), codec.open_text(sent_id))
        for part, message_id, sent_id in rows
    }


def put(
    conn: sqlite3.Connection,
    codec: Codec,
    row_key: str,
    index: int,
    part: SendPart,
    *,
    now: float,
) -> None:
    """Store (or replace) one part of a row."""
    conn.execute(
        "INSERT INTO send_parts (row_key, row_key_enc, part, message_id, sent_id, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (row_key, part) DO UPDATE SET"
        " message_id = excluded.message_id, sent_id = excluded.sent_id,"
        " updated_at = excluded.updated_at",
        (
            codec.lookup(row_key),
            codec.sibling(row_key),
            index,
            codec.seal(part.message_id),
            codec.seal(part.sent_id),
            now,
        ),
    )


def forget_row(conn: sqlite3.Connection, row_id: int) -> str | None:
    """Delete the parts of the journal row ``row_id`` (it is done); the journal's key column
    holds the row key in the form ``row_key`` stores it, so no codec is needed. Returns that
    key (as stored: looked up) if the row had parts."""
    rows = conn.execute(
        "DELETE FROM send_parts WHERE row_key = (SELECT key FROM journal WHERE id = ?)"
        " RETURNING row_key",
        (row_id,),
    ).fetchall()
    return str(rows[0][0]) if rows else None


def row_keys(conn: sqlite3.Connection, codec: Codec) -> list[str]:
    """The keys (as stored: looked up) of every row with parts stored."""
    return [str(row[0]) for row in conn.execute("SELECT DISTINCT row_key FROM send_parts")]
