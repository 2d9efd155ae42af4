"""Fixtures of the storage tests: a running store, in memory and on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from whatsignal.storage import SqliteStore


@pytest.fixture(params=["memory", "file"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, nursery: trio.Nursery
) -> SqliteStore:
    """A running SqliteStore; every test using it runs against ":memory:" and a file."""
    path = ":memory:" if request.param == "memory" else str(tmp_path / "store.db")
    running: SqliteStore = await nursery.start(SqliteStore(path).run)
    return running  # the nursery fixture runs it until the test ends
