"""A send with a file streams its JSON body: the same JSON, its length known, repeatable, with
the file read from memory or from its spool."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from whatsignal.clients import OutboundAttachment, SignalClient, Spool, WahaClient
from whatsignal.clients._streamed import CHUNK, Base64, StreamedJson
from whatsignal.errors import ApiError


async def _bytes(body: StreamedJson) -> bytes:
    return b"".join([piece async for piece in body])


async def test_the_streamed_body_is_the_json_it_stands_for_and_as_long_as_it_says() -> None:
    big = bytes(range(256)) * 700
    with Spool() as spool:
        await spool.write(big)
        files = [
            Base64('data:image/png;filename=a "b".png;base64,', spool),
            Base64("data:text/plain;base64,", b"x"),
            Base64("", b""),
        ]
        body = StreamedJson(
            {
                "message": "hé \ud800",  # a lone surrogate cannot be encoded: replaced
                "base64_attachments": files,
                "file": {"mimetype": "m/m", "data": Base64("", big)},  # nested, as WAHA's
                "n": [1, None, True],
            }
        )
        sent = await _bytes(body)
        assert len(sent) == len(body)
        assert await _bytes(body) == sent  # a retry sends it all again
    decoded = json.loads(sent)
    assert decoded["message"] == "hé \ufffd"
    assert decoded["base64_attachments"] == [
        'data:image/png;filename=a "b".png;base64,' + base64.b64encode(big).decode(),
        "data:text/plain;base64,eA==",
        "",
    ]
    assert base64.b64decode(decoded["file"]["data"]) == big
    assert decoded["n"] == [1, None, True]
    assert len(big) > CHUNK  # more than one piece was joined


async def test_text_that_looks_like_a_placeholder_is_only_text() -> None:
    body = StreamedJson(
        {"message": "\x00attachments\x00", "base64_attachments": [Base64("h,", b"\x00")]}
    )
    decoded = json.loads(await _bytes(body))
    assert decoded == {"message": "\x00attachments\x00", "base64_attachments": ["h,AA=="]}


def _recording(status: list[int], seen: list[httpx.Request]) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = await request.aread()
        assert request.headers["content-length"] == str(len(body))
        assert "transfer-encoding" not in request.headers
        return httpx.Response(status.pop(0), json={"timestamp": "17", "id": "true_1@c.us_A"})

    return httpx.MockTransport(handler)


async def test_a_send_with_a_file_goes_out_with_a_length_and_is_sent_whole_each_time() -> None:
    seen: list[httpx.Request] = []
    transport = _recording([503, 201], seen)
    client = SignalClient(httpx.AsyncClient(base_url="http://signal", transport=transport))
    content = b"\x00\xff" * 100_000
    with Spool() as spool:
        await spool.write(content)
        photo = OutboundAttachment(spool, "image/jpeg; q=1", "p;1.jpg")
        with pytest.raises(ApiError):  # the first answer is an error: the caller sends again
            await client.send("+1", ["+2"], "look", attachments=[photo])
        assert await client.send("+1", ["+2"], "look", attachments=[photo]) == 17
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0] == bodies[1]
    expected = "data:image/jpeg;filename=p_1.jpg;base64," + base64.b64encode(content).decode()
    assert bodies[0]["base64_attachments"] == [expected]
    assert bodies[0]["message"] == "look"


async def test_a_waha_file_send_streams_the_file_from_its_spool_and_again_on_a_retry() -> None:
    seen: list[httpx.Request] = []
    transport = _recording([500, 201], seen)
    waha = WahaClient(httpx.AsyncClient(base_url="http://waha", transport=transport))
    content = bytes(range(256)) * 1000
    with Spool() as spool:
        await spool.write(content)
        options: dict[str, Any] = {"data": spool, "mimetype": "application/pdf"}
        with pytest.raises(ApiError):
            await waha.send_media("s", "1@c.us", "file", filename="a.pdf", **options)
        sent = await waha.send_media("s", "1@c.us", "file", filename="a.pdf", **options)
    assert sent == "true_1@c.us_A"
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0] == bodies[1]
    assert base64.b64decode(bodies[0]["file"]["data"]) == content
    assert bodies[0]["file"]["filename"] == "a.pdf"
    assert bodies[0]["chatId"] == "1@c.us"
