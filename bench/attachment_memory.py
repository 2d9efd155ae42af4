"""Peak memory of six 50 MB files crossing the bridge at once, each way (issue 16, item 3).

End to end per file: the download (WAHA's ``/api/files/...`` for WhatsApp -> Signal,
signal-cli's ``/v1/attachments/{id}`` for Signal -> WhatsApp) and the send (signal-cli's
``/v2/send``, WAHA's ``/api/sendFile``), through the bridge's clients. Each direction and mode
runs in its own process:

- ``streamed`` is the bridge as it is: the download goes to a temporary file under the cap
  (``Spool``), the send's JSON body is streamed from it, base64 in pieces;
- ``whole`` is how it was before: the download joined into one ``bytes``, the send's body
  built as one string (the base64 data URI or ``file.data``) and JSON-encoded at once.

The upstreams are an in-process httpx transport that makes each file up as it serves it
(nothing held) and reads each request body piece by piece keeping only its length, as a
socket would. Prints the peak RSS above what the process held before the files started.

    .venv/bin/python bench/attachment_memory.py [--files 6] [--mb 50]
"""

from __future__ import annotations

import argparse
import base64
import resource
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import trio

from whatsignal.clients import OutboundAttachment, SignalClient, Spool, WahaClient
from whatsignal.clients._http import request

BLOCK = bytes(range(256)) * 256  # 64 KB, repeated to make up each file


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Upstream(httpx.AsyncBaseTransport):
    """Serves any GET as a file of ``size`` bytes made up on the fly; answers any POST after
    reading its body piece by piece (httpx's MockTransport would read it whole first)."""

    def __init__(self, size: int) -> None:
        self.size = size

    async def _file(self) -> AsyncIterator[bytes]:
        for start in range(0, self.size, len(BLOCK)):
            yield BLOCK[: min(len(BLOCK), self.size - start)]
            await trio.lowlevel.checkpoint()

    async def handle_async_request(self, request_: httpx.Request) -> httpx.Response:
        if request_.method == "GET":
            headers = {"content-length": str(self.size), "content-type": "application/pdf"}
            return httpx.Response(200, headers=headers, content=self._file())
        size = 0
        async for piece in request_.stream:  # type: ignore[union-attr]
            size += len(piece)
            await trio.lowlevel.checkpoint()
        return httpx.Response(201, json={"timestamp": str(size), "id": "true_1@c.us_X"})


async def _download_whole(http: httpx.AsyncClient, url: str) -> bytes:
    """The download as it was: streamed, its chunks joined into one ``bytes``."""
    async with http.stream("GET", url) as response:
        chunks = [chunk async for chunk in response.aiter_bytes()]
    return b"".join(chunks)


async def _wa_to_signal(mode: str, size: int) -> None:
    waha_http = httpx.AsyncClient(base_url="http://waha", transport=Upstream(size))
    signal_http = httpx.AsyncClient(base_url="http://signal", transport=Upstream(size))
    url = "http://waha/api/files/personal/f.pdf"
    if mode == "whole":
        data = await _download_whole(waha_http, url)
        head = OutboundAttachment(data, "application/pdf", "f.pdf").wire_head()
        body = {"number": "+1", "recipients": ["+2"], "message": "", "base64_attachments": []}
        body["base64_attachments"] = [head + base64.b64encode(data).decode("ascii")]
        await request(signal_http, "POST", "/v2/send", operation="send", json_body=body)
        return
    with Spool() as spool:
        await WahaClient(waha_http).download_media(url, max_bytes=size, into=spool)
        attachment = OutboundAttachment(spool, "application/pdf", "f.pdf")
        await SignalClient(signal_http).send("+1", ["+2"], "", attachments=[attachment])


async def _signal_to_wa(mode: str, size: int) -> None:
    signal_http = httpx.AsyncClient(base_url="http://signal", transport=Upstream(size))
    waha_http = httpx.AsyncClient(base_url="http://waha", transport=Upstream(size))
    if mode == "whole":
        data = await _download_whole(signal_http, "/v1/attachments/f1.pdf")
        file = {"mimetype": "application/pdf", "filename": "f.pdf"}
        file["data"] = base64.b64encode(data).decode("ascii")
        body = {"session": "s", "chatId": "1@c.us", "file": file}
        await request(waha_http, "POST", "/api/sendFile", operation="send", json_body=body)
        return
    waha = WahaClient(waha_http)
    with Spool() as spool:
        await SignalClient(signal_http).attachment("f1.pdf", max_bytes=size, into=spool)
        await waha.send_media(
            "s", "1@c.us", "file", data=spool, mimetype="application/pdf", filename="f.pdf"
        )


async def _run(direction: str, mode: str, files: int, mb: int) -> None:
    before = _peak_mb()
    crossing = _wa_to_signal if direction == "wa_to_signal" else _signal_to_wa
    began = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(files):
            nursery.start_soon(crossing, mode, mb << 20)
    took = trio.current_time() - began
    above = _peak_mb() - before
    print(
        f"{direction:13} {mode:8} peak {_peak_mb():6.0f} MB, above the start {above:6.0f} MB "
        f"({above / files:6.1f} MB per file; {files} x {mb} MB at once, {took:4.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--direction", choices=["wa_to_signal", "signal_to_wa"])
    parser.add_argument("--mode", choices=["streamed", "whole"])
    args = parser.parse_args()
    if args.mode and args.direction:
        trio.run(_run, args.direction, args.mode, args.files, args.mb)
        return
    for direction in ("wa_to_signal", "signal_to_wa"):
        for mode in ("whole", "streamed"):
            cmd = [sys.executable, __file__, "--direction", direction, "--mode", mode]
            cmd += ["--files", str(args.files), "--mb", str(args.mb)]
            subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
