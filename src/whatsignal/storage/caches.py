"""The caches' SQL: WhatsApp contacts and groups, Signal identities.

Plain functions of a sqlite3 connection, run on the store's database thread inside the
caller's transaction. Contacts and groups carry their own ``updated_at``; a Signal identity
is stamped with the ``now`` its caller read from the store's clock.

Through the store's codec (``crypto.py``): the keys (session, contact and group ids, numbers
and uuids) hold lookup hashes with their clear values sealed in ``*_enc``; names and a
contact's number are sealed.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from whatsignal.storage.crypto import Codec
from whatsignal.storage.models import Contact, Group


def _pair(codec: Codec, value: str) -> tuple[Any, Any]:
    return codec.lookup(value), codec.sibling(value)


def put_contact(conn: sqlite3.Connection, codec: Codec, contact: Contact) -> None:
    """Insert or replace a cached contact."""
    conn.execute(
        "INSERT OR REPLACE INTO contacts (session, session_enc, contact_id, contact_id_enc,"
        " name, number, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            *_pair(codec, contact.session),
            *_pair(codec, contact.contact_id),
            codec.seal(contact.name),
            codec.seal(contact.number),
            contact.updated_at,
        ),
    )


def get_contact(
    conn: sqlite3.Connection, codec: Codec, session: str, contact_id: str
) -> Contact | None:
    """A cached contact, or None."""
    row = conn.execute(
        "SELECT name, number, updated_at FROM contacts WHERE session = ? AND contact_id = ?",
        (codec.lookup(session), codec.lookup(contact_id)),
    ).fetchone()
    if row is None:
        return None
    return Contact(session, contact_id, codec.open_text(row[0]), codec.open_text(row[1]), row[2])


def put_group(conn: sqlite3.Connection, codec: Codec, group: Group) -> None:
    """Insert or replace a cached group."""
    conn.execute(
        "INSERT OR REPLACE INTO groups (session, session_enc, group_id, group_id_enc, name,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            *_pair(codec, group.session),
            *_pair(codec, group.group_id),
            codec.seal(group.name),
            group.updated_at,
        ),
    )


def get_group(conn: sqlite3.Connection, codec: Codec, session: str, group_id: str) -> Group | None:
    """A cached group, or None."""
    row = conn.execute(
        "SELECT name, updated_at FROM groups WHERE session = ? AND group_id = ?",
        (codec.lookup(session), codec.lookup(group_id)),
    ).fetchone()
    return None if row is None else Group(session, group_id, codec.open_text(row[0]), row[1])


def put_signal_identity(
    conn: sqlite3.Connection, codec: Codec, number: str, uuid: str, *, now: float
) -> None:
    """Remember that ``number`` has ``uuid``, as of ``now``.

    A number that re-registered gets its new uuid, and a uuid seen with another number (the
    account changed number) moves: ``INSERT OR REPLACE`` drops both old pairings.
    """
    conn.execute(
        "INSERT OR REPLACE INTO signal_identities (number, number_enc, uuid, uuid_enc,"
        " updated_at) VALUES (?, ?, ?, ?, ?)",
        (*_pair(codec, number), *_pair(codec, uuid), now),
    )


def number_for_uuid(conn: sqlite3.Connection, codec: Codec, uuid: str) -> str | None:
    """The phone number known for a Signal uuid."""
    row = conn.execute(
        "SELECT number, number_enc FROM signal_identities WHERE uuid = ?", (codec.lookup(uuid),)
    ).fetchone()
    return None if row is None else codec.reveal(row[0], row[1])


def uuid_for_number(conn: sqlite3.Connection, codec: Codec, number: str) -> str | None:
    """The uuid known for a Signal phone number."""
    row = conn.execute(
        "SELECT uuid, uuid_enc FROM signal_identities WHERE number = ?", (codec.lookup(number),)
    ).fetchone()
    return None if row is None else codec.reveal(row[0], row[1])
