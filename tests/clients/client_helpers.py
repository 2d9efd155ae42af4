"""A scripted upstream for client tests: records every request and answers from a queue.

Requests are checked against the vendored upstream specs when the test names the spec
operation, so a client that drifts from the real wire format fails here, not in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import trio

from whatsignal.clients import SignalClient, Spool, WahaClient
from whatsignal.clients._streamed import CHUNK
from whatsignal.testing.contract import signal_contract, waha_contract

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


@attrs.define(eq=False)
class Upstream:
    """An httpx MockTransport handler with a queue of answers."""

    answers: list[Answer] = attrs.Factory(list)
    requests: list[httpx.Request] = attrs.Factory(list)

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def check_waha(method: str, spec_path: str, body: Any) -> None:
    waha_contract().check_request(method, spec_path, body)


def check_signal(method: str, spec_path: str, body: Any) -> None:
    signal_contract().check_request(method, spec_path, body)


def check_waha_media(spec_path: str, body: Any) -> None:
    """Check a send{Image,File,Voice,Video} body.

    The spec types the voice and video files' ``mimetype`` and ``filename`` as objects (an
    upstream spec error: WAHA reads strings), so the file is checked against ``BinaryFile``
    and the rest of the body with those two members stood in for.
    """
    file = body["file"]
    waha_contract().check_definition("BinaryFile", file)
    if spec_path in ("/api/sendVoice", "/api/sendVideo"):
        body = {**body, "file": {"mimetype": {}, "filename": {}, "data": file["data"]}}
    waha_contract().check_request("POST", spec_path, body)


async def spooled(spool: Spool) -> bytes:
    """Everything a spool holds, read back the way a send reads it."""
    return b"".join([piece async for piece in spool.pieces(CHUNK)])


async def download(waha: WahaClient, url: Any, *, max_bytes: int) -> tuple[bytes, str | None]:
    """``WahaClient.download_media`` into a spool: the file's bytes and WAHA's content type."""
    with Spool() as spool:
        content_type = await waha.download_media(url, max_bytes=max_bytes, into=spool)
        return await spooled(spool), content_type


async def attachment(signal: SignalClient, attachment_id: str, *, max_bytes: int) -> bytes:
    """``SignalClient.attachment`` into a spool: the file's bytes."""
    with Spool() as spool:
        await signal.attachment(attachment_id, max_bytes=max_bytes, into=spool)
        return await spooled(spool)


@attrs.define(eq=False)
class RawRequests:
    """The HTTP/1.1 requests arriving on one connection, read whole (a test server's side)."""

    stream: trio.SocketStream
    buffer: bytes = b""

    async def next(self) -> tuple[str, dict[str, str], bytes] | None:
        """The next request's first line, headers (lower-case names) and body; None once
        the client closed the connection."""
        while b"\r\n\r\n" not in self.buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        first, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self.buffer += await self.stream.receive_some(65536)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return first, headers, body
