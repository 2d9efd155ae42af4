"""A file crossing the bridge is kept in a temporary file in ``media.tempDir`` while its row is
handled, and no longer: not after the send, nor after a failed send the poller will retry, nor
when the handling is cancelled (shutdown, a session going away). A retry downloads it again
and sends the same bytes."""

from __future__ import annotations

import base64
from functools import partial

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
from spool_dir import SpoolDir

from whatsignal.convert.media import MediaPolicy
from whatsignal.relay import ToSignal, ToWhatsApp, UpstreamError
from whatsignal.reliability import Failure

CONTENT = bytes(range(256)) * 2000  # 512 KB: written to disk in several pieces
MEDIA_URL = "http://localhost:3000/api/files/personal/big.pdf"
MEDIA_PATH = "GET /api/files/personal/big.pdf"


def _media(spool_dir: SpoolDir) -> MediaPolicy:
    return MediaPolicy(temp_dir=str(spool_dir.path))


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
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, spool_dir: SpoolDir
) -> None:
    relay = attrs.evolve(to_signal, media=_media(spool_dir))
    row = waha_row("message", _whatsapp_file())
    _serve_download(fake_waha)
    _serve_download(fake_waha)
    fake_signal.upstream.script("POST /v2/send", error_response(500, "boom"))

    with pytest.raises(UpstreamError) as failed:
        await relay.handle(ROUTE, row)
    assert failed.value.failure is Failure.TRANSIENT  # the poller will retry the row
    assert spool_dir.open_files() == 0

    await relay.handle(ROUTE, row)  # the retry

    assert spool_dir.open_files() == 0
    first, second = [
        body["base64_attachments"] for body in fake_signal.upstream.bodies("POST /v2/send")
    ]
    assert first == second
    (uri,) = second
    assert base64.b64decode(uri.split("base64,", 1)[1]) == CONTENT


async def test_a_whatsapp_file_is_let_go_when_its_send_is_cancelled(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, spool_dir: SpoolDir
) -> None:
    relay = attrs.evolve(to_signal, media=_media(spool_dir))
    _serve_download(fake_waha)
    sending = trio.Event()
    fake_signal.upstream.script("POST /v2/send", partial(_stall, sending))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relay.handle, ROUTE, waha_row("message", _whatsapp_file()))
        await sending.wait()
        assert spool_dir.open_files() == 1  # the file is on disk while it is sent
        nursery.cancel_scope.cancel()
    assert spool_dir.open_files() == 0


async def test_signal_file_retried_after_a_failed_send_arrives_whole_and_leaves_nothing(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, spool_dir: SpoolDir
) -> None:
    relay = attrs.evolve(to_whatsapp, media=_media(spool_dir))
    fake_signal.attachments["f1"] = CONTENT
    fake_waha.upstream.script("POST /api/sendFile", error_response(500, "boom"))
    row = signal_row(_signal_file())

    with pytest.raises(UpstreamError) as failed:
        await relay.handle(ROUTE, row)
    assert failed.value.failure is Failure.TRANSIENT
    assert spool_dir.open_files() == 0

    await relay.handle(ROUTE, row)

    assert spool_dir.open_files() == 0
    first, second = fake_waha.sent("sendFile")
    assert first == second
    assert base64.b64decode(second["file"]["data"]) == CONTENT
    assert second["caption"] == "the report"


async def test_a_signal_file_is_let_go_when_its_send_is_cancelled(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, spool_dir: SpoolDir
) -> None:
    relay = attrs.evolve(to_whatsapp, media=_media(spool_dir))
    fake_signal.attachments["f1"] = CONTENT
    sending = trio.Event()
    fake_waha.upstream.script("POST /api/sendFile", partial(_stall, sending))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(relay.handle, ROUTE, signal_row(_signal_file()))
        await sending.wait()
        assert spool_dir.open_files() == 1
        nursery.cancel_scope.cancel()
    assert spool_dir.open_files() == 0
