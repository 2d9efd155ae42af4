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


def _updated_at(conn: sqlite3.Connection, row_id: int) -> float:
    return float(
        conn.execute("SELECT updated_at FROM journal WHERE id = ?", (row_id,)).fetchone()[0]
    )


def test_insert_stamps_now_and_ignores_known_keys(conn: sqlite3.Connection) -> None:
    first, again = journal.insert(conn, [event("a"), event("a")], now=7.0)
    assert first is not None
    assert again is None
    assert _updated_at(conn, first) == 7.0
    [row] = journal.pending_heads(conn, "default", limit=10)
    assert (row.id, row.key, row.received_at) == (first, "a", 1000.0)
    assert journal.has_key(conn, "a")
    assert not journal.has_key(conn, "b")


def test_state_of_follows_a_row_by_its_natural_key(conn: sqlite3.Connection) -> None:
    done, dead, _waiting = journal.insert(conn, [event("d"), event("x"), event("w")], now=1.0)
    assert done is not None
    assert dead is not None
    journal.mark_done(conn, done, now=2.0)
    journal.bury(conn, dead, error="gave up", now=2.0)
    states = {key: journal.state_of(conn, key) for key in ("d", "x", "w", "never")}
    assert states == {"d": "done", "x": "dead", "w": "pending", "never": None}


def test_each_update_stamps_the_now_it_is_given(conn: sqlite3.Connection) -> None:
    a, b, c = journal.insert(conn, [event("a", chat="1"), event("b", chat="2"), event("c")], now=0)
    assert a is not None
    assert b is not None
    assert c is not None
    assert (
        journal.retry_later(conn, a, next_attempt_at=9, error="e", count_attempt=True, now=1) == 1
    )
    journal.bury(conn, b, error="poison", now=2)
    journal.mark_done(conn, c, now=3)
    assert [_updated_at(conn, i) for i in (a, b, c)] == [1, 2, 3]
    assert journal.state_counts(conn) == {
        ("default", "pending"): 1,
        ("default", "dead"): 1,
        ("default", "done"): 1,
    }


@pytest.mark.parametrize(
    "step",
    [
        lambda conn: journal.mark_done(conn, 99, now=0),
        lambda conn: journal.retry_later(
            conn, 99, next_attempt_at=0, error="e", count_attempt=False, now=0
        ),
        lambda conn: journal.bury(conn, 99, error="e", now=0),
        lambda conn: journal.requeue(conn, 99, "q", None, to_end=False, now=0),
        lambda conn: journal.move_to_end(conn, 99, queue="q", chat=None, now=0),
    ],
)
def test_a_missing_row_is_a_storage_error(conn: sqlite3.Connection, step: object) -> None:
    with pytest.raises(StorageError, match="journal row 99 does not exist"):
        step(conn)  # type: ignore[operator]


def test_requeue_in_place_keeps_the_id_and_to_end_renumbers(conn: sqlite3.Connection) -> None:
    a, b = journal.insert(conn, [event("a", chat=None), event("b", chat=None)], now=0)
    assert a is not None
    assert b is not None
    assert journal.requeue(conn, a, "s", "x", to_end=False, now=1) == a
    moved = journal.requeue(conn, b, "s", "x", to_end=True, now=2)
    assert moved > b
    assert _updated_at(conn, moved) == 2
    assert [r.key for r in journal.pending_heads(conn, "s", limit=10)] == ["a"]
    assert journal.queues_with_pending(conn) == ["s"]


def test_requeue_many_is_atomic_only_with_the_callers_transaction(
    conn: sqlite3.Connection,
) -> None:
    a, b = journal.insert(conn, [event("a", chat=None), event("b", chat=None)], now=0)
    assert a is not None
    assert b is not None
    conn.execute("BEGIN")
    with pytest.raises(StorageError):
        journal.requeue_many(conn, [(a, "s", "x"), (12345, "s", "y")], now=1)
    conn.execute("ROLLBACK")
    assert journal.pending_count(conn, "default") == 2
    assert journal.pending_count(conn, "s") == 0
    new = journal.requeue_many(conn, [(b, "s", "y"), (a, "s", "x")], now=1)
    assert new[1] > new[0] > b
    assert journal.pending_by_queue(conn) == {"s": 2}
    assert journal.pending_count(conn, None) == 2


def test_resurrect_restarts_a_dead_row_at_now(conn: sqlite3.Connection) -> None:
    [row_id] = journal.insert(conn, [event("a", received_at=5.0)], now=0)
    assert row_id is not None
    assert journal.resurrect(conn, row_id, now=50) is False  # pending, not dead
    journal.retry_later(conn, row_id, next_attempt_at=60, error="e", count_attempt=True, now=1)
    journal.bury(conn, row_id, error="gave up", now=2)
    [dead] = journal.dead_letters(conn, limit=10)
    assert (dead.id, dead.attempts, dead.last_error) == (row_id, 1, "gave up")
    assert journal.resurrect(conn, row_id, now=50) is True
    [row] = journal.pending_heads(conn, "default", limit=10)
    assert (row.received_at, row.attempts, row.next_attempt_at) == (50, 0, 0)
    assert row.last_error == "gave up"  # kept for the operator
    assert journal.last_received(conn, "default", "whatsapp") == 50
    assert journal.last_received(conn, "default", "signal") is None


def test_retry_now_makes_only_waiting_pending_rows_due(conn: sqlite3.Connection) -> None:
    a, b = journal.insert(conn, [event("a", chat="1"), event("b", chat="2")], now=0)
    assert a is not None
    assert b is not None
    journal.retry_later(conn, a, next_attempt_at=9e9, error="e", count_attempt=False, now=0)
    journal.retry_later(conn, b, next_attempt_at=9e9, error="e", count_attempt=False, now=0)
    journal.bury(conn, b, error="x", now=0)
    assert journal.retry_now(conn) == 1


def test_prune_done_deletes_done_rows_strictly_before(conn: sqlite3.Connection) -> None:
    ids = journal.insert(conn, [event(k, chat=k) for k in ("old", "edge", "dead", "open")], now=0)
    old, edge, dead, _open = ids
    assert old is not None
    assert edge is not None
    assert dead is not None
    journal.mark_done(conn, old, now=10)
    journal.mark_done(conn, edge, now=20)
    journal.bury(conn, dead, error="x", now=1)
    assert journal.prune_done(conn, before=20) == 1  # "edge" finished at 20: not before it
    assert not journal.has_key(conn, "old")
    assert journal.has_key(conn, "edge")
    assert journal.prune_done(conn, before=1e12) == 1
    assert {k for k in ("dead", "open") if journal.has_key(conn, k)} == {"dead", "open"}


def test_row_to_journal_row_reads_the_columns_in_order() -> None:
    row = journal.row_to_journal_row(
        (1, "signal", "k", "q", None, "envelope", memoryview(b"p"), 2.0, "dead", 3, 4.0, "e")
    )
    assert (row.id, row.source, row.payload, row.state, row.attempts, row.last_error) == (
        1,
        "signal",
        b"p",
        "dead",
        3,
        "e",
    )
