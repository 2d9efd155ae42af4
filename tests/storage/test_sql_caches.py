"""The caches' SQL functions, called directly on a migrated in-memory connection."""

from __future__ import annotations

import sqlite3

from whatsignal.storage import Contact, Group, caches


def test_contacts_and_groups_round_trip_and_replace(conn: sqlite3.Connection) -> None:
    caches.put_contact(conn, Contact("s", "1@c.us", "Ann", "1", 1.0))
    caches.put_contact(conn, Contact("s", "1@c.us", None, "1", 2.0))
    assert caches.get_contact(conn, "s", "1@c.us") == Contact("s", "1@c.us", None, "1", 2.0)
    assert caches.get_contact(conn, "t", "1@c.us") is None
    caches.put_group(conn, Group("s", "9@g.us", "Club", 3.0))
    assert caches.get_group(conn, "s", "9@g.us") == Group("s", "9@g.us", "Club", 3.0)
    assert caches.get_group(conn, "s", "8@g.us") is None


def test_signal_identities_are_stamped_now_and_move(conn: sqlite3.Connection) -> None:
    caches.put_signal_identity(conn, "+1", "u-1", now=5.0)
    caches.put_signal_identity(conn, "+2", "u-1", now=6.0)  # the account changed number
    assert caches.number_for_uuid(conn, "u-1") == "+2"
    assert caches.uuid_for_number(conn, "+1") is None
    rows = conn.execute("SELECT number, uuid, updated_at FROM signal_identities").fetchall()
    assert rows == [("+2", "u-1", 6.0)]
