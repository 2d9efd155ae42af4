"""Message mappings (quote/receipt resolution, delivery status) and the caches."""

from __future__ import annotations

import uuid

import pytest
from storage_helpers import BRIDGE, ME, event, mapping

from whatsignal.storage import (
    ACK_DEVICE,
    ACK_ERROR,
    ACK_PENDING,
    ACK_PLAYED,
    ACK_READ,
    ACK_SERVER,
    Contact,
    Group,
    MessageMapping,
    SqliteStore,
    delivery_rank,
)


async def _store_mappings(store: SqliteStore, *mappings: MessageMapping) -> None:
    [row_id] = await store.journal([event(f"row-{uuid.uuid4()}")])
    assert row_id is not None
    await store.complete(row_id, mappings=mappings)


async def _status(store: SqliteStore, whatsapp_id: str) -> int | None:
    found = await store.mapping_by_whatsapp_id("default", whatsapp_id)
    assert found is not None
    return found.delivery_status


async def test_delivery_status_rises_server_device_read(store: SqliteStore) -> None:
    await _store_mappings(store, mapping("W"))
    assert await _status(store, "W") is None
    assert await store.update_delivery("default", "W", ACK_SERVER) is True
    assert await store.update_delivery("default", "W", ACK_DEVICE) is True
    assert await store.update_delivery("default", "W", ACK_READ) is True
    assert await _status(store, "W") == ACK_READ


@pytest.mark.parametrize("late", [ACK_PENDING, ACK_SERVER, ACK_DEVICE, ACK_READ, ACK_ERROR])
async def test_delivery_status_never_goes_back(store: SqliteStore, late: int) -> None:
    await _store_mappings(store, mapping("W"))
    await store.update_delivery("default", "W", ACK_READ)
    assert await store.update_delivery("default", "W", late) is False
    assert await _status(store, "W") == ACK_READ


async def test_error_does_not_overwrite_delivered_or_played(store: SqliteStore) -> None:
    await _store_mappings(store, mapping("D"), mapping("P"))
    await store.update_delivery("default", "D", ACK_DEVICE)
    await store.update_delivery("default", "P", ACK_PLAYED)
    assert await store.update_delivery("default", "D", ACK_ERROR) is False
    assert await store.update_delivery("default", "P", ACK_ERROR) is False
    assert await _status(store, "D") == ACK_DEVICE
    assert await _status(store, "P") == ACK_PLAYED


async def test_error_after_server_ack_is_recorded_and_delivery_still_wins(
    store: SqliteStore,
) -> None:
    await _store_mappings(store, mapping("W"))
    await store.update_delivery("default", "W", ACK_SERVER)
    assert await store.update_delivery("default", "W", ACK_ERROR) is True
    assert await _status(store, "W") == ACK_ERROR
    assert await store.update_delivery("default", "W", ACK_SERVER) is False
    assert await store.update_delivery("default", "W", ACK_DEVICE) is True
    assert await _status(store, "W") == ACK_DEVICE


async def test_delivery_update_of_unknown_message_changes_nothing(store: SqliteStore) -> None:
    assert await store.update_delivery("default", "nope", ACK_READ) is False


async def test_delivery_status_must_be_an_ack_level(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="ack level"):
        await store.update_delivery("default", "W", 7)


def test_delivery_rank_orders_error_between_server_and_device() -> None:
    ranks = [delivery_rank(s) for s in (ACK_PENDING, ACK_SERVER, ACK_ERROR, ACK_DEVICE)]
    assert ranks == sorted(ranks)
    assert delivery_rank(ACK_READ) < delivery_rank(ACK_PLAYED)


async def test_signal_timestamp_lookup_is_exact_and_per_bridge_number(
    store: SqliteStore,
) -> None:
    ts = 1_700_000_000_123
    await _store_mappings(
        store,
        mapping("A", signal_timestamp=ts),
        mapping("B", signal_timestamp=ts, bridge_number="+15557777777"),
    )
    found = await store.mapping_by_signal_timestamp(BRIDGE, ts)
    assert found is not None
    assert found.whatsapp_id == "A"
    # A precision mismatch (microseconds instead of milliseconds) must not find anything.
    assert await store.mapping_by_signal_timestamp(BRIDGE, ts * 1000) is None
    assert await store.mapping_by_signal_timestamp(BRIDGE, ts + 1) is None
    other = await store.mapping_by_signal_timestamp("+15557777777", ts)
    assert other is not None
    assert other.whatsapp_id == "B"


async def test_signal_timestamp_collision_resolves_to_the_newest(store: SqliteStore) -> None:
    await _store_mappings(
        store,
        mapping("old", signal_timestamp=5, created_at=1),
        mapping("new", signal_timestamp=5, created_at=2),
    )
    found = await store.mapping_by_signal_timestamp(BRIDGE, 5)
    assert found is not None
    assert found.whatsapp_id == "new"


async def test_mapping_lookup_is_per_session(store: SqliteStore) -> None:
    await _store_mappings(store, mapping("same", session="s1", chat_id="1@c.us"))
    await _store_mappings(store, mapping("same", session="s2", chat_id="2@c.us"))
    s1 = await store.mapping_by_whatsapp_id("s1", "same")
    s2 = await store.mapping_by_whatsapp_id("s2", "same")
    assert s1 is not None
    assert s2 is not None
    assert (s1.chat_id, s2.chat_id) == ("1@c.us", "2@c.us")
    assert await store.mapping_by_whatsapp_id("s3", "same") is None


async def test_contacts_are_cached_per_session(store: SqliteStore) -> None:
    alice = Contact("s1", "111@c.us", "Alice", "111", 10.0)
    await store.put_contact(alice)
    assert await store.get_contact("s1", "111@c.us") == alice
    assert await store.get_contact("s2", "111@c.us") is None
    renamed = Contact("s1", "111@c.us", "Alice B", None, 20.0)
    await store.put_contact(renamed)
    assert await store.get_contact("s1", "111@c.us") == renamed


async def test_groups_are_cached_per_session(store: SqliteStore) -> None:
    group = Group("s1", "123@g.us", "Family", 10.0)
    await store.put_group(group)
    assert await store.get_group("s1", "123@g.us") == group
    assert await store.get_group("s2", "123@g.us") is None
    await store.put_group(Group("s1", "123@g.us", None, 11.0))
    assert await store.get_group("s1", "123@g.us") == Group("s1", "123@g.us", None, 11.0)


async def test_signal_identities_resolve_both_ways(store: SqliteStore) -> None:
    assert await store.number_for_uuid("u-1") is None
    assert await store.uuid_for_number("+15550003333") is None
    await store.put_signal_identity("+15550003333", "u-1")
    assert await store.number_for_uuid("u-1") == "+15550003333"
    assert await store.uuid_for_number("+15550003333") == "u-1"


async def test_signal_identity_changes_replace_old_pairings(store: SqliteStore) -> None:
    await store.put_signal_identity("+15550003333", "u-1")
    await store.put_signal_identity("+15550003333", "u-2")  # re-registered: new uuid
    assert await store.number_for_uuid("u-1") is None
    assert await store.uuid_for_number("+15550003333") == "u-2"
    await store.put_signal_identity("+15550004444", "u-2")  # the account changed number
    assert await store.uuid_for_number("+15550003333") is None
    assert await store.number_for_uuid("u-2") == "+15550004444"


async def test_latest_mapping_by_name_finds_the_newest_chat_of_that_sender(
    store: SqliteStore,
) -> None:
    # A quote of a forgotten message still names its sender ("Alice: ..."): the bridge finds
    # Alice's most recent chat, never someone else's, and never a Signal -> WhatsApp row.
    old = mapping("false_1@c.us_A", chat_id="1@c.us", sender_name="Alice", created_at=1.0)
    new = mapping("false_2@g.us_B_1@c.us", chat_id="2@g.us", sender_name="Alice", created_at=2.0)
    bob = mapping("false_3@c.us_C", chat_id="3@c.us", sender_name="Bob", created_at=3.0)
    mine = mapping(
        "true_4@c.us_D",
        chat_id="4@c.us",
        sender_name="Alice",
        direction="signal_to_wa",
        created_at=4.0,
    )
    await store.journal([event("k")])
    await store.complete(1, mappings=[old, new, bob, mine])
    found = await store.latest_mapping_by_name(BRIDGE, ME, "Alice")
    assert found is not None
    assert found.chat_id == "2@g.us"
    assert await store.latest_mapping_by_name(BRIDGE, ME, "Carol") is None
    assert await store.latest_mapping_by_name(BRIDGE, ME, "Alice", sessions=["other"]) is None
    assert await store.latest_mapping_by_name(BRIDGE, ME, "Alice", sessions=[]) is None


async def test_has_key_tells_journaled_events_apart(store: SqliteStore) -> None:
    assert not await store.has_key("wa:s:msg:1")
    await store.journal([event("wa:s:msg:1")])
    assert await store.has_key("wa:s:msg:1")


async def test_last_received_and_recent_chats(store: SqliteStore) -> None:
    assert await store.last_received("default", "whatsapp") is None
    await store.journal([event("a", received_at=10.0), event("b", received_at=30.0)])
    await store.journal([event("s", source="signal", received_at=99.0)])
    assert await store.last_received("default", "whatsapp") == 30.0
    assert await store.last_received("default", "signal") == 99.0
    await store.complete(
        1,
        mappings=[
            mapping("w1", chat_id="old@c.us", created_at=1.0),
            mapping("w2", chat_id="new@c.us", created_at=5.0),
            mapping("w3", chat_id="old@c.us", created_at=2.0),
            mapping("w4", chat_id="other@c.us", session="s2", created_at=9.0),
        ],
    )
    assert await store.recent_chats("default") == ["new@c.us", "old@c.us"]
    assert await store.recent_chats("default", limit=1) == ["new@c.us"]
