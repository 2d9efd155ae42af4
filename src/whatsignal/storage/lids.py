"""The LID pairings' SQL: which WhatsApp ``@lid`` id is which phone number, per session.

WhatsApp hides more and more people behind a linked id (``214748364701234@lid``); WAHA can tell
the phone number behind one (``GET /api/{session}/lids/{lid}``) and the other way round. A row
is one answer: both halves known (a pairing), or only one of them (WAHA knew no partner when
``updated_at`` was read, so the half stands alone until it is asked again).

Plain functions of a sqlite3 connection, run on the store's database thread inside the
caller's transaction; a row carries its own ``updated_at``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import attrs

from whatsignal.storage.crypto import Codec

__all__ = ["LidPairing", "get_pairing", "put_pairing"]


@attrs.frozen
class LidPairing:
    """What the bridge knows of one person's two WhatsApp ids in a session.

    ``lid`` is the ``…@lid`` id and ``pn`` the phone number's chat id (``…@c.us``); one of them
    may be None: WAHA was asked at ``updated_at`` and knew no partner for the other.
    """

    session: str
    lid: str | None
    pn: str | None
    updated_at: float

    def __attrs_post_init__(self) -> None:
        if self.lid is None and self.pn is None:
            raise ValueError("a LID pairing needs a lid, a phone number or both")

    @property
    def complete(self) -> bool:
        """Whether both ids are known."""
        return self.lid is not None and self.pn is not None


def _half(codec: Codec, value: str | None) -> tuple[Any, Any]:
    """A looked-up id and its sealed sibling (both None for an unknown half)."""
    return codec.lookup_or_none(value), codec.sibling(value)


def put_pairing(conn: sqlite3.Connection, codec: Codec, pairing: LidPairing) -> None:
    """Record an answer of WAHA's.

    A complete pairing replaces whatever either half was paired with before. A lone half
    ("WAHA knows no partner") never erases a known pairing: it only records, or refreshes, that
    the half was asked about at ``updated_at``. Every id is stored as the codec's lookup and
    sealed sibling (:mod:`whatsignal.storage.fields`).
    """
    session = codec.lookup(pairing.session)
    lid, pn = codec.lookup_or_none(pairing.lid), codec.lookup_or_none(pairing.pn)
    row = (
        *_half(codec, pairing.session),
        *_half(codec, pairing.lid),
        *_half(codec, pairing.pn),
        pairing.updated_at,
    )
    insert = (
        "INSERT INTO lid_pairings (session, session_enc, lid, lid_enc, pn, pn_enc, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    if lid is not None and pn is not None:
        conn.execute(
            "DELETE FROM lid_pairings WHERE session = ? AND (lid = ? OR pn = ?)", (session, lid, pn)
        )
        conn.execute(insert, row)
        return
    column, value = ("lid", lid) if lid is not None else ("pn", pn)
    known = conn.execute(
        f"SELECT lid, pn FROM lid_pairings WHERE session = ? AND {column} = ?", (session, value)
    ).fetchone()
    if known is None:
        conn.execute(insert, row)
    elif known[0] is None or known[1] is None:
        conn.execute(
            f"UPDATE lid_pairings SET updated_at = ? WHERE session = ? AND {column} = ?",
            (pairing.updated_at, session, value),
        )


def get_pairing(
    conn: sqlite3.Connection,
    codec: Codec,
    session: str,
    *,
    lid: str | None = None,
    pn: str | None = None,
) -> LidPairing | None:
    """What is known of ``lid`` (or else of ``pn``) in ``session``, or None when never asked.

    Raises:
        ValueError: neither ``lid`` nor ``pn`` was given.
    """
    if lid is not None:
        column, value = "lid", lid
    elif pn is not None:
        column, value = "pn", pn
    else:
        raise ValueError("give a lid or a phone number")
    row = conn.execute(
        "SELECT lid, lid_enc, pn, pn_enc, updated_at FROM lid_pairings"
        f" WHERE session = ? AND {column} = ?",
        (codec.lookup(session), codec.lookup(value)),
    ).fetchone()
    if row is None:
        return None
    return LidPairing(session, codec.reveal(row[0], row[1]), codec.reveal(row[2], row[3]), row[4])
