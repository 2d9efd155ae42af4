"""Files in flight: a download kept in an unnamed temporary file, read back in pieces.

A file crossing the bridge (WhatsApp's media on its way to signal-cli, a Signal attachment on
its way to WAHA) is downloaded into a :class:`Spool` and sent from it, so memory holds a few
hundred kilobytes of it at a time, whatever its size. The temporary file has no name (it is
unlinked as it is made, ``O_TMPFILE`` where the system has it), so nothing is left on disk
when the spool is closed, nor when the process dies; ``media.tempDir`` says where it lives
(unset: the system's temporary directory).

Resource handling: a spool is opened on its first write and closed by ``with`` (or
:meth:`Spool.close`), which its owner (the handler of one journal row) holds around the
download and every send of the file, so the file goes when the row is done, fails, waits for a
retry or is cancelled. Disk reads and writes run in a worker thread, a few hundred kilobytes at
a time (a blocked disk must not stall every other session).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from types import TracebackType
from typing import BinaryIO

import attrs
import trio

__all__ = ["FileData", "Spool", "data_pieces", "data_size"]

FLUSH = 256 * 1024
"""Bytes gathered in memory before one write to the temporary file."""

READ = 192 * 1024
"""Bytes read from the temporary file at once (a multiple of every piece size asked for)."""


@attrs.define(eq=False)
class Spool:
    """A file written once, in order, then read from its start as often as needed.

    Args:
        directory: where the unnamed temporary file is made; None: the system's default.
    """

    directory: str | None = None
    _file: BinaryIO | None = attrs.field(default=None, init=False)
    _pending: bytearray = attrs.field(factory=bytearray, init=False)
    _written: int = attrs.field(default=0, init=False)
    _closed: bool = attrs.field(default=False, init=False)

    @property
    def size(self) -> int:
        """How many bytes were written."""
        return self._written + len(self._pending)

    async def write(self, data: bytes) -> None:
        """Append ``data`` (kept in memory until :data:`FLUSH` bytes have gathered).

        Raises:
            OSError: the temporary file cannot be made or written (no such directory, disk
                full).
        """
        self._pending += data
        if len(self._pending) >= FLUSH:
            await self.flush()

    async def flush(self) -> None:
        """Write what is gathered in memory to the temporary file."""
        if self._closed:
            raise ValueError("the spool is closed")
        if not self._pending:
            return
        data = bytes(self._pending)
        self._pending.clear()

        def write() -> None:
            if self._file is None:  # made here: even opening a file can block on a disk
                self._file = tempfile.TemporaryFile(dir=self.directory)  # noqa: SIM115 - close()
            self._file.write(data)
            self._file.flush()

        await trio.to_thread.run_sync(write)
        self._written += len(data)

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        """The content from its start, in pieces of ``size`` bytes (the last one shorter)."""
        await self.flush()
        step = max(size, READ - READ % size)
        for offset in range(0, self._written, step):
            assert self._file is not None
            block = await trio.to_thread.run_sync(os.pread, self._file.fileno(), step, offset)
            for start in range(0, len(block), size):
                yield block[start : start + size]

    def close(self) -> None:
        """Close and so remove the temporary file (again: nothing happens)."""
        self._closed = True
        self._pending.clear()
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


FileData = bytes | Spool
"""A file to send: its bytes (small files the bridge makes itself), or a download's spool."""


def data_size(data: FileData) -> int:
    """The file's length in bytes."""
    return len(data) if isinstance(data, bytes) else data.size


async def data_pieces(data: FileData, size: int) -> AsyncIterator[bytes]:
    """The file in pieces of ``size`` bytes, from its start."""
    if isinstance(data, Spool):
        async for piece in data.pieces(size):
            yield piece
        return
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])
