"""The parts of ``throughput.py`` that run in processes of their own: the bare relay and the
load generator (``python bench/throughput.py relay|load ...``), plus what the orchestrator
uses to build bodies and read the sinks.

Times that cross processes are ``time.monotonic()``: the simulators run with
``--monotonic-clock``, so a send's ``at`` in ``GET /_sim/sent`` is on the same clock as the
load generator's injection times.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from whatsignal._serve import serve_app
from whatsignal.clock import wall_clock
from whatsignal.testing import FakeWaha
from whatsignal.testing._signal_envelopes import Person, data_message, envelope, quote, stable_uuid

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BRIDGE_NUMBER = "+15550000001"
DESTINATION = "+15551110001"
SESSION = "bench"
SECRET = "b" * 40
API_KEY = "bench-api-key"
PUSH_TOKEN = "p" * 40
RELAY_CHAT = "4917000000001@c.us"
TOKEN = re.compile(r"\b[a-z]+-\d{6}\b")


# The bare relay --------------------------------------------------------------------------------


def signal_sim_argv(sim: Sequence[str], port: int) -> list[str]:
    """The signal-cli simulator for a bench: json-rpc mode, the bench's number, no contract
    checks (they cost the simulator CPU that is not the bridge's)."""
    return [
        *sim,
        *("signal", "--port", str(port), "--number", BRIDGE_NUMBER, "--mode", "json-rpc"),
        "--no-contract-checks",
    ]


async def asgi_lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI server's lifespan messages (the bare relays have nothing to set up)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    """A request's whole body from its ASGI messages."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    return b"".join(chunks)


def bare_relay(
    client: httpx.AsyncClient,
    signal_url: str,
    waha_url: str,
    durable: Callable[[bytes], None] | None = None,
) -> ASGIApp:
    """A raw ASGI app that forwards each body, unparsed, with one httpx call.

    ``/webhook/whatsapp`` becomes a Signal ``/v2/send``, anything else a WAHA ``sendText``; the
    body is embedded as a JSON string (an escape, not a parse). It answers 200 once the
    upstream accepted the call, else 502. ``durable`` (``--durable-relay``): called with each
    body in a worker thread before it is forwarded (a write and an fdatasync).
    """
    to_signal = json.dumps({"number": BRIDGE_NUMBER, "recipients": [DESTINATION]})[:-1].encode()
    to_waha = json.dumps({"session": SESSION, "chatId": RELAY_CHAT})[:-1].encode()
    json_type = {"Content-Type": "application/json"}
    waha_headers = {**json_type, "X-Api-Key": API_KEY}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await asgi_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if durable is not None:
            await trio.to_thread.run_sync(durable, body)
        text = json.dumps(body.decode("utf-8", errors="replace")).encode()
        if scope["path"] == "/webhook/whatsapp":
            payload = to_signal + b',"message":' + text + b"}"
            response = await client.post(signal_url, content=payload, headers=json_type)
        else:
            payload = to_waha + b',"text":' + text + b"}"
            response = await client.post(waha_url, content=payload, headers=waha_headers)
        await send(
            {
                "type": "http.response.start",
                "status": 200 if response.status_code < 300 else 502,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

    return app


async def run_relay(port: int, signal_base: str, waha_base: str, durable: Path | None) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    write = None
    if durable is not None:
        fd = os.open(durable, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

        def write(body: bytes) -> None:
            os.write(fd, body + b"\n")
            os.fdatasync(fd)

    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:
        app = bare_relay(client, f"{signal_base}/v2/send", f"{waha_base}/api/sendText", write)
        await serve_app(app, host="127.0.0.1", port=port)


# The load generator ----------------------------------------------------------------------------


def webhook_request(path: str, body: bytes, extra: dict[str, str]) -> bytes:
    """One pre-built HTTP/1.1 POST, keep-alive."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head += [f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in extra.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def signed(body: bytes) -> dict[str, str]:
    return {"X-Webhook-Hmac": hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()}


@attrs.define(eq=False)
class Connection:
    """A keep-alive HTTP/1.1 connection that sends pre-built requests and reads the status
    (a minimal client: the generator must cost far less than what it measures)."""

    host: str
    port: int
    stream: trio.SocketStream | None = None
    buffer: bytearray = attrs.Factory(bytearray)

    async def request(self, raw: bytes) -> tuple[int, float]:
        """Send ``raw``; the answer's status and ``Retry-After`` (0 when absent)."""
        if self.stream is None:
            self.stream = await trio.open_tcp_stream(self.host, self.port)
            self.buffer.clear()
        await self.stream.send_all(raw)
        while b"\r\n\r\n" not in self.buffer:
            await self._fill()
        end = self.buffer.index(b"\r\n\r\n") + 4
        lines = bytes(self.buffer[: end - 4]).decode("latin-1").split("\r\n")
        del self.buffer[:end]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while b"0\r\n\r\n" not in self.buffer:
                await self._fill()
            length = self.buffer.index(b"0\r\n\r\n") + 5
        else:
            length = int(headers.get("content-length", "0"))
            while len(self.buffer) < length:
                await self._fill()
        del self.buffer[:length]
        if headers.get("connection", "").lower() == "close":
            await self.stream.aclose()
            self.stream = None
        return int(lines[0].split()[1]), float(headers.get("retry-after", "0") or 0)

    async def _fill(self) -> None:
        assert self.stream is not None
        data = await self.stream.receive_some(65536)
        if not data:
            raise ConnectionError("the server closed the connection mid-answer")
        self.buffer += data


@attrs.define(eq=False)
class LoadResult:
    injected: dict[str, float] = attrs.Factory(dict)
    refused: int = 0


async def generate(
    port: int, requests: list[tuple[str, bytes]], concurrency: int, rate: float
) -> LoadResult:
    """Send every request from ``concurrency`` connections; each must get 2xx in the end.

    ``rate`` > 0 paces the starts (open loop), 0 sends as fast as answers come (closed loop).
    A 503 is retried after its ``Retry-After`` (capped at 0.5 s here), as WAHA retries; the
    injection time stays the first attempt's, so the wait is part of the latency.
    """
    result = LoadResult()
    items: Iterator[tuple[int, tuple[str, bytes]]] = enumerate(requests)
    start = trio.current_time()

    async def worker() -> None:
        connection = Connection("127.0.0.1", port)
        for i, (token, raw) in items:
            if rate > 0:
                await trio.sleep_until(start + i / rate)
            result.injected[token] = time.monotonic()
            while True:
                status, retry_after = await connection.request(raw)
                if status != 503:
                    break
                result.refused += 1
                await trio.sleep(min(retry_after, 0.5) or 0.05)
            if status >= 300:
                raise RuntimeError(f"{token}: answered {status}")
        if connection.stream is not None:
            await connection.stream.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(worker)
    return result


# Reading the sinks -----------------------------------------------------------------------------


@attrs.define(eq=False)
class Arrivals:
    """First arrival (the simulator's ``at``) of each token with ``prefix`` at ``path``, read
    incrementally from ``GET /_sim/sent?since=N`` (every call goes there, so the count is
    kept across phases)."""

    client: httpx.AsyncClient
    sink: str
    path: str
    field: str
    seen_records: int = 0
    records: list[dict[str, Any]] = attrs.Factory(list)

    async def update(self) -> None:
        answer = await self.client.get(f"{self.sink}/_sim/sent?since={self.seen_records}")
        answer.raise_for_status()
        fresh = answer.json()
        self.seen_records += len(fresh)
        self.records += [r for r in fresh if r["path"] == self.path]

    async def wait(self, prefix: str, expected: int, within: float) -> dict[str, float]:
        seen: dict[str, float] = {}
        scanned = 0
        with trio.fail_after(within):
            while True:
                await self.update()
                for record in self.records[scanned:]:
                    for token in TOKEN.findall(str(record["body"].get(self.field, ""))):
                        if token.startswith(prefix + "-"):
                            seen.setdefault(token, record["at"])
                scanned = len(self.records)
                if len(seen) >= expected:
                    return seen
                await trio.sleep(0.2)


# Bodies ----------------------------------------------------------------------------------------


def wa_requests(waha: FakeWaha, prefix: str, count: int, chats: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        token = f"{prefix}-{i:06d}"
        payload = waha.inject_message(
            SESSION, from_=f"+4917{i % chats:08d}", body=token, notify_name="Bench"
        )
        raw = json.dumps(waha.envelope("message", SESSION, payload), separators=(",", ":"))
        out.append(
            (token, webhook_request("/webhook/whatsapp", raw.encode(), signed(raw.encode())))
        )
    return out


@attrs.define
class Envelopes:
    """Signal replies, each quoting a bridged message (one per chat), unique timestamps."""

    quotes: list[int]
    next_ts: int = attrs.field(factory=lambda: int(wall_clock() * 1000))

    def requests(self, prefix: str, count: int) -> list[tuple[str, bytes]]:
        user = Person(DESTINATION, stable_uuid(DESTINATION), "Bench User")
        bridge = Person(BRIDGE_NUMBER, stable_uuid(BRIDGE_NUMBER), "Bridge")
        out = []
        for i in range(count):
            token, self.next_ts = f"{prefix}-{i:06d}", self.next_ts + 1
            target = self.quotes[i % len(self.quotes)]
            data = data_message(self.next_ts, message=token, quote=quote(target, bridge, None))
            env = envelope(user, self.next_ts, dataMessage=data)
            params = {"envelope": env, "account": BRIDGE_NUMBER}
            line = {"jsonrpc": "2.0", "method": "receive", "params": params}
            raw = json.dumps(line, separators=(",", ":")).encode()
            out.append((token, webhook_request(f"/webhook/signal?token={PUSH_TOKEN}", raw, {})))
        return out


def bridge_env(args: argparse.Namespace) -> dict[str, str]:
    env = {
        "WHATSAPP_API_KEY": API_KEY,
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
        "WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN": PUSH_TOKEN,
        "WHATSIGNAL_ADMIN_TOKEN": "a" * 40,
        "WHATSIGNAL_ENCRYPTION_SECRET": "e" * 40,
        "WHATSIGNAL_ENCRYPTION_SALT": "bench-salt-0123456789",
        "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT": "bench-lookup-0123",
    }
    if args.plain:  # development mode: the store stays in clear without the encryption secret
        env = {k: v for k, v in env.items() if "ENCRYPTION" not in k}
        env["WHATSIGNAL_ENV"] = "development"
    return env


def bridge_config(tmp: Path, ports: dict[str, int], args: argparse.Namespace) -> Path:
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": f"http://127.0.0.1:{ports['waha']}", "timeout_ms": 30000},
        "signal": {
            "rpc_url": f"http://127.0.0.1:{ports['signal']}",
            "intermediaryPhoneNumber": BRIDGE_NUMBER,
            "httpTimeoutSec": 60,
        },
        "channels": [{"whatsappSessionName": SESSION, "signalDestinationPhoneNumber": DESTINATION}],
        "database": {"path": str(tmp / "bridge.db"), "synchronous": "FULL"},
        "server": {"host": "127.0.0.1", "port": ports["bridge"], "shutdownGraceSec": 1},
        "log_level": "warn",
    }
    if args.max_backlog is not None:
        data["server"]["maxPendingBacklog"] = args.max_backlog
    path = tmp / "config.json"
    path.write_text(json.dumps(data))
    return path
