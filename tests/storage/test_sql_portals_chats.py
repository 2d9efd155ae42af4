"""The portals' and the chat commands' SQL under both codecs: nothing that names someone is
stored in clear; a portal is found by its chat and by its group's internal id, replaced as it
moves from ``creating`` to ``active``; ``/chats`` sees each chat once, newest first, only the
destination's own; a mute is kept once, counts what it held, and ends once."""

from __future__ import annotations

import sqlite3

import attrs
from storage_helpers import mapping

from whatsignal.storage import chats, portals
from whatsignal.storage import mappings as sql_mappings
from whatsignal.storage.crypto import Codec, PlainCodec
from whatsignal.storage.portals import Portal

BRIDGE, ME = "+15550000001", "+15551110001"
CHAT = "491701234567@c.us"
GROUP = "group.QUJDRA=="


def _creating() -> Portal:
    return Portal(BRIDGE, ME, "personal", CHAT, "creating", 1.0, name="Alice")


def test_a_portal_moves_from_creating_to_active_and_is_found_both_ways(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    portals.put(conn, codec, _creating())
    found = portals.get(conn, codec, BRIDGE, ME, "personal", CHAT)
    assert found == _creating()
    assert portals.by_internal_id(conn, codec, BRIDGE, "ABCD") is None
    active = attrs.evolve(_creating(), state="active", group_id=GROUP, internal_id="ABCD")
    portals.put(conn, codec, active)
    assert portals.get(conn, codec, BRIDGE, ME, "personal", CHAT) == active
    assert portals.by_internal_id(conn, codec, BRIDGE, "ABCD") == active
    assert portals.by_internal_id(conn, codec, "+15550000002", "ABCD") is None  # other number
    assert portals.get(conn, codec, BRIDGE, ME, "work", CHAT) is None  # other session
    assert conn.execute("SELECT COUNT(*) FROM portals").fetchone()[0] == 1  # replaced
    raw = repr(conn.execute("SELECT * FROM portals").fetchall())
    for clear in ("491701234567", "15551110001", "personal", "Alice", "QUJDRA"):
        assert (clear in raw) is isinstance(codec, PlainCodec), clear


def test_active_chats_lists_each_chat_once_newest_first(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    rows = [
        mapping(whatsapp_id="a1", chat_id="1@c.us", created_at=10.0),
        mapping(whatsapp_id="b1", chat_id="2@c.us", created_at=20.0),
        mapping(whatsapp_id="a2", chat_id="1@c.us", created_at=30.0),
        mapping(whatsapp_id="w1", chat_id="1@c.us", created_at=40.0, session="work"),
        mapping(whatsapp_id="x1", chat_id="3@c.us", created_at=50.0, destination="+1999"),
    ]
    sql_mappings.upsert(conn, codec, rows)
    listed = chats.active(conn, codec, rows[0].bridge_number, rows[0].destination, 10)
    assert [(c.session, c.chat_id, c.last_at) for c in listed] == [
        ("work", "1@c.us", 40.0),
        (rows[0].session, "1@c.us", 30.0),
        (rows[0].session, "2@c.us", 20.0),
    ]
    assert len(chats.active(conn, codec, rows[0].bridge_number, rows[0].destination, 1)) == 1


def test_a_mute_is_kept_once_counts_what_it_held_and_ends_once(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    assert chats.put_mute(conn, codec, "personal", CHAT, 5.0)
    assert not chats.put_mute(conn, codec, "personal", CHAT, 6.0)  # already muted
    chats.held_one(conn, codec, "personal", CHAT)
    chats.held_one(conn, codec, "personal", CHAT)
    chats.held_one(conn, codec, "work", CHAT)  # not muted there: nothing counted
    assert chats.all_mutes(conn, codec) == [chats.Mute("personal", CHAT, 5.0, 2)]
    raw = repr(conn.execute("SELECT * FROM muted_chats").fetchall())
    for clear in ("491701234567", "personal"):
        assert (clear in raw) is isinstance(codec, PlainCodec), clear
    assert chats.drop_mute(conn, codec, "personal", CHAT) == chats.Mute("personal", CHAT, 5.0, 2)
    assert chats.drop_mute(conn, codec, "personal", CHAT) is None
    assert chats.all_mutes(conn, codec) == []
