"""The send parts of a journal row: kept by natural key across a move, gone with its done."""

from __future__ import annotations

from storage_helpers import event

from whatsignal.storage import SendPart, SqliteStore


async def test_parts_survive_a_move_to_another_queue_and_go_with_the_row_s_done(
    store: SqliteStore,
) -> None:
    (row_id,) = await store.journal([event("sig:a:1", queue="signal:+1", source="signal")])
    assert row_id is not None
    assert await store.send_parts("sig:a:1") == {}
    await store.put_send_part("sig:a:1", 2, SendPart(message_id="3EB0A"))
    await store.put_send_part("sig:a:1", 0, SendPart(sent_id="true_1@c.us_X"))
    await store.put_send_part("sig:a:1", 2, SendPart(message_id="3EB0A", sent_id=""))
    await store.put_send_part("sig:other:1", 0, SendPart(message_id="3EB0B"))
    (moved,) = await store.requeue_many([(row_id, "personal", "1@c.us")])  # a new row id
    assert await store.send_parts("sig:a:1") == {
        0: SendPart(sent_id="true_1@c.us_X"),
        2: SendPart(message_id="3EB0A", sent_id=""),
    }
    await store.complete(moved)
    assert await store.send_parts("sig:a:1") == {}
    assert await store.send_parts("sig:other:1") == {0: SendPart(message_id="3EB0B")}
