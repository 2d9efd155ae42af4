"""The narrow protocols: together they are exactly Store, and SqliteStore is each of them."""

from __future__ import annotations

import inspect

from storage_helpers import event, mapping

import whatsignal.storage
from whatsignal.storage import (
    Caches,
    Health,
    Journal,
    Mappings,
    Polls,
    Portals,
    Retention,
    SendParts,
    SqliteStore,
    Store,
)

NARROW = (Journal, Mappings, Caches, SendParts, Portals, Polls, Retention, Health)


def _declared(protocol: type) -> set[str]:
    """The public methods ``protocol`` declares itself (not those it inherits)."""
    return {n for n, f in vars(protocol).items() if inspect.isfunction(f) and n[0] != "_"}


def test_the_narrow_protocols_split_store_without_overlap() -> None:
    parts = [_declared(p) for p in NARROW]
    everything = {n for n, f in inspect.getmembers(Store, inspect.isfunction) if n[0] != "_"}
    assert sum(len(part) for part in parts) == len(everything) == 48  # disjoint, complete
    assert set().union(*parts) == everything
    assert _declared(Store) == set()  # Store adds nothing of its own ...
    assert all(p in Store.__mro__ for p in NARROW)  # ... it is the five together


def test_each_method_sits_with_its_concern() -> None:
    assert {"journal", "complete", "pending_heads", "has_key", "last_received"} <= _declared(
        Journal
    )
    assert {"mapping_by_whatsapp_id", "latest_mapping", "update_delivery"} <= _declared(Mappings)
    assert {"put_contact", "get_group", "number_for_uuid", "lid_pairing"} <= _declared(Caches)
    assert _declared(SendParts) == {"send_parts", "put_send_part"}
    assert _declared(Portals) == {"portal", "portal_by_group", "put_portal", "active_portals"}
    assert _declared(Polls) == {"put_poll", "poll", "mark_poll_voted", "newest_vote"}
    assert _declared(Retention) == {"prune"}
    assert _declared(Health) == {"check_health"}


def test_the_protocols_are_exported_with_store() -> None:
    for protocol in (*NARROW, Store):
        assert getattr(whatsignal.storage, protocol.__name__) is protocol
        assert protocol.__name__ in whatsignal.storage.__all__


async def _bridge_one(journal: Journal, key: str) -> None:
    """A caller that needs only the work queue asks for only that."""
    [row_id] = await journal.journal([event(key)])
    assert row_id is not None
    await journal.complete(row_id, mappings=[mapping(key)])


async def test_a_store_serves_callers_that_ask_narrowly(store: SqliteStore) -> None:
    journal: Journal = store  # mypy checks each of these structural matches
    mappings: Mappings = store
    caches: Caches = store
    retention: Retention = store
    await _bridge_one(journal, "W")
    assert await mappings.mapping_by_whatsapp_id("default", "W") == mapping("W")
    assert await caches.uuid_for_number("+1") is None
    assert await retention.prune(done_before=9e9, mappings_before=9e9) == 2
