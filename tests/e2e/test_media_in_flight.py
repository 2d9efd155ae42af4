"""Files in flight: a large file crosses each way with the same bytes through a temporary file
in ``media.tempDir``; a file over its limit is refused with a note; no temporary file is left
open once the bridge is done."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from bridge_harness import ALICE_PHONE, world

from whatsignal.testing import FDS_VISIBLE, open_files_under

pytestmark = pytest.mark.skipif(not FDS_VISIBLE, reason="counts open files in /proc/self/fd")

MB = 1024 * 1024
REPORT = b"%PDF-1.7\n" + bytes(range(256)) * (3 * MB // 256)  # 3 MB: many pieces each way
BIG_PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * (MB + 10)


@pytest.fixture
def in_flight(tmp_path: Path) -> Path:
    """``media.tempDir``: its own directory (the database is open in ``tmp_path``)."""
    path = tmp_path / "in-flight"
    path.mkdir()
    return path


async def test_a_large_file_crosses_each_way_whole_and_leaves_no_temporary_file(
    tmp_path: Path, in_flight: Path
) -> None:
    extra = {"media": {"tempDir": str(in_flight)}}
    async with world(tmp_path, extra=extra) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000031",
            body="the report",
            media=REPORT,
            mimetype="application/pdf",
            filename="report.pdf",
            notify_name="Rita",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        (sent,) = w.to_signal()
        assert sent.message == "Rita: the report"
        (attachment,) = sent.attachments
        assert attachment.data == REPORT
        assert attachment.filename == "report.pdf"

        reply = w.signal.inject_envelope(
            ALICE_PHONE,
            message="annotated",
            quote_timestamp=sent.timestamp,
            attachments=[(REPORT, "application/pdf", "annotated.pdf")],
        )
        assert await w.envelopes_done(reply) == ["done"]
        (document,) = w.whatsapp_calls("/api/sendFile")
        assert base64.b64decode(document["file"]["data"]) == REPORT
        assert document["file"]["filename"] == "annotated.pdf"
        assert document["caption"] == "annotated"
        await w.settled()
        assert open_files_under(in_flight) == 0


async def test_files_over_their_limit_are_refused_with_a_note_and_leave_nothing(
    tmp_path: Path, in_flight: Path
) -> None:
    extra = {"media": {"tempDir": str(in_flight), "maxSizeMB": {"image": 1}}}
    async with world(tmp_path, extra=extra) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000032",
            body="huge",
            media=BIG_PNG,
            mimetype="image/png",
            notify_name="Sam",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        (sent,) = w.to_signal()
        assert sent.attachments == ()
        assert sent.message == (
            "Sam: huge\n[image too large to forward (limit 1 MB: media.maxSizeMB.image)]"
        )
        mine = w.signal.inject_envelope(
            ALICE_PHONE, message="mine too", attachments=[(BIG_PNG, "image/png", "m.png")]
        )
        assert await w.envelopes_done(mine) == ["done"]
        assert w.whatsapp_calls("/api/sendImage") == []
        (text,) = w.whatsapp_calls("/api/sendText")
        assert text["text"] == (
            "mine too\n[image too large to forward (limit 1 MB: media.maxSizeMB.image)]"
        )
        await w.settled()
        assert open_files_under(in_flight) == 0
