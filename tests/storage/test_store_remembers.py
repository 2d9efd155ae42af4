"""What the store answers from memory: mappings found by Signal timestamp (a conversation
quotes the same messages again and again) and rows without send parts (most rows). Each answer
must be the one the database would give, whatever was written since."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from storage_helpers import BRIDGE, FAST_KDF, KEYS, event, mapping

from whatsignal.storage import ACK_READ, MessageMapping, SendPart, SqliteStore
from whatsignal.storage import mappings as sql_mappings
from whatsignal.storage import send_parts as sql_parts
from whatsignal.storage.mappings import RecentMappings


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Count the calls of the SQL function ``module.name`` (the store's reads of it)."""
    calls: list[int] = []
    real: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


async def stored(store: SqliteStore, *mappings: MessageMapping) -> None:
    [row_id] = await store.journal([event(f"row-{uuid.uuid4()}")])
    assert row_id is not None
    await store.complete(row_id, mappings=mappings)


async def test_a_mapping_found_by_timestamp_is_found_again_without_a_read(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = counting(monkeypatch, sql_mappings, "by_signal_timestamp")
    await stored(store, mapping("W1", signal_timestamp=11))
    assert await store.mapping_by_signal_timestamp(BRIDGE, 12) is None
    assert await store.mapping_by_signal_timestamp(BRIDGE, 12) is None  # misses are not kept
    first = await store.mapping_by_signal_timestamp(BRIDGE, 11)
    assert first is not None and first.whatsapp_id == "W1"
    assert await store.mapping_by_signal_timestamp(BRIDGE, 11) == first
    assert await store.mapping_by_signal_timestamp("+19990000000", 11) is None
    assert len(reads) == 4  # 12, 12, 11 once, the other number


async def test_what_is_written_since_is_what_a_lookup_answers(store: SqliteStore) -> None:
    await stored(store, mapping("W1", signal_timestamp=11))
    assert (await store.mapping_by_signal_timestamp(BRIDGE, 11)) is not None
    # The same WhatsApp message sent again after a crash: its mapping is replaced, and the
    # old timestamp names nothing any more.
    await stored(store, mapping("W1", signal_timestamp=21, created_at=2000.0))
    assert await store.mapping_by_signal_timestamp(BRIDGE, 11) is None
    again = await store.mapping_by_signal_timestamp(BRIDGE, 21)
    assert again is not None and again.whatsapp_id == "W1" and again.delivery_status is None
    # Its delivery status rises: the next lookup shows it.
    assert await store.update_delivery("default", "W1", ACK_READ) is True
    read = await store.mapping_by_signal_timestamp(BRIDGE, 21)
    assert read is not None and read.delivery_status == ACK_READ
    # A newer mapping with the same timestamp is the one a lookup names.
    await stored(store, mapping("W2", signal_timestamp=21, created_at=3000.0))
    newest = await store.mapping_by_signal_timestamp(BRIDGE, 21)
    assert newest is not None and newest.whatsapp_id == "W2"
    # Pruned: gone.
    await store.prune(done_before=0.0, mappings_before=10_000.0)
    assert await store.mapping_by_signal_timestamp(BRIDGE, 21) is None


async def test_a_lookup_in_flight_while_a_mapping_is_written_is_not_kept(
    store: SqliteStore,
) -> None:
    await stored(store, mapping("W1", signal_timestamp=11))
    recent: RecentMappings = store._recent
    began = recent.generation
    old = await store.mapping_by_whatsapp_id("default", "W1")
    assert old is not None
    await stored(store, mapping("W1", signal_timestamp=31, created_at=2000.0))
    recent.keep(began, BRIDGE, 11, old)  # what a read begun before the write would keep
    assert recent.get(BRIDGE, 11) is None
    assert await store.mapping_by_signal_timestamp(BRIDGE, 11) is None


def test_recent_mappings_are_bounded_and_forget_what_is_rewritten() -> None:
    recent = RecentMappings(kept=2)
    a, b, c = (mapping(w, signal_timestamp=n) for w, n in (("A", 1), ("B", 2), ("C", 3)))
    for m in (a, b):
        recent.keep(recent.generation, BRIDGE, m.signal_timestamp, m)
    assert recent.get(BRIDGE, 1) == a and recent.get(BRIDGE, 2) == b
    recent.keep(recent.generation, BRIDGE, 3, c)  # full: all forgotten, then kept
    assert recent.get(BRIDGE, 1) is None and recent.get(BRIDGE, 3) == c
    recent.written([mapping("C", signal_timestamp=9)])  # C again, under another timestamp
    assert recent.get(BRIDGE, 3) is None
    recent.keep(recent.generation, BRIDGE, 3, c)
    recent.written([mapping("Z", signal_timestamp=3)])  # another message, same timestamp
    assert recent.get(BRIDGE, 3) is None
    recent.keep(recent.generation, BRIDGE, 3, c)
    recent.message_changed("other", "C")
    assert recent.get(BRIDGE, 3) == c  # another session's message of that id: kept
    recent.message_changed("default", "C")
    assert recent.get(BRIDGE, 3) is None
    recent.keep(recent.generation, BRIDGE, 3, c)
    recent.clear()
    assert recent.get(BRIDGE, 3) is None


async def test_a_row_without_send_parts_is_answered_without_a_read(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = counting(monkeypatch, sql_parts, "load")
    (row_id,) = await store.journal([event("sig:a:1", queue="signal:+1", source="signal")])
    assert row_id is not None
    assert await store.send_parts("sig:a:1") == {}
    assert reads == []
    await store.put_send_part("sig:a:1", 0, SendPart(message_id="3EB0A"))
    assert await store.send_parts("sig:a:1") == {0: SendPart(message_id="3EB0A")}
    assert len(reads) == 1
    await store.complete(row_id)
    assert await store.send_parts("sig:a:1") == {}
    assert len(reads) == 1  # gone with the row's done: known without reading


@pytest.mark.parametrize("keys", [None, KEYS], ids=["plain", "encrypted"])
async def test_send_parts_left_by_an_earlier_run_are_found(
    tmp_path: Path, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between a part's send and the row's done leaves its parts: the next run must
    read them (or it would send the part again, as a second message)."""
    path = str(tmp_path / "store.db")
    for run in (1, 2):
        async with trio.open_nursery() as nursery:
            store: SqliteStore = await nursery.start(
                SqliteStore(path, keys=keys, kdf_iterations=FAST_KDF).run
            )
            if run == 1:
                await store.journal([event("sig:a:1", queue="signal:+1", source="signal")])
                await store.put_send_part("sig:a:1", 1, SendPart(message_id="X", sent_id=""))
            else:
                reads = counting(monkeypatch, sql_parts, "load")
                assert await store.send_parts("sig:a:1") == {
                    1: SendPart(message_id="X", sent_id="")
                }
                assert await store.send_parts("sig:b:1") == {}
                assert len(reads) == 1
            nursery.cancel_scope.cancel()
