"""The send parts' SQL under both codecs: the ids of a row's sends are sealed, the row key
looked up as the journal's key is."""

from __future__ import annotations

import sqlite3

from whatsignal.storage import send_parts
from whatsignal.storage.crypto import Codec, PlainCodec


def test_no_send_part_id_is_stored_in_clear(conn: sqlite3.Connection, codec: Codec) -> None:
    # The ids of a row's sends name the chat (true_<number>@c.us_<id>): sealed like the rest.
    sent = send_parts.SendPart("3EB0AA", "true_491701234567@c.us_3EB0AA")
    send_parts.put(conn, codec, "wa:personal:3EB0AA", 0, sent, now=1.0)
    raw = repr(conn.execute("SELECT * FROM send_parts").fetchall())
    for clear in ("491701234567", "3EB0AA", "personal"):
        assert (clear in raw) is isinstance(codec, PlainCodec), clear
    assert send_parts.load(conn, codec, "wa:personal:3EB0AA") == {0: sent}
