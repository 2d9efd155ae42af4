"""The journal's SQL functions, called directly on a migrated in-memory connection.

No actor and no thread: these pin what each function does to the rows, given the ``now``
its caller read from the clock. The queue semantics as a whole are in test_store_journal.
"""

from __future__ import annotations

import sqlite3

import pytest
from storage_helpers import event

from whatsignal.errors import StorageError
from whatsignal.storage import journal
from whatsignal.storage.crypto import Codec, PlainCodec


def _updated_at(conn: sqlite3.Connection, row_id: int) -> float:
    return float(
        conn.execute("SELECT updated_at FROM journal WHERE id = ?", (row_id,)).fetchone()[0]
    )


def test_insert_stamps_now_and_ignores_known_keys(conn: sqlite3.Connection, codec: Codec) -> None:
    first, again = journal.insert(conn, codec, [event("a"), event("a")], now=7.0)
    assert first is not None
    assert again is None
    assert _updated_at(conn, first) == 7.0
    [row] = journal.pending_heads(conn, codec, "default", limit=10)
    assert (row.id, row.key, row.received_at) == (first, "a", 1000.0)
    assert journal.has_key(conn, codec, "a")
    assert not journal.has_key(conn, codec, "b")


def test_state_of_follows_a_row_by_its_natural_key(conn: sqlite3.Connection, codec: Codec) -> None:
    done, dead, _waiting = journal.insert(
        conn, codec, [event("d"), event("x"), event("w")], now=1.0
    )
    assert done is not None
    assert dead is not None
    journal.mark_done(conn, codec, done, now=2.0)
    journal.bury(conn, codec, dead, error="gave up", now=2.0)
    states = {key: journal.state_of(conn, codec, key) for key in ("d", "x", "w", "never")}
    assert states == {"d": "done", "x": "dead", "w": "pending", "never": None}


def test_each_update_stamps_the_now_it_is_given(conn: sqlite3.Connection, codec: Codec) -> None:
    a, b, c = journal.insert(
        conn, codec, [event("a", chat="1"), event("b", chat="2"), event("c")], now=0
    )
    assert a is not None
    assert b is not None
    assert c is not None
    assert (
        journal.retry_later(conn, codec, a, next_attempt_at=9, error="e", count_attempt=True, now=1)
        == 1
    )
    journal.bury(conn, codec, b, error="poison", now=2)
    journal.mark_done(conn, codec, c, now=3)
    assert [_updated_at(conn, i) for i in (a, b, c)] == [1, 2, 3]
    assert journal.state_counts(conn, codec) == {
        ("default", "pending"): 1,
        ("default", "dead"): 1,
        ("default", "done"): 1,
    }


@pytest.mark.parametrize(
    "step",
    [
        lambda conn, codec: journal.mark_done(conn, codec, 99, now=0),
        lambda conn, codec: journal.retry_later(
            conn, codec, 99, next_attempt_at=0, error="e", count_attempt=False, now=0
        ),
        lambda conn, codec: journal.bury(conn, codec, 99, error="e", now=0),
        lambda conn, codec: journal.requeue(conn, codec, 99, "q", None, to_end=False, now=0),
        lambda conn, codec: journal.move_to_end(conn, codec, 99, queue="q", chat=None, now=0),
    ],
)
def test_a_missing_row_is_a_storage_error(
    conn: sqlite3.Connection, codec: Codec, step: object
) -> None:
    with pytest.raises(StorageError, match="journal row 99 does not exist"):
        step(conn, codec)  # type: ignore[operator]


def test_requeue_in_place_keeps_the_id_and_to_end_renumbers(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    a, b = journal.insert(conn, codec, [event("a", chat=None), event("b", chat=None)], now=0)
    assert a is not None
    assert b is not None
    assert journal.requeue(conn, codec, a, "s", "x", to_end=False, now=1) == a
    moved = journal.requeue(conn, codec, b, "s", "x", to_end=True, now=2)
    assert moved > b
    assert _updated_at(conn, moved) == 2
    assert [r.key for r in journal.pending_heads(conn, codec, "s", limit=10)] == ["a"]
    assert journal.queues_with_pending(conn, codec) == ["s"]


def test_requeue_many_is_atomic_only_with_the_callers_transaction(
    conn: sqlite3.Connection,
    codec: Codec,
) -> None:
    a, b = journal.insert(conn, codec, [event("a", chat=None), event("b", chat=None)], now=0)
    assert a is not None
    assert b is not None
    conn.execute("BEGIN")
    with pytest.raises(StorageError):
        journal.requeue_many(conn, codec, [(a, "s", "x"), (12345, "s", "y")], now=1)
    conn.execute("ROLLBACK")
    assert journal.pending_count(conn, codec, "default") == 2
    assert journal.pending_count(conn, codec, "s") == 0
    new = journal.requeue_many(conn, codec, [(b, "s", "y"), (a, "s", "x")], now=1)
    assert new[1] > new[0] > b
    assert journal.pending_by_queue(conn, codec) == {"s": 2}
    assert journal.pending_count(conn, codec, None) == 2


def test_resurrect_restarts_a_dead_row_at_now(conn: sqlite3.Connection, codec: Codec) -> None:
    [row_id] = journal.insert(conn, codec, [event("a", received_at=5.0)], now=0)
    assert row_id is not None
    assert journal.resurrect(conn, row_id, now=50) is False  # pending, not dead
    journal.retry_later(
        conn, codec, row_id, next_attempt_at=60, error="e", count_attempt=True, now=1
    )
    journal.bury(conn, codec, row_id, error="gave up", now=2)
    [dead] = journal.dead_letters(conn, codec, limit=10)
    assert (dead.id, dead.attempts, dead.last_error) == (row_id, 1, "gave up")
    assert journal.resurrect(conn, row_id, now=50) is True
    [row] = journal.pending_heads(conn, codec, "default", limit=10)
    assert (row.received_at, row.attempts, row.next_attempt_at) == (50, 0, 0)
    assert row.last_error == "gave up"  # kept for the operator
    assert journal.last_received(conn, codec, "default", "whatsapp") == 50
    assert journal.last_received(conn, codec, "default", "signal") is None


def test_retry_now_makes_only_waiting_pending_rows_due(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    a, b = journal.insert(conn, codec, [event("a", chat="1"), event("b", chat="2")], now=0)
    assert a is not None
    assert b is not None
    journal.retry_later(conn, codec, a, next_attempt_at=9e9, error="e", count_attempt=False, now=0)
    journal.retry_later(conn, codec, b, next_attempt_at=9e9, error="e", count_attempt=False, now=0)
    journal.bury(conn, codec, b, error="x", now=0)
    assert journal.retry_now(conn) == 1


def test_prune_done_deletes_done_rows_strictly_before(
    conn: sqlite3.Connection, codec: Codec
) -> None:
    ids = journal.insert(
        conn, codec, [event(k, chat=k) for k in ("old", "edge", "dead", "open")], now=0
    )
    old, edge, dead, _open = ids
    assert old is not None
    assert edge is not None
    assert dead is not None
    journal.mark_done(conn, codec, old, now=10)
    journal.mark_done(conn, codec, edge, now=20)
    journal.bury(conn, codec, dead, error="x", now=1)
    assert journal.prune_done(conn, before=20) == 1  # "edge" finished at 20: not before it
    assert not journal.has_key(conn, codec, "old")
    assert journal.has_key(conn, codec, "edge")
    assert journal.prune_done(conn, before=1e12) == 1
    assert {k for k in ("dead", "open") if journal.has_key(conn, codec, k)} == {"dead", "open"}


def test_row_to_journal_row_reads_the_columns_in_order() -> None:
    stored = (1, "signal", "k", None, "q", None, None, None, "envelope", memoryview(b"p"))
    row = journal.row_to_journal_row(PlainCodec(), (*stored, 2.0, "dead", 3, 4.0, "e"))
    assert (row.id, row.source, row.key, row.queue, row.chat, row.kind, row.payload) == (
        1,
        "signal",
        "k",
        "q",
        None,
        "envelope",
        b"p",
    )
    assert (row.received_at, row.state, row.attempts, row.last_error) == (2.0, "dead", 3, "e")
