"""The journal as a durable, deduplicating, per-chat-ordered work queue."""

from __future__ import annotations

import pytest
import trio
from storage_helpers import BRIDGE, ME, event, mapping

from whatsignal.errors import StorageError
from whatsignal.storage import SqliteStore


async def test_journal_returns_new_ids_and_none_for_redeliveries(store: SqliteStore) -> None:
    first = await store.journal([event("wa:msg:A"), event("wa:msg:B")])
    assert all(isinstance(i, int) for i in first)
    assert first[0] != first[1]
    again = await store.journal([event("wa:msg:A"), event("wa:msg:C")])
    assert again[0] is None
    assert isinstance(again[1], int)
    assert await store.pending_count() == 3


async def test_same_key_twice_in_one_call_is_one_row(store: SqliteStore) -> None:
    ids = await store.journal([event("k"), event("k", payload=b"other")])
    assert ids[0] is not None
    assert ids[1] is None
    [row] = await store.pending_heads("default")
    assert row.payload == b'{"body": "hi"}'


async def test_journal_of_nothing_is_nothing(store: SqliteStore) -> None:
    assert await store.journal([]) == []
    assert await store.pending_count() == 0


async def test_journaled_row_keeps_every_field(store: SqliteStore) -> None:
    [row_id] = await store.journal(
        [
            event(
                "sig:+1:uuid:5",
                source="signal",
                queue=f"signal:{BRIDGE}",
                chat=None,
                kind="envelope",
                payload=b"\x00\xffraw",
                received_at=1234.5,
            )
        ]
    )
    [row] = await store.pending_heads(f"signal:{BRIDGE}")
    assert row.id == row_id
    assert (row.source, row.key, row.queue, row.chat, row.kind) == (
        "signal",
        "sig:+1:uuid:5",
        f"signal:{BRIDGE}",
        None,
        "envelope",
    )
    assert row.payload == b"\x00\xffraw"
    assert row.received_at == 1234.5
    assert (row.state, row.attempts, row.next_attempt_at, row.last_error) == (
        "pending",
        0,
        0.0,
        None,
    )


async def test_pending_heads_gives_the_oldest_row_of_each_chat(store: SqliteStore) -> None:
    ids = await store.journal(
        [
            event("a1", chat="a@c.us"),
            event("b1", chat="b@g.us"),
            event("a2", chat="a@c.us"),
            event("n1", chat=None),
            event("n2", chat=None),
            event("other", queue="work", chat="a@c.us"),
        ]
    )
    a1, b1, a2, n1, n2, _ = ids
    heads = await store.pending_heads("default")
    assert [r.id for r in heads] == [a1, b1, n1, n2]  # chat-less rows are heads each

    await store.complete(a1)  # type: ignore[arg-type]
    heads = await store.pending_heads("default")
    assert [r.id for r in heads] == [b1, a2, n1, n2]


async def test_a_not_yet_due_head_still_blocks_its_chat(store: SqliteStore) -> None:
    first, _second = await store.journal([event("1"), event("2")])
    assert first is not None
    await store.retry_later(first, next_attempt_at=9e9, error="later", count_attempt=False)
    [head] = await store.pending_heads("default")
    assert head.id == first
    assert head.next_attempt_at == 9e9


async def test_pending_heads_limit(store: SqliteStore) -> None:
    await store.journal([event(f"k{i}", chat=f"{i}@c.us") for i in range(10)])
    heads = await store.pending_heads("default", limit=3)
    assert [r.key for r in heads] == ["k0", "k1", "k2"]


async def test_a_dead_row_does_not_block_its_chat(store: SqliteStore) -> None:
    first, second = await store.journal([event("1"), event("2")])
    assert first is not None
    await store.bury(first, error="poison")
    [head] = await store.pending_heads("default")
    assert head.id == second


async def test_complete_writes_the_mappings_with_done(store: SqliteStore) -> None:
    [row_id] = await store.journal([event("wa:msg:X")])
    assert row_id is not None
    m1 = mapping("X", signal_timestamp=11)
    m2 = mapping("X2", signal_timestamp=12, direction="signal_to_wa", delivery_status=1)
    await store.complete(row_id, mappings=[m1, m2])
    assert await store.pending_count() == 0
    assert await store.mapping_by_whatsapp_id("default", "X") == m1
    assert await store.mapping_by_whatsapp_id("default", "X2") == m2
    assert await store.state_counts() == {("default", "done"): 1}


async def test_complete_is_atomic_when_a_mapping_cannot_be_written(store: SqliteStore) -> None:
    [row_id] = await store.journal([event("wa:msg:X")])
    assert row_id is not None
    bad = mapping("Y", created_at=object())  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        await store.complete(row_id, mappings=[mapping("X"), bad])
    assert await store.pending_count() == 1  # the row is not done ...
    assert await store.mapping_by_whatsapp_id("default", "X") is None  # ... nor half-mapped


async def test_complete_again_after_a_resend_replaces_the_mapping(store: SqliteStore) -> None:
    first, second = await store.journal([event("1"), event("2")])
    assert first is not None
    assert second is not None
    await store.complete(first, mappings=[mapping("X", signal_timestamp=1)])
    assert await store.update_delivery("default", "X", 3)
    await store.complete(second, mappings=[mapping("X", signal_timestamp=2, created_at=2000)])
    found = await store.mapping_by_whatsapp_id("default", "X")
    assert found is not None
    assert found.signal_timestamp == 2
    assert found.delivery_status == 3  # what was already known about delivery is kept


async def test_unknown_row_ids_are_storage_errors(store: SqliteStore) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        await store.complete(4242)
    with pytest.raises(StorageError, match="does not exist"):
        await store.retry_later(4242, next_attempt_at=1, error="x", count_attempt=True)
    with pytest.raises(StorageError, match="does not exist"):
        await store.bury(4242, error="x")
    with pytest.raises(StorageError, match="does not exist"):
        await store.requeue(4242, queue="q", chat=None)
    assert await store.resurrect(4242) is False


async def test_retry_later_counts_only_when_asked(store: SqliteStore) -> None:
    [row_id] = await store.journal([event("1")])
    assert row_id is not None
    assert (
        await store.retry_later(row_id, next_attempt_at=50, error="503", count_attempt=False) == 0
    )
    assert (
        await store.retry_later(row_id, next_attempt_at=60, error="5xx", count_attempt=False) == 0
    )
    assert await store.retry_later(row_id, next_attempt_at=70, error="bad", count_attempt=True) == 1
    assert (
        await store.retry_later(row_id, next_attempt_at=80, error="bad2", count_attempt=True) == 2
    )
    [row] = await store.pending_heads("default")
    assert (row.attempts, row.next_attempt_at, row.last_error, row.state) == (
        2,
        80,
        "bad2",
        "pending",
    )


async def test_bury_dead_letters_and_resurrect(store: SqliteStore) -> None:
    ids = await store.journal([event(f"k{i}", chat=f"{i}@c.us") for i in range(3)])
    r0, r1, _ = ids
    assert r0 is not None
    assert r1 is not None
    await store.retry_later(r1, next_attempt_at=99, error="first", count_attempt=True)
    await store.bury(r1, error="gave up")
    await store.bury(r0, error="poison")
    dead = await store.dead_letters()
    assert [(r.id, r.state, r.last_error) for r in dead] == [
        (r0, "dead", "poison"),
        (r1, "dead", "gave up"),
    ]
    assert [r.id for r in await store.dead_letters(limit=1)] == [r0]
    assert await store.pending_count() == 1

    assert await store.resurrect(r1) is True
    assert await store.resurrect(r1) is False  # no longer dead
    revived = [r for r in await store.pending_heads("default") if r.id == r1]
    assert len(revived) == 1
    assert (revived[0].attempts, revived[0].next_attempt_at) == (0, 0)
    # A retried dead letter gets a fresh retry.maxAgeHours window, not an instant expiry.
    assert revived[0].received_at > 1000.0
    assert [r.id for r in await store.dead_letters()] == [r0]


async def test_requeue_moves_a_routed_signal_row_and_keeps_its_place(
    store: SqliteStore,
) -> None:
    sig_queue = f"signal:{BRIDGE}"
    early, late = await store.journal(
        [
            event("sig:1", source="signal", queue=sig_queue, chat=None, kind="envelope"),
            event("wa:msg:2", queue="default", chat="a@c.us"),
        ]
    )
    assert early is not None
    assert await store.queues_with_pending() == ["default", sig_queue]
    await store.requeue(early, queue="default", chat="a@c.us")
    assert await store.queues_with_pending() == ["default"]
    # Each direction of the chat is a lane of its own: both are heads, in id order.
    heads = await store.pending_heads("default")
    assert [(h.id, h.chat, h.source) for h in heads] == [
        (early, "a@c.us", "signal"),
        (late, "a@c.us", "whatsapp"),
    ]
    assert await store.pending_count(sig_queue) == 0
    assert await store.pending_count("default") == 2
    assert await store.pending_count("default", source="signal") == 1


async def test_one_direction_of_a_chat_never_waits_for_the_other(store: SqliteStore) -> None:
    ids = await store.journal(
        [
            event("sig:1", source="signal", queue="default", chat="a@c.us", kind="envelope"),
            event("sig:2", source="signal", queue="default", chat="a@c.us", kind="envelope"),
            event("wa:1", queue="default", chat="a@c.us"),
            event("wa:2", queue="default", chat="a@c.us"),
        ]
    )
    heads = await store.pending_heads("default")
    assert [h.id for h in heads] == [ids[0], ids[2]]  # the oldest of each direction
    assert ids[0] is not None
    await store.complete(ids[0])
    assert [h.id for h in await store.pending_heads("default")] == [ids[1], ids[2]]


async def test_pending_stats_and_rows_that_waited_too_long(store: SqliteStore) -> None:
    await store.journal(
        [
            event("wa:old", queue="gone", chat="a@c.us", received_at=100.0),
            event("wa:new", queue="gone", chat="a@c.us", received_at=500.0),
            event(
                "sig:old",
                source="signal",
                queue=f"signal:{BRIDGE}",
                chat=None,
                kind="envelope",
                received_at=50.0,
            ),
        ]
    )
    assert await store.pending_stats() == {"gone": (2, 100.0), f"signal:{BRIDGE}": (1, 50.0)}
    # Session queues only: a Signal queue's rows are the receiver's to route, not to expire.
    assert [r.key for r in await store.pending_since(before=200.0)] == ["wa:old"]


async def test_requeue_to_end_orders_by_routing_not_by_arrival(store: SqliteStore) -> None:
    # Two envelopes of one chat arrive in the wrong order (B over the push path before A over
    # the websocket); routing them in timestamp order with to_end fixes their order.
    sig_queue = f"signal:{BRIDGE}"
    b, a = await store.journal(
        [
            event("sig:B", source="signal", queue=sig_queue, chat=None, kind="envelope"),
            event("sig:A", source="signal", queue=sig_queue, chat=None, kind="envelope"),
        ]
    )
    assert a is not None
    assert b is not None
    new_a = await store.requeue(a, queue="default", chat="c@c.us", to_end=True)
    new_b = await store.requeue(b, queue="default", chat="c@c.us", to_end=True)
    assert new_b > new_a > a > b
    [head] = await store.pending_heads("default")
    assert head.key == "sig:A"
    assert head.payload == b'{"body": "hi"}'  # the row moved whole
    assert await store.has_key("sig:B")
    assert not await store.has_key("sig:nothing")
    with pytest.raises(StorageError):
        await store.requeue(a, queue="default", chat="c@c.us", to_end=True)  # old id is gone


async def test_requeue_many_moves_rows_in_the_given_order_atomically(
    store: SqliteStore,
) -> None:
    sig_queue = f"signal:{BRIDGE}"
    ids = await store.journal(
        [
            event(f"sig:{n}", source="signal", queue=sig_queue, chat=None, kind="envelope")
            for n in range(3)
        ]
    )
    first, second, third = (i for i in ids if i is not None)
    new = await store.requeue_many([(third, "s", "x@c.us"), (first, "s", "y@c.us")])
    assert new[1] > new[0] > third
    heads = {row.chat: row.key for row in await store.pending_heads("s")}
    assert heads == {"x@c.us": "sig:2", "y@c.us": "sig:0"}
    with pytest.raises(StorageError):
        await store.requeue_many([(second, "s", "z@c.us"), (987654, "s", "z@c.us")])
    # The failed batch moved nothing: the second row still waits in the signal queue.
    assert [row.key for row in await store.pending_heads(sig_queue)] == ["sig:1"]


async def test_retry_now_makes_waiting_rows_due(store: SqliteStore) -> None:
    waiting, due, done = await store.journal(
        [event("w", chat="1"), event("d", chat="2"), event("x")]
    )
    assert waiting is not None
    assert done is not None
    await store.retry_later(waiting, next_attempt_at=9e9, error="rate limited", count_attempt=False)
    await store.complete(done)
    assert await store.retry_now() == 1
    heads = await store.pending_heads("default")
    assert sorted((r.key, r.next_attempt_at) for r in heads) == [("d", 0.0), ("w", 0.0)]
    assert due is not None


async def test_counts_per_queue_and_state(store: SqliteStore) -> None:
    a, _b, c = await store.journal([event("a"), event("b", queue="s2"), event("c", chat="z")])
    assert a is not None
    assert c is not None
    await store.complete(a)
    await store.bury(c, error="x")
    assert await store.state_counts() == {
        ("default", "done"): 1,
        ("default", "dead"): 1,
        ("s2", "pending"): 1,
    }
    assert await store.pending_count() == 1
    assert await store.pending_count("default") == 0
    assert await store.queues_with_pending() == ["s2"]
    assert await store.pending_by_queue() == {"s2": 1}


async def test_prune_deletes_old_done_rows_and_old_mappings_only(store: SqliteStore) -> None:
    done, dead, pending = await store.journal([event("d"), event("x", chat="x"), event("p")])
    assert done is not None
    assert dead is not None
    await store.complete(done, mappings=[mapping("old", created_at=10), mapping("new")])
    await store.bury(dead, error="x")
    removed = await store.prune(done_before=9e9, mappings_before=500)
    assert removed == 2  # the done row and the old mapping
    assert await store.state_counts() == {("default", "dead"): 1, ("default", "pending"): 1}
    assert await store.mapping_by_whatsapp_id("default", "old") is None
    assert await store.mapping_by_whatsapp_id("default", "new") is not None
    assert await store.prune(done_before=0, mappings_before=0) == 0
    assert pending is not None


async def test_latest_mapping_is_the_most_recent_chat(store: SqliteStore) -> None:
    [row] = await store.journal([event("1")])
    assert row is not None
    await store.complete(
        row,
        mappings=[
            mapping("m1", chat_id="a@c.us", created_at=100),
            mapping("m2", chat_id="b@g.us", created_at=300, session="work"),
            mapping("m3", chat_id="c@c.us", created_at=200),
            mapping("m4", chat_id="d@c.us", created_at=900, destination="+15559999999"),
            mapping("m5", chat_id="e@c.us", created_at=999, bridge_number="+15558888888"),
        ],
    )
    latest = await store.latest_mapping(BRIDGE, ME)
    assert latest is not None
    assert latest.chat_id == "b@g.us"
    only_default = await store.latest_mapping(BRIDGE, ME, sessions=["default"])
    assert only_default is not None
    assert only_default.chat_id == "c@c.us"
    both = await store.latest_mapping(BRIDGE, ME, sessions=["default", "work"])
    assert both is not None
    assert both.chat_id == "b@g.us"
    assert await store.latest_mapping(BRIDGE, ME, sessions=[]) is None
    assert await store.latest_mapping(BRIDGE, ME, sessions=["other"]) is None
    assert await store.latest_mapping(BRIDGE, "+10000000000") is None


async def test_committed_sees_ids_in_commit_order_before_any_caller_resumes(
    store: SqliteStore,
) -> None:
    """What the intake relies on to hand rows over in memory: across concurrent callers,
    ``committed`` runs in id order, and before the caller's own await returns."""
    seen: list[int] = []
    resumed: list[int] = []

    async def journal_one(n: int) -> None:
        def committed(ids: list[int | None]) -> None:
            assert ids[0] is not None
            assert ids[0] not in resumed  # the hook runs before its caller resumes
            seen.append(ids[0])

        [row_id] = await store.journal([event(f"wa:msg:{n}")], committed=committed)
        assert row_id is not None
        resumed.append(row_id)

    async with trio.open_nursery() as nursery:
        for n in range(40):
            nursery.start_soon(journal_one, n)
    assert len(seen) == 40
    assert seen == sorted(seen)
    # A redelivery commits nothing new: the hook hears None.
    heard: list[list[int | None]] = []
    assert await store.journal([event("wa:msg:1")], committed=heard.append) == [None]
    assert heard == [[None]]


async def test_a_failing_committed_hook_is_logged_and_costs_nothing_else(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ids: list[int | None]) -> None:
        raise RuntimeError("a bug in the hook")

    [row_id] = await store.journal([event("wa:msg:X")], committed=broken)
    assert row_id is not None
    assert await store.pending_count() == 1
    assert "completion hook failed" in caplog.text


async def test_a_snapshot_holds_every_pending_row_or_only_the_heads_over_its_limit(
    store: SqliteStore,
) -> None:
    ids = await store.journal([event(f"wa:msg:{n}", chat=f"c{n % 2}") for n in range(5)])
    snapshot = await store.pending_snapshot("default", limit=10)
    assert snapshot.complete
    assert [r.id for r in snapshot.rows] == ids
    assert snapshot.watermark == max(i for i in ids if i is not None)
    small = await store.pending_snapshot("default", limit=5)
    assert not small.complete
    assert [r.id for r in small.rows] == ids[:2]  # the heads of c0 and c1
