"""Fixtures of the storage tests: a running store (in memory and on disk), and a bare
migrated connection for the plain SQL functions of ``journal``, ``mappings`` and ``caches``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from storage_helpers import FAST_KDF, KEYS

from whatsignal.storage import SqliteStore
from whatsignal.storage.crypto import Codec, PlainCodec, derive
from whatsignal.storage.migrations import migrate


@pytest.fixture(params=["memory", "file", "encrypted"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery
) -> SqliteStore:
    """A running SqliteStore; every test using it runs against ":memory:", a file, and an
    encrypted file."""
    path = ":memory:" if request.param == "memory" else str(tmp_path / "store.db")
    keys = KEYS if request.param == "encrypted" else None
    running: SqliteStore = await nursery.start(
        SqliteStore(path, keys=keys, kdf_iterations=FAST_KDF).run
    )
    return running  # the nursery fixture runs it until the test ends


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    """An in-memory database at the latest schema, in autocommit mode like the store's."""
    connection = sqlite3.connect(":memory:", isolation_level=None)
    migrate(connection, applied_at=0.0)
    yield connection
    connection.close()


@pytest.fixture(params=["plain", "sealed"])
def codec(request: pytest.FixtureRequest) -> Codec:
    """Both codecs: every SQL test runs in clear (development) and encrypted (secure mode)."""
    return PlainCodec() if request.param == "plain" else derive(KEYS, iterations=FAST_KDF)
