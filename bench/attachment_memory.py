"""Peak memory of sending six 50 MB files to signal-cli at once (issue 16, item 3).

Each mode runs in its own process: ``streamed`` is ``SignalClient.send`` as it is (the JSON
body streamed, base64 in pieces); ``whole`` builds the body the way it was built before (every
data URI a whole string, the JSON encoded at once). The receiving end is an httpx mock that
reads each body in pieces and keeps only its length. Prints the peak RSS above what the files
themselves take (they are in memory before the sends start in both modes).

    .venv/bin/python bench/attachment_memory.py [--files 6] [--mb 50]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import httpx
import trio

from whatsignal.clients import OutboundAttachment, SignalClient
from whatsignal.clients._http import request


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sink(httpx.AsyncBaseTransport):
    """Reads each request body piece by piece, as a socket would, keeping only its length
    (httpx's MockTransport would read the whole body into memory first)."""

    async def handle_async_request(self, request_: httpx.Request) -> httpx.Response:
        size = 0
        async for piece in request_.stream:  # type: ignore[union-attr]
            size += len(piece)
            await trio.lowlevel.checkpoint()
        return httpx.Response(201, json={"timestamp": str(size)})


async def _run(mode: str, files: int, mb: int) -> None:
    http = httpx.AsyncClient(base_url="http://signal", transport=Sink())
    client = SignalClient(http)
    payloads = [
        OutboundAttachment(bytes([n]) * (mb << 20), "video/mp4", "v.mp4") for n in range(files)
    ]
    before = _peak_mb()

    async def send(attachment: OutboundAttachment) -> None:
        if mode == "streamed":
            await client.send("+1", ["+2"], "", attachments=[attachment])
        else:
            body: dict[str, object] = {"number": "+1", "recipients": ["+2"], "message": ""}
            body["base64_attachments"] = [attachment.wire()]
            await request(http, "POST", "/v2/send", operation="send", json_body=body)

    async with trio.open_nursery() as nursery:
        for attachment in payloads:
            nursery.start_soon(send, attachment)
    print(
        f"{mode:8} files held {before:7.0f} MB, peak {_peak_mb():7.0f} MB, "
        f"above the files {_peak_mb() - before:7.0f} MB ({files} x {mb} MB at once)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--mode", choices=["streamed", "whole"])
    args = parser.parse_args()
    if args.mode:
        trio.run(_run, args.mode, args.files, args.mb)
        return
    for mode in ("whole", "streamed"):
        cmd = [
            sys.executable,
            __file__,
            "--mode",
            mode,
            "--files",
            str(args.files),
            "--mb",
            str(args.mb),
        ]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
