"""The alerts the bridge raised and has not cleared yet (``alerts`` table, migration 7).

An alert is told once per condition (a session that needs a human, WAHA's session API failing,
messages stuck): its key is kept here from the moment it was told until the condition clears,
so a restarted bridge does not tell it again. The key names the condition and a session, so it
is a looked-up field (its lookup in ``key``, the value itself sealed in ``key_enc``).

Functions of a sqlite3 connection and the store's codec, run on the store's thread;
:class:`AlertsSql` adds them to the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from whatsignal.storage.crypto import Codec

__all__ = ["Alerts", "AlertsSql", "clear", "is_raised", "put", "raised"]


class Alerts(Protocol):
    """The alerts raised and not cleared (every method durable when it returns)."""

    async def alert_raised(self, key: str) -> bool:
        """Whether the alert ``key`` was raised and not cleared."""
        ...

    async def raised_alerts(self) -> list[str]:
        """Every alert raised and not cleared (its key)."""
        ...

    async def raise_alert(self, key: str, *, at: float) -> None:
        """Record that the alert ``key`` was told (idempotent)."""
        ...

    async def clear_alert(self, key: str) -> None:
        """Forget the alert ``key``: its condition cleared (idempotent)."""
        ...


def is_raised(conn: sqlite3.Connection, codec: Codec, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM alerts WHERE key = ?", (codec.lookup(key),)).fetchone()
    return row is not None


def raised(conn: sqlite3.Connection, codec: Codec) -> list[str]:
    rows = conn.execute("SELECT key, key_enc FROM alerts").fetchall()
    return sorted(key for key in (codec.reveal(row[0], row[1]) for row in rows) if key)


def put(conn: sqlite3.Connection, codec: Codec, key: str, at: float) -> None:
    conn.execute(
        "INSERT INTO alerts (key, key_enc, raised_at) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO NOTHING",
        (codec.lookup(key), codec.sibling(key), at),
    )


def clear(conn: sqlite3.Connection, codec: Codec, key: str) -> None:
    conn.execute("DELETE FROM alerts WHERE key = ?", (codec.lookup(key),))


class AlertsSql:
    """:class:`Alerts` for a store that runs SQL functions on its thread (``_read``/``_write``
    as :class:`~whatsignal.storage.sqlite.SqliteStore` has them)."""

    _read: Callable[..., Awaitable[Any]]
    _write: Callable[..., Awaitable[Any]]

    async def alert_raised(self, key: str) -> bool:
        return bool(await self._read(is_raised, key))

    async def raised_alerts(self) -> list[str]:
        found: list[str] = await self._read(raised)
        return found

    async def raise_alert(self, key: str, *, at: float) -> None:
        await self._write(put, key, at)

    async def clear_alert(self, key: str) -> None:
        await self._write(clear, key)
