"""Fixtures of the storage tests: a running store (in memory and on disk), and a bare
migrated connection for the plain SQL functions of ``journal``, ``mappings`` and ``caches``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from whatsignal.storage import SqliteStore
from whatsignal.storage.migrations import migrate


@pytest.fixture(params=["memory", "file"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery
) -> SqliteStore:
    """A running SqliteStore; every test using it runs against ":memory:" and a file."""
    path = ":memory:" if request.param == "memory" else str(tmp_path / "store.db")
    running: SqliteStore = await nursery.start(SqliteStore(path).run)
    return running  # the nursery fixture runs it until the test ends


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    """An in-memory database at the latest schema, in autocommit mode like the store's."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection, applied_at=0.0)
    yield connection
    connection.close()
