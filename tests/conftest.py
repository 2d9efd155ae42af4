"""What every test directory shares: a directory for the bridge's files in flight, watched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from spool_dir import SpoolDir


@pytest.fixture
def spool_dir(tmp_path: Path) -> SpoolDir:
    if not sys.platform.startswith("linux"):
        pytest.skip("counts open files through /proc/self/fd")
    path = tmp_path / "in-flight"
    path.mkdir()
    return SpoolDir(path)
