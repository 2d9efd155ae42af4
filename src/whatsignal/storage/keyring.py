"""The database's key: its check, opening the codec, and moving the data to another key.

The ``encryption`` table (migration 6) holds, in row 1, the KDF and its parameters and a key
check: a known value sealed with the key, and the lookup hash of another. Opening checks
the secrets against both *before anything is written*, so a bridge started with a wrong or
missing secret refuses (a :class:`~whatsignal.errors.ConfigError` naming the variable: exit
code 2) and leaves the database as it was.

Moving the data to a new key (:func:`rekey`) serves two purposes: encrypting a plaintext
database in place at the first start with secrets, and ``rotate-key``. The target key is
written first (row 2); then each table with protected columns (``fields.py``) is converted
in batches, one transaction each, recording how far it got (``rekey_progress``); at the end
row 2 becomes row 1. Interrupted anywhere, it resumes where it stopped when started again
with the same secrets. Afterwards the file is VACUUMed and the WAL truncated, and
``secure_delete`` (set by the store) zeroes what is deleted, so no old value is left in free
pages or the WAL.

Everything here runs on one connection in autocommit mode (the store's, while it opens, or
the ``rotate-key`` command's) and reads no clock: ``now`` comes from the caller.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from whatsignal.errors import ConfigError, StorageError
from whatsignal.storage.crypto import (
    KDF_ITERATIONS,
    KDF_NAME,
    Codec,
    KeyMaterial,
    PlainCodec,
    SealingCodec,
    derive,
)
from whatsignal.storage.fields import Field, fields_of, tables

log = logging.getLogger(__name__)

KEY_CHECK = b"whatsignal key check v1"
LOOKUP_CHECK = "whatsignal lookup check v1"
BATCH = 500
"""Rows converted per transaction."""

T = TypeVar("T")

SECRET = "WHATSIGNAL_ENCRYPTION_SECRET"
SALT = "WHATSIGNAL_ENCRYPTION_SALT"
LOOKUP_SALT = "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT"

Progress = Callable[[str, int, int], None]
"""Told ``(table, rows converted, rows in the table)`` after each batch."""


def lock_file(path: str, *, exclusive: bool) -> int:
    """Take an advisory lock on the database file and return its descriptor (close it to
    release). The running store holds it shared, ``rotate-key`` exclusive, so that neither
    starts while the other has the file: a bridge writing under the old key during a
    rotation would leave rows no key opens.

    Raises:
        StorageError: the other side holds the file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        verb = "create" if isinstance(exc, FileNotFoundError) else "open"
        raise StorageError(f"cannot {verb} the database file: {exc}") from exc
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        who = (
            "the bridge is running on it; stop it first"
            if exclusive
            else ("a key rotation (rotate-key) is running on it; wait for it to finish")
        )
        raise StorageError(f"the database {path} is in use: {who}") from None
    return fd


def close_lock(fd: int) -> None:
    """Release what :func:`lock_file` took."""
    os.close(fd)


def _row(conn: sqlite3.Connection, row_id: int) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT kdf, iterations, key_check, lookup_check FROM encryption WHERE id = ?", (row_id,)
    ).fetchone()
    return row


def _matches(codec: SealingCodec, row: tuple[Any, ...]) -> str | None:
    """None if ``codec`` is the key of ``row``, else which variable differs."""
    try:
        sealed_ok = codec.open_bytes(row[2]) == KEY_CHECK
    except Exception:  # noqa: BLE001 - any failure to open the check is "another key"
        sealed_ok = False
    if not sealed_ok:
        return f"{SECRET} (or {SALT})"
    if codec.lookup(LOOKUP_CHECK) != row[3]:
        return LOOKUP_SALT
    return None


def _verify(row: tuple[Any, ...], keys: KeyMaterial, what: str) -> SealingCodec:
    if row[0] != KDF_NAME:
        raise ConfigError(f"{SECRET}: the database uses key derivation {row[0]!r}, unknown here")
    codec = derive(keys, iterations=int(row[1]))
    wrong = _matches(codec, row)
    if wrong is not None:
        raise ConfigError(
            f"{wrong}: does not match the one {what}; start the bridge with the secrets it "
            "was encrypted with (nothing was changed)"
        )
    return codec


def _write_key(
    conn: sqlite3.Connection, row_id: int, codec: Codec, iterations: int, now: float
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO encryption"
        " (id, kdf, iterations, key_check, lookup_check, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (row_id, KDF_NAME, iterations, codec.seal(KEY_CHECK), codec.lookup(LOOKUP_CHECK), now),
    )


def _has_data(conn: sqlite3.Connection) -> bool:
    return any(
        conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None for table in tables()
    )


def open_codec(
    conn: sqlite3.Connection,
    keys: KeyMaterial | None,
    *,
    now: float,
    iterations: int = KDF_ITERATIONS,
    progress: Progress | None = None,
) -> Codec:
    """Check the secrets against the database and return the codec to use.

    A plaintext database with data is encrypted in place first (resuming an interrupted
    run); an empty one just gets the key check. ``iterations`` is the KDF cost for a
    database that has no key yet; an existing one keeps its own.

    Raises:
        ConfigError: the secrets are wrong or missing for this database, or a rotation is
            unfinished (nothing was written).
    """
    current, target = _row(conn, 1), _row(conn, 2)
    if keys is None:
        if current is not None or target is not None:
            raise ConfigError(
                f"{SECRET}: missing, but the database is encrypted; set it and both salts to "
                "the values it was encrypted with"
            )
        return PlainCodec()
    if current is not None:
        if target is not None:
            raise ConfigError(
                f"{SECRET}: a key rotation of this database is unfinished; run "
                "`python -m whatsignal rotate-key` again with the same variables to finish it"
            )
        return _verify(current, keys, "this database was encrypted with")
    if target is not None:  # an interrupted first encryption: same secrets, carry on
        codec = _verify(target, keys, "this database's interrupted encryption started with")
    else:
        codec = derive(keys, iterations=iterations)
        if not _has_data(conn):
            _transaction(conn, lambda: _write_key(conn, 1, codec, iterations, now))
            return codec
        log.info("encrypting the plaintext database in place (resumable if interrupted)")
        _transaction(conn, lambda: _write_key(conn, 2, codec, iterations, now))
    rekey(conn, PlainCodec(), codec, progress=progress)
    return codec


def check_before_migration(conn: sqlite3.Connection, keys: KeyMaterial | None) -> Codec | None:
    """Refuse wrong or missing secrets before the schema is migrated, writing nothing.

    A database that already has a key is checked against ``keys`` now, so that a bridge
    started with the wrong secret leaves even a schema older than this code untouched; the
    codec it returns serves the store afterwards. None means there is nothing to check yet
    (no key recorded, or a plaintext database that :func:`open_codec` encrypts after the
    migrations).

    Raises:
        ConfigError: as :func:`open_codec`, for a database that has a key.
    """
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'encryption'"
    ).fetchone()
    if exists is None:
        return None
    current, target = _row(conn, 1), _row(conn, 2)
    if current is None and (keys is not None or target is None):
        return None
    # Every path of open_codec from here refuses or verifies; none writes.
    return open_codec(conn, keys, now=0.0)


def start_rotation(
    conn: sqlite3.Connection,
    old: KeyMaterial,
    new: KeyMaterial,
    *,
    now: float,
    iterations: int = KDF_ITERATIONS,
) -> tuple[Codec, Codec]:
    """Check both sets of secrets and record the target key (or find it recorded by an
    interrupted rotation); returns ``(old codec, new codec)`` for :func:`rekey`.

    Raises:
        ConfigError: the database is not encrypted, the old secrets are wrong, or an
            interrupted rotation was to other new secrets.
    """
    current, target = _row(conn, 1), _row(conn, 2)
    if current is None:
        raise ConfigError(
            f"{SECRET}: this database is not encrypted yet; start the bridge once with the "
            "secrets to encrypt it"
        )
    old_codec = _verify(current, old, "this database is encrypted with")
    if target is not None:
        return old_codec, _verify(target, new, "the interrupted rotation started with")
    new_codec = derive(new, iterations=iterations)
    _transaction(conn, lambda: _write_key(conn, 2, new_codec, iterations, now))
    return old_codec, new_codec


def _transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    """``work()`` in one write transaction: committed, or rolled back on any failure."""
    conn.execute("BEGIN IMMEDIATE")
    committed = False
    try:
        result = work()
        conn.execute("COMMIT")
        committed = True
    finally:
        if not committed:
            conn.execute("ROLLBACK")
    return result


def _convert(old: Codec, new: Codec, fields: list[Field], row: tuple[Any, ...]) -> list[Any]:
    """The new stored values of one row's protected columns, in :func:`_targets` order
    (``row``: ``rowid`` then :func:`_columns`)."""
    values: list[Any] = []
    for i, field in enumerate(fields):
        stored, sibling = row[1 + 2 * i], row[2 + 2 * i]
        if field.looked_up:
            clear = old.reveal(stored, sibling)
            values += [None if clear is None else field.lookup(new, clear), new.sibling(clear)]
        elif stored is not None:
            clear_value = (
                old.open_text(stored) if isinstance(stored, str) else old.open_bytes(stored)
            )
            values.append(new.seal(clear_value))
        else:
            values.append(None)
    return values


def _columns(fields: list[Field]) -> list[str]:
    """Each field's column and its sibling (a sealed one has none: ``NULL`` stands in)."""
    return [c for f in fields for c in (f.column, f.sibling if f.looked_up else "NULL")]


def _targets(fields: list[Field]) -> list[str]:
    """The columns :func:`_convert` gives values for, in its order."""
    return [c for f in fields for c in ((f.column, f.sibling) if f.looked_up else (f.column,))]


def _table(
    conn: sqlite3.Connection, table: str, old: Codec, new: Codec, progress: Progress | None
) -> None:
    fields = fields_of(table)
    total = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    row = conn.execute("SELECT last_rowid FROM rekey_progress WHERE name = ?", (table,)).fetchone()
    last = -(2**63) if row is None else int(row[0])
    select = (
        f"SELECT rowid, {', '.join(_columns(fields))} FROM {table}"
        " WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )
    assignments = ", ".join(f"{column} = ?" for column in _targets(fields))
    update = f"UPDATE {table} SET {assignments} WHERE rowid = ?"

    def batch(after: int) -> list[tuple[Any, ...]]:
        """Convert the next rows after ``after`` and record how far the table got."""
        rows: list[tuple[Any, ...]] = conn.execute(select, (after, BATCH)).fetchall()
        for stored in rows:
            conn.execute(update, (*_convert(old, new, fields, stored), stored[0]))
        if rows:
            conn.execute(
                "INSERT OR REPLACE INTO rekey_progress (name, last_rowid) VALUES (?, ?)",
                (table, int(rows[-1][0])),
            )
        return rows

    while True:
        rows = _transaction(conn, partial(batch, last))
        if rows:
            last = int(rows[-1][0])
        if progress is not None:
            done = int(
                conn.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE rowid <= ?",
                    (last,),
                ).fetchone()[0]
            )
            progress(table, done, total)
        if len(rows) < BATCH:
            return


def rekey(
    conn: sqlite3.Connection, old: Codec, new: Codec, *, progress: Progress | None = None
) -> None:
    """Move every protected value from ``old`` to ``new`` (row 2 must hold ``new``'s key),
    batch by batch, resuming where an interrupted run stopped; then make ``new`` the key and
    leave no old value behind (VACUUM, WAL truncated)."""
    for table in tables():
        _table(conn, table, old, new, progress)

    def finish() -> None:
        conn.execute("DELETE FROM encryption WHERE id = 1")
        conn.execute("UPDATE encryption SET id = 1 WHERE id = 2")
        conn.execute("DELETE FROM rekey_progress")

    _transaction(conn, finish)
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log.info("the database is now under the new key")
