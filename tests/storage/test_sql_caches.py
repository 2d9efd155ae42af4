"""The caches' SQL functions, called directly on a migrated in-memory connection."""

from __future__ import annotations

import sqlite3

from whatsignal.storage import Contact, Group, caches
from whatsignal.storage.crypto import Codec


def test_contacts_and_groups_round_trip_and_replace(conn: sqlite3.Connection, codec: Codec) -> None:
    caches.put_contact(conn, codec, Contact("s", "1@c.us", "Ann", "1", 1.0))
    caches.put_contact(conn, codec, Contact("s", "1@c.us", None, "1", 2.0))
    assert caches.get_contact(conn, codec, "s", "1@c.us") == Contact("s", "1@c.us", None, "1", 2.0)
    assert caches.get_contact(conn, codec, "t", "1@c.us") is None
    caches.put_group(conn, codec, Group("s", "9@g.us", "Club", 3.0))
    assert caches.get_group(conn, codec, "s", "9@g.us") == Group("s", "9@g.us", "Club", 3.0)
    assert caches.get_group(conn, codec, "s", "8@g.us") is None


def test_signal_identities_are_stamped_now_and_move(conn: sqlite3.Connection, codec: Codec) -> None:
    caches.put_signal_identity(conn, codec, "+1", "u-1", now=5.0)
    caches.put_signal_identity(conn, codec, "+2", "u-1", now=6.0)  # the account changed number
    assert caches.number_for_uuid(conn, codec, "u-1") == "+2"
    assert caches.uuid_for_number(conn, codec, "+1") is None
    rows = conn.execute("SELECT number, uuid, updated_at FROM signal_identities").fetchall()
    assert rows == [(codec.lookup("+2"), codec.lookup("u-1"), 6.0)]
