"""A send with attachments streams its JSON body: the same JSON, its length known, repeatable."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from whatsignal.clients import OutboundAttachment, SignalClient
from whatsignal.clients._streamed import CHUNK, StreamedJson
from whatsignal.errors import ApiError


async def _bytes(body: StreamedJson) -> bytes:
    return b"".join([piece async for piece in body])


async def test_the_streamed_body_is_the_json_it_stands_for_and_as_long_as_it_says() -> None:
    files = [
        ('data:image/png;filename=a "b".png;base64,', bytes(range(256)) * 700),
        ("data:text/plain;base64,", b"x"),
        ("data:text/plain;base64,", b""),
    ]
    body = StreamedJson({"message": "hé", "recipients": ["+1"]}, "base64_attachments", files)
    sent = await _bytes(body)
    assert len(sent) == len(body)
    assert await _bytes(body) == sent  # a retry sends it all again
    decoded = json.loads(sent)
    assert decoded["message"] == "hé"
    expected = [head + base64.b64encode(data).decode() for head, data in files]
    assert decoded["base64_attachments"] == expected
    assert len(files[0][1]) > CHUNK  # more than one piece was joined


async def test_a_send_with_a_file_goes_out_with_a_length_and_is_sent_whole_each_time() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = await request.aread()
        assert request.headers["content-length"] == str(len(body))
        assert "transfer-encoding" not in request.headers
        status = 503 if len(seen) == 1 else 201
        return httpx.Response(status, json={"timestamp": "17"})

    http = httpx.AsyncClient(base_url="http://signal", transport=httpx.MockTransport(handler))
    client = SignalClient(http)
    photo = OutboundAttachment(b"\x00\xff" * 100_000, "image/jpeg; q=1", "p;1.jpg")
    with pytest.raises(ApiError):  # the first answer is an error: the caller sends again
        await client.send("+1", ["+2"], "look", attachments=[photo])
    assert await client.send("+1", ["+2"], "look", attachments=[photo]) == 17
    bodies = [json.loads(r.content) for r in seen]
    assert bodies[0] == bodies[1]
    assert bodies[0]["base64_attachments"] == [photo.wire()]
    assert bodies[0]["message"] == "look"
