"""The caches' SQL: WhatsApp contacts and groups, Signal identities.

Plain functions of a sqlite3 connection, run on the store's database thread inside the
caller's transaction. Contacts and groups carry their own ``updated_at``; a Signal identity
is stamped with the ``now`` its caller read from the store's clock.
"""

from __future__ import annotations

import sqlite3

from whatsignal.storage.models import Contact, Group


def put_contact(conn: sqlite3.Connection, contact: Contact) -> None:
    """Insert or replace a cached contact."""
    conn.execute(
        "INSERT OR REPLACE INTO contacts (session, contact_id, name, number, updated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (contact.session, contact.contact_id, contact.name, contact.number, contact.updated_at),
    )


def get_contact(conn: sqlite3.Connection, session: str, contact_id: str) -> Contact | None:
    """A cached contact, or None."""
    row = conn.execute(
        "SELECT session, contact_id, name, number, updated_at FROM contacts"
        " WHERE session = ? AND contact_id = ?",
        (session, contact_id),
    ).fetchone()
    return None if row is None else Contact(*row)


def put_group(conn: sqlite3.Connection, group: Group) -> None:
    """Insert or replace a cached group."""
    conn.execute(
        "INSERT OR REPLACE INTO groups (session, group_id, name, updated_at) VALUES (?, ?, ?, ?)",
        (group.session, group.group_id, group.name, group.updated_at),
    )


def get_group(conn: sqlite3.Connection, session: str, group_id: str) -> Group | None:
    """A cached group, or None."""
    row = conn.execute(
        "SELECT session, group_id, name, updated_at FROM groups WHERE session = ? AND group_id = ?",
        (session, group_id),
    ).fetchone()
    return None if row is None else Group(*row)


def put_signal_identity(conn: sqlite3.Connection, number: str, uuid: str, *, now: float) -> None:
    """Remember that ``number`` has ``uuid``, as of ``now``.

    A number that re-registered gets its new uuid, and a uuid seen with another number (the
    account changed number) moves: ``INSERT OR REPLACE`` drops both old pairings.
    """
    conn.execute(
        "INSERT OR REPLACE INTO signal_identities (number, uuid, updated_at) VALUES (?, ?, ?)",
        (number, uuid, now),
    )


def number_for_uuid(conn: sqlite3.Connection, uuid: str) -> str | None:
    """The phone number known for a Signal uuid."""
    row = conn.execute("SELECT number FROM signal_identities WHERE uuid = ?", (uuid,)).fetchone()
    return None if row is None else str(row[0])


def uuid_for_number(conn: sqlite3.Connection, number: str) -> str | None:
    """The uuid known for a Signal phone number."""
    row = conn.execute("SELECT uuid FROM signal_identities WHERE number = ?", (number,)).fetchone()
    return None if row is None else str(row[0])
