"""Work items of the store made of several statements: each runs as one item of the database
thread (a write: of one group commit), so its parts see and commit the same state."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from whatsignal.storage import journal as _journal
from whatsignal.storage import mappings as _mappings
from whatsignal.storage import polls as _polls
from whatsignal.storage import send_parts as _parts
from whatsignal.storage.crypto import Codec
from whatsignal.storage.models import MessageMapping, PendingSnapshot

__all__ = ["complete", "pending_after", "pending_snapshot", "prune"]


def complete(
    conn: sqlite3.Connection,
    codec: Codec,
    row_id: int,
    *,
    mappings: Sequence[MessageMapping],
    now: float,
    keep_text: bool,
) -> str | None:
    """Both halves of ``complete`` in one work item, so that they commit together; returns
    the row's key if its send parts went (see :func:`.send_parts.forget_row`)."""
    forgotten = _parts.forget_row(conn, row_id)
    _journal.mark_done(conn, codec, row_id, now=now, keep_text=keep_text)
    _mappings.upsert(conn, codec, mappings)
    return forgotten


def prune(
    conn: sqlite3.Connection, codec: Codec, *, done_before: float, mappings_before: float
) -> int:
    """The deletions of ``prune`` in one work item; the rows deleted (bridged polls go with
    the mappings: a vote on a poll whose mapping is gone could not be routed anyway)."""
    done = _journal.prune_done(conn, before=done_before)
    polls = _polls.prune(conn, before=mappings_before)
    return done + polls + _mappings.prune(conn, before=mappings_before)


def pending_snapshot(
    conn: sqlite3.Connection, codec: Codec, queue: str, *, limit: int
) -> PendingSnapshot:
    """Every pending row of ``queue`` if there are fewer than ``limit``, else the lanes' heads
    (at most ``limit``); with the journal's highest id, read in the same item."""
    watermark = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])
    rows = _journal.pending_rows(conn, codec, queue, limit=limit)
    if len(rows) < limit:
        return PendingSnapshot(rows, complete=True, watermark=watermark)
    heads = _journal.pending_heads(conn, codec, queue, limit=limit)
    return PendingSnapshot(heads, complete=False, watermark=watermark)


def pending_after(
    conn: sqlite3.Connection, codec: Codec, queue: str, *, after: int, limit: int
) -> PendingSnapshot:
    """The pending rows of ``queue`` above id ``after`` (complete when fewer than ``limit``),
    with the journal's highest id, read in the same item."""
    watermark = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])
    rows = _journal.pending_rows(conn, codec, queue, limit=limit, after=after)
    return PendingSnapshot(rows, complete=len(rows) < limit, watermark=max(watermark, after))
