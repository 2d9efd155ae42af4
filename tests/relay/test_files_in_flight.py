"""A file crossing the bridge is kept in a temporary file in ``media.tempDir`` while its row is
handled, and no longer: not after the send, nor after a failed send the poller will retry, nor
when the handling is cancelled (shutdown, a session going away). A retry downloads it again
and sends the same bytes."""

from __future__ import annotations

import base64
from functools import partial
from pathlib import Path

import attrs
import httpx
import pytest
import trio
from relay_fakes import (
    ROUTE,
    FakeSignal,
    FakeWaha,
    data_message,
    error_response,
    signal_row,
    wa_message,
    waha_row,
)

from whatsignal.convert.media import MediaPolicy
from whatsignal.relay import ToSignal, ToWhatsApp, UpstreamError
from whatsignal.relay.to_signal import NOT_FETCHED
from whatsignal.reliability import Failure
from whatsignal.testing import FDS_VISIBLE, open_files_under

pytestmark = pytest.mark.skipif(not FDS_VISIBLE, reason="counts open files in /proc/self/fd")

CONTENT = bytes(range(256)) * 2000  # 512 KB: written to disk in several pieces
MEDIA_URL = "http://localhost:3000/api/files/personal/big.pdf"
MEDIA_PATH = "GET /api/files/personal/big.pdf"


def _media(directory: Path) -> MediaPolicy:
    return MediaPolicy(temp_dir=str(directory))


def _whatsapp_file() -> dict[str, object]:
    media = {"url": MEDIA_URL, "mimetype": "application/pdf", "filename": "big.pdf"}
    return wa_message("the report", push_name="Carol", hasMedia=True, media=media)


def _signal_file() -> dict[str, object]:
    item = {"id": "f1", "contentType": "application/pdf", "filename": "big.pdf"}
    return data_message(1_700_000_300_000, "the report", attachments=[item])


def _serve_download(fake_waha: FakeWaha) -> None:
    fake_waha.upstream.script(
        MEDIA_PATH,
        httpx.Response(200, content=CONTENT, headers={"content-type": "application/pdf"}),
    )


async def _stall(sending: trio.Event, request: httpx.Request) -> httpx.Response:
    """A send that never gets its answer."""
    sending.set()
    await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


async def test_whatsapp_file_retried_after_a_failed_send_arrives_whole_and_leaves_nothing(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, tmp_path: Path
) -> None:
    relay = attrs.evolve(to_signal, media=_media(tmp_path))
    row = waha_row("message", _whatsapp_file())
    _serve_download(fake_waha)
    _serve_download(fake_waha)
    fake_signal.upstream.script("POST /v2/send", error_response(500, "boom"))

    with pytest.raises(UpstreamError) as failed:
        await relay.handle(ROUTE, row)
    assert failed.value.failure is Failure.TRANSIENT  # the poller will retry the row
    assert open_files_under(tmp_path) == 0

    await relay.handle(ROUTE, row)  # the retry

    assert open_files_under(tmp_path) == 0
    first, second = [
        body["base64_attachments"] for body in fake_signal.upstream.bodies("POST /v2/send")
    ]
    assert first == second
    (uri,) = second
    assert base64.b64decode(uri.split("base64,", 1)[1]) == CONTENT


async def test_a_whatsapp_file_is_let_go_when_its_send_is_cancelled(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, tmp_path: Path
) -> None:
    relay = attrs.evolve(to_signal, media=_media(tmp_path))
    _serve_download(fake_waha)
    sending = trio.Event()
    fake_signal.upstream.script("POST /v2/send", partial(_stall, sending))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relay.handle, ROUTE, waha_row("message", _whatsapp_file()))
        await sending.wait()
        assert open_files_under(tmp_path) == 1  # the file is on disk while it is sent
        nursery.cancel_scope.cancel()
    assert open_files_under(tmp_path) == 0


async def test_signal_file_retried_after_a_failed_send_arrives_whole_and_leaves_nothing(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, tmp_path: Path
) -> None:
    relay = attrs.evolve(to_whatsapp, media=_media(tmp_path))
    fake_signal.attachments["f1"] = CONTENT
    fake_waha.upstream.script("POST /api/sendFile", error_response(500, "boom"))
    row = signal_row(_signal_file())

    with pytest.raises(UpstreamError) as failed:
        await relay.handle(ROUTE, row)
    assert failed.value.failure is Failure.TRANSIENT
    assert open_files_under(tmp_path) == 0

    await relay.handle(ROUTE, row)

    assert open_files_under(tmp_path) == 0
    first, second = fake_waha.sent("sendFile")
    assert first == second
    assert base64.b64decode(second["file"]["data"]) == CONTENT
    assert second["caption"] == "the report"


async def test_a_signal_file_is_let_go_when_its_send_is_cancelled(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, tmp_path: Path
) -> None:
    relay = attrs.evolve(to_whatsapp, media=_media(tmp_path))
    fake_signal.attachments["f1"] = CONTENT
    sending = trio.Event()
    fake_waha.upstream.script("POST /api/sendFile", partial(_stall, sending))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relay.handle, ROUTE, signal_row(_signal_file()))
        await sending.wait()
        assert open_files_under(tmp_path) == 1
        nursery.cancel_scope.cancel()
    assert open_files_under(tmp_path) == 0


async def test_a_whatsapp_file_that_cannot_be_kept_is_a_note_and_the_text_goes(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, tmp_path: Path
) -> None:
    """The directory went away (or the disk is full): the message is not lost for its file."""
    relay = attrs.evolve(to_signal, media=MediaPolicy(temp_dir=str(tmp_path / "gone")))
    _serve_download(fake_waha)

    await relay.handle(ROUTE, waha_row("message", _whatsapp_file()))

    (sent,) = fake_signal.sends()
    assert sent["message"] == f"Carol: the report\n{NOT_FETCHED}"
    assert "base64_attachments" not in sent


async def test_a_signal_file_that_cannot_be_kept_fails_its_message_for_good(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, tmp_path: Path
) -> None:
    """As a file signal-cli cannot serve: the message becomes a dead letter, and its sender
    is told, rather than reaching the chat without the file."""
    relay = attrs.evolve(to_whatsapp, media=MediaPolicy(temp_dir=str(tmp_path / "gone")))
    fake_signal.attachments["f1"] = CONTENT

    with pytest.raises(UpstreamError) as failed:
        await relay.handle(ROUTE, signal_row(_signal_file()))

    assert failed.value.failure is Failure.PERMANENT
    assert "the file could not be kept (No such file or directory)" in str(failed.value)
    assert fake_waha.sent("sendFile") == []
