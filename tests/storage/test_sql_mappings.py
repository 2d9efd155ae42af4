"""The mappings' SQL functions, called directly on a migrated in-memory connection."""

from __future__ import annotations

import sqlite3

import pytest
from storage_helpers import BRIDGE, ME, mapping

from whatsignal.storage import ACK_DEVICE, ACK_ERROR, ACK_PLAYED, ACK_READ, ACK_SERVER, mappings
from whatsignal.storage.crypto import Codec, PlainCodec


def test_upsert_replaces_but_keeps_a_known_delivery_status(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    mappings.upsert(conn, codec, [mapping("W", signal_timestamp=1)])
    assert mappings.update_delivery(conn, codec, "default", "W", ACK_DEVICE)
    mappings.upsert(conn, codec, [mapping("W", signal_timestamp=2, delivery_status=ACK_SERVER)])
    found = mappings.by_whatsapp_id(conn, codec, "default", "W")
    assert found == mapping("W", signal_timestamp=2, delivery_status=ACK_DEVICE)
    assert mappings.by_signal_timestamp(conn, codec, BRIDGE, 2) == found
    assert mappings.by_signal_timestamp(conn, codec, BRIDGE, 1) is None


def test_latest_narrows_by_sender_and_sessions(conn: sqlite3.Connection, codec: Codec) -> None:
    mappings.upsert(
        conn,
        codec,
        [
            mapping("a", session="s1", sender_name="Alice", created_at=1),
            mapping("b", session="s2", sender_name="Bob", created_at=2),
            mapping("c", session="s1", sender_name="Alice", created_at=3, direction="signal_to_wa"),
        ],
    )

    def latest(
        sender_name: str | None = None, sessions: tuple[str, ...] | None = None
    ) -> str | None:
        found = mappings.latest(conn, codec, BRIDGE, ME, sender_name, sessions)
        return None if found is None else found.whatsapp_id

    assert latest() == "c"
    assert latest(sessions=("s2",)) == "b"
    assert latest(sessions=("s1", "s2")) == "c"
    assert latest(sender_name="Alice") == "a"  # Signal -> WhatsApp rows have no sender
    assert latest(sender_name="Alice", sessions=("s2",)) is None
    assert latest(sessions=()) is None
    assert mappings.recent_chats(conn, codec, "s1", limit=5) == ["111@c.us"]


@pytest.mark.parametrize("status", [-2, 5, 100])
def test_ack_levels_outside_waha_s_are_refused(
    conn: sqlite3.Connection, codec: Codec, status: int
) -> None:
    with pytest.raises(ValueError, match="not a WAHA ack level"):
        mappings.check_ack_level(status)
    with pytest.raises(ValueError, match="not a WAHA ack level"):
        mappings.update_delivery(conn, codec, "default", "W", status)


def test_update_delivery_only_rises(conn: sqlite3.Connection, codec: Codec) -> None:
    assert not mappings.update_delivery(conn, codec, "default", "unknown", ACK_READ)
    mappings.upsert(conn, codec, [mapping("W")])
    for status in (ACK_ERROR, ACK_PLAYED):  # the lowest and the highest level
        mappings.check_ack_level(status)  # raises nothing
    assert mappings.update_delivery(conn, codec, "default", "W", ACK_ERROR)
    assert mappings.update_delivery(conn, codec, "default", "W", ACK_PLAYED)
    assert not mappings.update_delivery(conn, codec, "default", "W", ACK_ERROR)


def test_prune_deletes_mappings_created_strictly_before(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    mappings.upsert(conn, codec, [mapping("old", created_at=10), mapping("edge", created_at=20)])
    assert mappings.prune(conn, before=20) == 1
    assert mappings.by_whatsapp_id(conn, codec, "default", "old") is None
    assert mappings.by_whatsapp_id(conn, codec, "default", "edge") is not None


def test_row_to_mapping_of_no_row_is_none() -> None:
    assert mappings.row_to_mapping(PlainCodec(), None) is None
