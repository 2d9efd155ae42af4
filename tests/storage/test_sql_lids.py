"""The LID pairings' SQL: a pairing replaces older ones of either half, a lone half (WAHA
knew no partner) never erases a known pairing, and lookups go by either half."""

from __future__ import annotations

import sqlite3

import pytest

from whatsignal.storage import LidPairing, SqliteStore
from whatsignal.storage.crypto import Codec, PlainCodec
from whatsignal.storage.lids import get_pairing, put_pairing

LID, PN = "214748364701234@lid", "491701234567@c.us"


def test_a_pairing_is_found_by_either_half_and_per_session(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    put_pairing(conn, codec, LidPairing("s", LID, PN, 1.0))
    assert get_pairing(conn, codec, "s", lid=LID) == LidPairing("s", LID, PN, 1.0)
    assert get_pairing(conn, codec, "s", pn=PN) == LidPairing("s", LID, PN, 1.0)
    assert get_pairing(conn, codec, "t", lid=LID) is None


def test_a_lone_half_is_refreshed_but_never_erases_a_pairing(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    put_pairing(conn, codec, LidPairing("s", LID, None, 1.0))
    put_pairing(conn, codec, LidPairing("s", LID, None, 2.0))  # asked again: still no number
    assert get_pairing(conn, codec, "s", lid=LID) == LidPairing("s", LID, None, 2.0)
    put_pairing(conn, codec, LidPairing("s", LID, PN, 3.0))
    put_pairing(conn, codec, LidPairing("s", LID, None, 4.0))  # a later "unknown" changes nothing
    put_pairing(conn, codec, LidPairing("s", None, PN, 5.0))
    assert get_pairing(conn, codec, "s", lid=LID) == LidPairing("s", LID, PN, 3.0)
    assert conn.execute("SELECT COUNT(*) FROM lid_pairings").fetchone() == (1,)


def test_a_new_pairing_replaces_what_either_half_had(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    put_pairing(conn, codec, LidPairing("s", None, PN, 1.0))  # a number with no LID known
    put_pairing(conn, codec, LidPairing("s", "9@lid", "4911@c.us", 1.0))
    put_pairing(conn, codec, LidPairing("s", LID, PN, 2.0))
    put_pairing(conn, codec, LidPairing("s", "9@lid", PN, 3.0))  # the number now has another LID
    assert get_pairing(conn, codec, "s", pn=PN) == LidPairing("s", "9@lid", PN, 3.0)
    assert get_pairing(conn, codec, "s", lid=LID) is None
    assert get_pairing(conn, codec, "s", pn="4911@c.us") is None


def test_a_pairing_needs_a_half_and_a_lookup_needs_a_key(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    with pytest.raises(ValueError, match="lid, a phone number"):
        LidPairing("s", None, None, 0.0)
    with pytest.raises(ValueError, match="give a lid"):
        get_pairing(conn, codec, "s")
    assert LidPairing("s", LID, PN, 0.0).complete
    assert not LidPairing("s", LID, None, 0.0).complete


async def test_the_store_keeps_pairings(store: SqliteStore) -> None:
    await store.put_lid_pairing(LidPairing("s", LID, PN, 7.0))
    assert await store.lid_pairing("s", pn=PN) == LidPairing("s", LID, PN, 7.0)
    with pytest.raises(ValueError, match="give a lid"):
        await store.lid_pairing("s")


def test_no_id_of_a_pairing_is_stored_in_clear(conn: sqlite3.Connection, codec: Codec) -> None:
    put_pairing(conn, codec, LidPairing("personal", LID, PN, 1.0))
    put_pairing(conn, codec, LidPairing("personal", "9@lid", None, 2.0))
    raw = repr(conn.execute("SELECT * FROM lid_pairings").fetchall())
    sealed = not isinstance(codec, PlainCodec)
    for clear in ("214748364701234", "491701234567", "personal", "9@lid"):
        assert (clear in raw) is not sealed, clear
    assert get_pairing(conn, codec, "personal", lid="9@lid") == LidPairing(
        "personal", "9@lid", None, 2.0
    )
