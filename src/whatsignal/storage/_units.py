"""Work items of the store that span tables: each runs as one item of a group commit, so its
parts commit together or not at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from whatsignal.storage import journal as _journal
from whatsignal.storage import mappings as _mappings
from whatsignal.storage import polls as _polls
from whatsignal.storage import send_parts as _parts
from whatsignal.storage.crypto import Codec
from whatsignal.storage.models import MessageMapping

__all__ = ["complete", "prune"]


def complete(
    conn: sqlite3.Connection,
    codec: Codec,
    row_id: int,
    *,
    mappings: Sequence[MessageMapping],
    now: float,
    keep_text: bool,
) -> None:
    """Both halves of ``complete`` in one work item, so that they commit together."""
    _parts.forget_row(conn, row_id)
    _journal.mark_done(conn, codec, row_id, now=now, keep_text=keep_text)
    _mappings.upsert(conn, codec, mappings)


def prune(
    conn: sqlite3.Connection, codec: Codec, *, done_before: float, mappings_before: float
) -> int:
    """The deletions of ``prune`` in one work item; the rows deleted (bridged polls go with
    the mappings: a vote on a poll whose mapping is gone could not be routed anyway)."""
    done = _journal.prune_done(conn, before=done_before)
    polls = _polls.prune(conn, before=mappings_before)
    return done + polls + _mappings.prune(conn, before=mappings_before)
