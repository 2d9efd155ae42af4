"""Relay benchmark: the bridge against the floor of what any relay must do (not a test).

Usage::

    python bench/relay_bench.py [--messages 2000] [--concurrency 16] [--chats 50]
                                [--synchronous FULL] [--signal-mode json-rpc]

Per bridged message the unavoidable work is one inbound HTTP request, one outbound HTTP request
and one durable write (DESIGN.md section 5). The floor measured here is a *bare relay*: a raw
ASGI handler on hypercorn that wraps each webhook body, unparsed, into a ``/v2/send`` call with
httpx, with no database at all. The real bridge runs in the same process, on the same machine,
against the same FakeSignal, with the same webhook bodies, so the ratio of the two is what the
bridge's parsing, journaling, routing and bookkeeping cost.

Phases, all in one trio run:

1. relay   WhatsApp -> Signal through the bare relay;
2. bridge  WhatsApp -> Signal through ``whatsignal.Bridge`` (signed webhooks posted with httpx,
           so the load generator, not FakeWaha's webhook machinery, sets the pace);
3. bridge  Signal -> WhatsApp: envelopes injected into FakeSignal as one burst, each a reply
           quoting a message of phase 2, so it routes to its chat.

Latency is from the moment a message is injected (the webhook POST starts, or the envelope is
queued) to the moment the fake upstream records the send. Throughput is messages divided by the
time from the first injection to the last arrival. Peak RSS is the whole process (simulators,
load generator and bridge): it only grows, so each phase's figure includes the ones before.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import resource
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from tp_parts import (
    API_KEY,
    BRIDGE_NUMBER,
    DESTINATION,
    SECRET,
    SESSION,
    TOKEN,
    ASGIApp,
    Receive,
    Scope,
    Send,
    asgi_lifespan,
    read_body,
)

from whatsignal._serve import base_url, serve_app
from whatsignal.config import config_from_mapping
from whatsignal.service import Bridge
from whatsignal.testing import FakeSignal, FakeWaha, Recorded


@attrs.frozen
class Result:
    """One phase: when each message was injected and when it arrived (trio clock)."""

    name: str
    injected: dict[str, float]
    arrived: dict[str, float]
    rss_mb: float = attrs.field(factory=lambda: peak_rss_mb())

    @property
    def count(self) -> int:
        return len(self.arrived)

    @property
    def elapsed(self) -> float:
        return max(self.arrived.values()) - min(self.injected.values())

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else float("inf")

    def latencies(self) -> list[float]:
        return sorted(self.arrived[t] - self.injected[t] for t in self.arrived)

    def percentile(self, p: float) -> float:
        values = self.latencies()
        rank = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
        return values[rank]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# The bare relay --------------------------------------------------------------------------------


def bare_relay(client: httpx.AsyncClient, send_url: str) -> ASGIApp:
    """An ASGI app that forwards every request body, unparsed, as a Signal message.

    The body is embedded as a JSON string (an escape, not a parse) into a fixed ``/v2/send``
    request; the answer is 200 once signal-cli accepted it, else 502.
    """
    head = json.dumps({"number": BRIDGE_NUMBER, "recipients": [DESTINATION]})[:-1].encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await asgi_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        text = (await read_body(receive)).decode("utf-8", errors="replace")
        payload = head + b',"message":' + json.dumps(text).encode() + b"}"
        response = await client.post(
            send_url, content=payload, headers={"Content-Type": "application/json"}
        )
        status = 200 if response.status_code < 300 else 502
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"status":"ok"}'})

    return app


# Load generation -------------------------------------------------------------------------------


def webhook_bodies(waha: FakeWaha, prefix: str, count: int, chats: int) -> list[tuple[str, bytes]]:
    """``count`` realistic WAHA ``message`` webhooks (token, raw body), round-robin over chats.

    FakeWaha builds them (it has no webhook URL, so it delivers nothing itself).
    """
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        token = f"{prefix}-{i:06d}"
        sender = f"+4917{i % chats:08d}"
        payload = waha.inject_message(SESSION, from_=sender, body=token, notify_name="Bench")
        body = waha.envelope("message", SESSION, payload)
        out.append((token, json.dumps(body, separators=(",", ":")).encode()))
    return out


def signature(raw: bytes) -> str:
    return hmac.new(SECRET.encode(), raw, hashlib.sha512).hexdigest()


async def post_webhooks(
    url: str,
    bodies: list[tuple[str, bytes]],
    concurrency: int,
    rate: float,
    injected: dict[str, float],
) -> None:
    """POST every body to ``url`` from ``concurrency`` concurrent clients; each must get 2xx.

    ``rate`` > 0 paces the starts (message i starts ``i / rate`` s in, open loop); 0 posts as
    fast as the clients get answers (closed loop).
    """
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    items: Iterator[tuple[int, tuple[str, bytes]]] = enumerate(bodies)
    start = trio.current_time()
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def poster() -> None:
            for i, (token, raw) in items:
                if rate > 0:
                    await trio.sleep_until(start + i / rate)
                injected[token] = trio.current_time()
                response = await client.post(
                    url,
                    content=raw,
                    headers={"Content-Type": "application/json", "X-Webhook-Hmac": signature(raw)},
                )
                if response.status_code >= 300:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(poster)


@attrs.define(eq=False)
class Arrivals:
    """First arrival time of each token in a fake's records, scanned incrementally (rescanning
    every record on every poll would make the benchmark measure itself)."""

    records: list[Recorded]
    path: str
    field: str
    prefix: str
    seen: dict[str, float] = attrs.Factory(dict)
    _scanned: int = 0

    def update(self) -> dict[str, float]:
        fresh = self.records[self._scanned :]
        self._scanned += len(fresh)
        for record in fresh:
            if record.path != self.path:
                continue
            for token in TOKEN.findall(str(record.body.get(self.field, ""))):
                if token.startswith(self.prefix):
                    self.seen.setdefault(token, record.at)
        return self.seen

    async def wait(self, expected: int, within: float) -> dict[str, float]:
        """Poll until ``expected`` distinct tokens arrived; the times come from the records,
        so the polling interval does not affect them."""
        with trio.fail_after(within):
            while len(self.update()) < expected:
                await trio.sleep(0.05)
        return dict(self.seen)


# Phases ----------------------------------------------------------------------------------------


async def relay_phase(
    args: argparse.Namespace,
    fake_signal: FakeSignal,
    signal_url: str,
    bodies: list[tuple[str, bytes]],
) -> Result:
    concurrency = args.concurrency
    injected: dict[str, float] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client, trio.open_nursery() as n:
        app = bare_relay(client, f"{signal_url}/v2/send")
        binds: list[str] = await n.start(
            lambda task_status: serve_app(app, host="127.0.0.1", port=0, task_status=task_status)
        )
        await post_webhooks(base_url(binds), bodies, concurrency, args.rate, injected)
        arrived = await Arrivals(fake_signal.sent, "/v2/send", "message", "relay-").wait(
            len(bodies), within=120
        )
        n.cancel_scope.cancel()
    return Result("bare relay  WA->Signal", injected, arrived)


def bridge_config(
    tmp: Path, waha_url: str, signal_url: str, synchronous: str, encrypt: bool = False
) -> Any:
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": waha_url, "timeout_ms": 30000},
        "signal": {
            "rpc_url": signal_url,
            "intermediaryPhoneNumber": BRIDGE_NUMBER,
            "pollTimeoutSec": 1,
            "pollIntervalSec": 1,
            "httpTimeoutSec": 60,
        },
        "channels": [{"whatsappSessionName": SESSION, "signalDestinationPhoneNumber": DESTINATION}],
        "database": {"path": str(tmp / "bench.db"), "synchronous": synchronous},
        "server": {"host": "127.0.0.1", "port": 0, "shutdownGraceSec": 1},
        "log_level": "warn",
    }
    env = {
        "WHATSIGNAL_ENV": "development",
        "WHATSAPP_API_KEY": API_KEY,
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
    }
    if encrypt:  # the store encrypts whenever the secret is set, as in secure mode
        env.update(
            WHATSIGNAL_ENCRYPTION_SECRET="b" * 40,
            WHATSIGNAL_ENCRYPTION_SALT="bench-salt-0123456789",
            WHATSIGNAL_ENCRYPTION_LOOKUP_SALT="bench-lookup-0123",
        )
    return config_from_mapping(data, env=env)


async def wait_connected(bridge: Bridge) -> None:
    """In json-rpc mode, wait until the receiver's websocket is up (else envelopes drop)."""
    with trio.fail_after(10):
        await bridge.receiving()


async def bridge_phases(
    args: argparse.Namespace,
    waha: FakeWaha,
    fake_signal: FakeSignal,
    urls: tuple[str, str],
    bodies: list[tuple[str, bytes]],
) -> tuple[Result, Result]:
    with tempfile.TemporaryDirectory() as tmp:
        bridge = Bridge(bridge_config(Path(tmp), urls[0], urls[1], args.synchronous, args.encrypt))
        async with trio.open_nursery() as nursery:
            await nursery.start(bridge.run)
            if args.signal_mode == "json-rpc":
                await wait_connected(bridge)
            injected: dict[str, float] = {}
            url = f"{bridge.url}/webhook/whatsapp"
            await post_webhooks(url, bodies, args.concurrency, args.rate, injected)
            arrived = await Arrivals(fake_signal.sent, "/v2/send", "message", "bridge-").wait(
                len(bodies), within=300
            )
            to_signal = Result("bridge      WA->Signal", injected, arrived)

            # Signal -> WhatsApp: reply to one bridged message of each chat.
            quotes: dict[str, int] = {}
            for message in fake_signal.messages:
                found = TOKEN.search(message.message)
                if found and found.group().startswith("bridge"):
                    chat = int(found.group().split("-")[1]) % args.chats
                    quotes.setdefault(str(chat), message.timestamp)
            back: dict[str, float] = {}
            start = trio.current_time()
            for i in range(args.messages):
                token = f"reply-{i:06d}"
                if args.rate > 0:
                    await trio.sleep_until(start + i / args.rate)
                back[token] = trio.current_time()
                fake_signal.inject_envelope(
                    DESTINATION,
                    message=token,
                    quote_timestamp=quotes[str(i % args.chats)],
                    quote_author=BRIDGE_NUMBER,
                )
            arrived_back = await Arrivals(waha.sent, "/api/sendText", "text", "reply-").wait(
                args.messages, within=300
            )
            nursery.cancel_scope.cancel()
    return to_signal, Result("bridge      Signal->WA", back, arrived_back)


def print_result(result: Result, baseline: Result | None) -> None:
    line = (
        f"{result.name}: {result.count} msgs in {result.elapsed:.2f} s = "
        f"{result.rate:,.0f} msg/s; latency p50 {result.percentile(50) * 1000:.1f} ms, "
        f"p95 {result.percentile(95) * 1000:.1f} ms, p99 {result.percentile(99) * 1000:.1f} ms; "
        f"peak RSS {result.rss_mb:.0f} MiB"
    )
    print(line, flush=True)
    if baseline is not None:
        print(
            f"  -> vs the bare relay: throughput {result.rate / baseline.rate:.2f}x, "
            f"p50 latency {result.percentile(50) / baseline.percentile(50):.1f}x, "
            f"p99 latency {result.percentile(99) / baseline.percentile(99):.1f}x",
            flush=True,
        )


async def bench(args: argparse.Namespace) -> None:
    waha = FakeWaha(api_key=API_KEY, sessions=(SESSION,), check_contracts=False)
    fake_signal = FakeSignal(
        mode=args.signal_mode,
        numbers=(BRIDGE_NUMBER,),
        check_contracts=False,
        socket_buffer=max(16, 2 * args.messages),
    )
    async with trio.open_nursery() as nursery:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(fake_signal.run)
        relay_bodies = webhook_bodies(waha, "relay", args.messages, args.chats)
        bridge_bodies = webhook_bodies(waha, "bridge", args.messages, args.chats)
        pace = f"{args.rate:g} msg/s" if args.rate > 0 else "unpaced (closed loop)"
        print(
            f"{args.messages} messages, {args.concurrency} concurrent webhook posters, "
            f"{args.chats} chats, rate {pace}, synchronous={args.synchronous}, "
            f"signal-cli {args.signal_mode}, encrypted={args.encrypt}; "
            f"peak RSS before: {peak_rss_mb():.0f} MiB",
            flush=True,
        )
        relay = await relay_phase(args, fake_signal, signal_url, relay_bodies)
        print_result(relay, None)
        to_signal, to_whatsapp = await bridge_phases(
            args, waha, fake_signal, (waha_url, signal_url), bridge_bodies
        )
        print_result(to_signal, relay)
        print_result(to_whatsapp, None)
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent webhook posters")
    parser.add_argument("--chats", type=int, default=50, help="WhatsApp chats the messages use")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="inject at this many messages/s (open loop); 0: as fast as possible (default)",
    )
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    parser.add_argument("--signal-mode", default="json-rpc", choices=["json-rpc", "normal"])
    parser.add_argument("--encrypt", action="store_true", help="encryption at rest on")
    args = parser.parse_args()
    if args.messages < 1 or args.concurrency < 1 or args.chats < 1 or args.rate < 0:
        parser.error("--messages, --concurrency and --chats must be >= 1, --rate >= 0")
    trio.run(bench, args)


if __name__ == "__main__":
    main()
