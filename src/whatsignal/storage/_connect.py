"""Opening the store's SQLite connection: a private file, WAL, the pragmas the store relies on."""

from __future__ import annotations

import logging
import os
import sqlite3

from whatsignal.errors import StorageError

__all__ = ["SYNCHRONOUS_MODES", "connect", "connect_reader", "upper"]

log = logging.getLogger("whatsignal.storage.sqlite")


def _touch_private(path: str) -> None:
    """Create the database file readable by its owner only (it holds message content)."""
    if not os.path.exists(path):
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)


SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
"""Accepted values of ``database.synchronous`` (SQLite's ``PRAGMA synchronous``)."""


def upper(value: str) -> str:
    """A mode as SQLite names it (the config may write it in any case)."""
    return value.upper()


def connect(path: str, *, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    """An autocommit connection to ``path`` (created 0600 if missing) in WAL mode, with
    ``busy_timeout``, ``synchronous``, foreign keys and ``secure_delete`` (freed pages are
    zeroed, so deleted content does not linger in the file).

    Raises:
        StorageError: the file cannot be created.
        sqlite3.Error: a pragma failed (the connection is closed first).
    """
    if path != ":memory:":
        try:
            _touch_private(path)
        except OSError as exc:
            raise StorageError(f"cannot create the database file: {exc}") from exc
    conn = sqlite3.connect(path, isolation_level=None)
    ready = False
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if path != ":memory:" and str(mode).lower() != "wal":
            log.warning("database journal mode is %s, not WAL", mode)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        ready = True
    finally:
        if not ready:
            conn.close()  # whatever went wrong, the half-opened connection goes
    return conn


def connect_reader(path: str, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    """A second connection to a database the writer has opened and migrated, as
    :func:`connect` makes it, and ``query_only``: it sees what is committed, and a read that
    tries to write fails loudly."""
    conn = connect(path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
    try:
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn
