"""A directory for the bridge's files in flight, watched (the ``spool_dir`` fixture)."""

from __future__ import annotations

import os
from pathlib import Path

import attrs


@attrs.frozen
class SpoolDir:
    """A directory for ``media.tempDir`` that can tell how many of its files are still open.

    The bridge's temporary files have no name (nothing to list in the directory), so what is
    counted are this process's open descriptors of files in it (``/proc/self/fd``, Linux).
    """

    path: Path

    def open_files(self) -> int:
        prefix = f"{self.path}{os.sep}"
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # closed since it was listed
                continue
            count += target.startswith(prefix)
        return count
