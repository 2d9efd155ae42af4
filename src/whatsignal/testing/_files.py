"""What a test needs to see that the bridge leaves no file open: its temporary files have no
name (nothing to list in their directory), so what is counted are this process's open
descriptors of files in a directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FDS_VISIBLE", "open_files_under"]

_FDS = Path("/proc/self/fd")

FDS_VISIBLE = _FDS.is_dir()
"""Whether this system shows a process its open files (Linux); skip such tests without it."""


def open_files_under(directory: Path) -> int:
    """How many files in ``directory`` this process has open now (a deleted or unnamed one
    still shows as ``<directory>/<something>``)."""
    prefix = f"{directory}{os.sep}"
    count = 0
    for fd in os.listdir(_FDS):
        try:
            target = os.readlink(_FDS / fd)
        except OSError:  # closed since it was listed
            continue
        count += target.startswith(prefix)
    return count
