"""A file in flight is kept in an unnamed temporary file: the same bytes back, as often as a
send needs them, and nothing left once it is closed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from whatsignal.clients import Spool
from whatsignal.clients._spool import FLUSH, READ, data_pieces, data_size
from whatsignal.testing import FDS_VISIBLE, open_files_under

pytestmark = pytest.mark.skipif(not FDS_VISIBLE, reason="counts open files in /proc/self/fd")


def _content(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


async def test_what_was_written_comes_back_whole_in_pieces_and_again(tmp_path: Path) -> None:
    content = _content(FLUSH * 3 + 12_345)  # several flushes, and a remainder only in memory
    with Spool(str(tmp_path)) as spool:
        for start in range(0, len(content), 70_000):
            await spool.write(content[start : start + 70_000])
        assert spool.size == len(content)
        pieces = [piece async for piece in spool.pieces(1000)]
        assert b"".join(pieces) == content
        assert {len(piece) for piece in pieces[:-1]} == {1000}
        assert b"".join([piece async for piece in spool.pieces(49_152)]) == content  # a retry
        assert open_files_under(tmp_path) == 1  # on disk, in the configured directory
    assert open_files_under(tmp_path) == 0
    assert os.listdir(tmp_path) == []  # and it never had a name there


async def test_a_spool_nothing_was_written_to_makes_no_file(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        assert [piece async for piece in spool.pieces(10)] == []
        assert spool.size == 0
        assert open_files_under(tmp_path) == 0


async def test_a_small_file_stays_in_memory_until_it_is_read(tmp_path: Path) -> None:
    with Spool(str(tmp_path)) as spool:
        await spool.write(b"tiny")
        assert open_files_under(tmp_path) == 0
        assert [piece async for piece in spool.pieces(3)] == [b"tin", b"y"]


async def test_a_read_step_that_is_no_multiple_of_the_piece_size_still_joins(
    tmp_path: Path,
) -> None:
    content = _content(READ * 2 + 7)
    with Spool(str(tmp_path)) as spool:
        await spool.write(content)
        pieces = [piece async for piece in spool.pieces(READ // 2 + 1)]
    assert b"".join(pieces) == content


async def test_a_closed_spool_refuses_more_writes() -> None:
    spool = Spool()
    spool.close()
    with pytest.raises(ValueError, match="closed"):
        await spool.write(b"x" * FLUSH)
    spool.close()  # again: nothing happens


async def test_bytes_and_spools_are_read_alike() -> None:
    content = _content(100_001)
    with Spool() as spool:
        await spool.write(content)
        for data in (content, spool):
            assert data_size(data) == len(content)
            assert b"".join([piece async for piece in data_pieces(data, 4096)]) == content
