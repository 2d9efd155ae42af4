"""The store's health check: can it still write, and is its file still the one it opened?

A readiness probe that only reads says nothing about the two ways a bridge can lose what it
acknowledges while every read still answers:

* the database can no longer be written (a disk that is full or remounted read-only, a file
  whose permissions were changed under the bridge): every webhook would fail to journal;
* the file was deleted or replaced on disk (a restore copied over it, a clean-up deleted it):
  SQLite keeps writing through the descriptor it holds, into an inode nobody can see any more,
  and everything journaled from then on is gone at the next restart.

So :func:`check` compares the file at the path with the identity (device and inode) captured
when the store opened it, checks that this process may still write it (which root always
may: the kernel ignores file modes for root), and then rewrites the one row of ``health``
inside the store's group-committed write path. It runs on the database thread like any other
write item; none of it reads the clock (``now`` comes from the caller).
"""

from __future__ import annotations

import os
import sqlite3

from whatsignal.errors import StorageError

FileId = tuple[int, int]
"""``(st_dev, st_ino)`` of a file: which file a path named when it was read."""


def file_id(path: str) -> FileId:
    """The identity of the file at ``path`` (OSError when there is none)."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


def check(conn: sqlite3.Connection, *, path: str, opened: FileId | None, now: float) -> None:
    """One health check (a write item). Raises StorageError saying what is wrong.

    ``opened`` is the identity captured at open; None for an in-memory database.
    """
    if opened is not None:
        try:
            current = file_id(path)
        except FileNotFoundError:
            raise StorageError(
                "the database file was deleted or moved since the bridge opened it: what is "
                "journaled now is lost at the next restart; put the file back and restart"
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StorageError(f"the database file cannot be looked at: {reason}") from None
        if current != opened:
            raise StorageError(
                "the database file was replaced since the bridge opened it: the bridge still "
                "writes to the old one; restart it to use the new file (or put the old one back)"
            )
        if not os.access(path, os.W_OK):
            raise StorageError(
                "the database file is no longer writable by the bridge (its mode or owner "
                "changed): the bridge could not open it again after a restart"
            )
    conn.execute(
        "INSERT INTO health (id, checked_at) VALUES (1, ?)"
        " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        (now,),
    )
