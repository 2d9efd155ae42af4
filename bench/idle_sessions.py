"""Idle cost benchmark: 1,000 idle sessions must cost no more polling than one (not a test).

Usage::

    python bench/idle_sessions.py [--sessions 1000] [--idle 5] [--signal-mode normal]

For each of 1 and ``--sessions`` configured channels (one WAHA session each, all WORKING in
FakeWaha), the bridge runs in-process against FakeWaha and FakeSignal; after it has started and
``--settle`` seconds have passed, every HTTP request it makes to either simulator is counted for
``--idle`` seconds, with nothing to bridge. A session's worker waits on its doorbell, so the
counts must be equal: only the Signal receiver (one per bridge number) and the session monitor
touch the network. With ``--signal-mode normal`` the receiver long-polls ``/v1/receive`` and
its requests show up in both counts; with ``json-rpc`` it holds one websocket and an idle bridge
makes no requests at all.

Also printed: requests made while starting, start time, peak RSS, and the bridge's trio task
count while idle (workers are tasks, not requests).
"""

from __future__ import annotations

import argparse
import collections
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import trio
from tp_parts import BRIDGE_NUMBER, DESTINATION, ASGIApp, Receive, Scope, Send

from whatsignal.config import config_from_mapping
from whatsignal.service import Bridge
from whatsignal.testing import FakeSignal, FakeWaha

SECRET = "i" * 40
API_KEY = "idle-api-key"
_VARYING = re.compile(r"s\d{5}|\+?\d{6,}")  # session names and phone numbers in paths


@attrs.define(eq=False)
class RequestLog:
    """Every HTTP request or websocket a simulator served: (trio time, upstream, method, path)."""

    entries: list[tuple[float, str, str, str]] = attrs.Factory(list)

    def wrap(self, upstream: str, app: ASGIApp) -> ASGIApp:
        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                method = str(scope.get("method", "WS"))
                self.entries.append((trio.current_time(), upstream, method, str(scope["path"])))
            await app(scope, receive, send)

        return counted

    def since(self, start: float) -> list[tuple[str, str, str]]:
        return [(up, method, path) for at, up, method, path in self.entries if at >= start]


@attrs.define(eq=False, kw_only=True)
class CountingWaha(FakeWaha):
    """FakeWaha that logs every request it serves."""

    log: RequestLog = attrs.Factory(RequestLog)

    def build_app(self) -> ASGIApp:
        return self.log.wrap("waha", super().build_app())


@attrs.define(eq=False, kw_only=True)
class CountingSignal(FakeSignal):
    """FakeSignal that logs every request it serves."""

    log: RequestLog = attrs.Factory(RequestLog)

    def build_app(self) -> ASGIApp:
        return self.log.wrap("signal", super().build_app())


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def session_names(count: int) -> list[str]:
    return [f"s{i:05d}" for i in range(count)]


def bridge_config(tmp: Path, waha_url: str, signal_url: str, sessions: list[str]) -> Any:
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": waha_url, "timeout_ms": 30000},
        "signal": {
            "rpc_url": signal_url,
            "intermediaryPhoneNumber": BRIDGE_NUMBER,
            "pollTimeoutSec": 1,
            "pollIntervalSec": 1,
            "httpTimeoutSec": 60,
            "maxConcurrentSessions": max(10, len(sessions)),
        },
        "channels": [
            {"whatsappSessionName": name, "signalDestinationPhoneNumber": DESTINATION}
            for name in sessions
        ],
        "database": {"path": str(tmp / "idle.db")},
        "server": {"host": "127.0.0.1", "port": 0, "shutdownGraceSec": 1},
        "log_level": "warn",
    }
    env = {
        "WHATSIGNAL_ENV": "development",
        "WHATSAPP_API_KEY": API_KEY,
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
    }
    return config_from_mapping(data, env=env)


def summary(requests: list[tuple[str, str, str]]) -> str:
    """Requests grouped by upstream, method and path (session names and numbers folded)."""
    folded = collections.Counter(
        f"{up} {method} {_VARYING.sub('…', path)}" for up, method, path in requests
    )
    return ", ".join(f"{n} x {what}" for what, n in sorted(folded.items())) or "none"


@attrs.frozen
class Measurement:
    sessions: int
    start_seconds: float
    start_requests: list[tuple[str, str, str]]
    idle_requests: list[tuple[str, str, str]]
    tasks: int


def count_tasks() -> int:
    """All trio tasks that exist now (simulators, servers, bridge actors)."""
    root = trio.lowlevel.current_root_task()
    count = 0
    stack = [root] if root is not None else []
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


async def measure(count: int, args: argparse.Namespace) -> Measurement:
    names = session_names(count)
    waha = CountingWaha(api_key=API_KEY, sessions=names, check_contracts=False)
    fake_signal = CountingSignal(
        mode=args.signal_mode, numbers=(BRIDGE_NUMBER,), check_contracts=False
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with trio.open_nursery() as nursery:
            waha_url: str = await nursery.start(waha.run)
            signal_url: str = await nursery.start(fake_signal.run)
            config = bridge_config(Path(tmp), waha_url, signal_url, names)
            began = time.perf_counter()
            bridge = Bridge(config)
            await nursery.start(bridge.run)
            start_seconds = time.perf_counter() - began
            await trio.sleep(args.settle)
            start_requests = [
                (up, m, p) for _, up, m, p in waha.log.entries + fake_signal.log.entries
            ]
            idle_from = trio.current_time()
            await trio.sleep(args.idle)
            tasks = count_tasks()
            idle = waha.log.since(idle_from) + fake_signal.log.since(idle_from)
            nursery.cancel_scope.cancel()
    return Measurement(count, start_seconds, start_requests, idle, tasks)


async def bench(args: argparse.Namespace) -> None:
    print(
        f"idle window {args.idle:g} s after {args.settle:g} s settling; "
        f"signal-cli {args.signal_mode} mode; pollTimeoutSec 1, pollIntervalSec 1",
        flush=True,
    )
    results: list[Measurement] = []
    for count in (1, args.sessions):
        result = await measure(count, args)
        results.append(result)
        print(
            f"{count:>6} sessions: {len(result.idle_requests)} requests while idle "
            f"({summary(result.idle_requests)}); start {result.start_seconds:.2f} s with "
            f"{len(result.start_requests)} requests; {result.tasks} trio tasks; "
            f"peak RSS {peak_rss_mb():.0f} MiB",
            flush=True,
        )
    many = results[-1]
    polls = [sum(1 for r in m.idle_requests if _is_receive(r)) for m in results]
    others = [len(m.idle_requests) - p for m, p in zip(results, polls, strict=True)]
    # The receiver's long poll is periodic (timeout + interval, about 2 s here), so a fixed
    # window holds one more or one fewer of them depending on where the cycle started.
    same = others[0] == others[1] and abs(polls[0] - polls[1]) <= 1
    print(
        f"1 vs {many.sessions} sessions: receive polls {polls[0]} vs {polls[1]}, other requests "
        f"{others[0]} vs {others[1]} -> {'same idle cost' if same else 'IDLE COST GROWS'}",
        flush=True,
    )


def _is_receive(request: tuple[str, str, str]) -> bool:
    upstream, _, path = request
    return upstream == "signal" and path.startswith("/v1/receive/")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1000, help="sessions of the big run")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds counted while idle")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after start, uncounted")
    parser.add_argument("--signal-mode", default="normal", choices=["normal", "json-rpc"])
    args = parser.parse_args()
    if args.sessions < 1 or args.idle <= 0 or args.settle < 0:
        parser.error("--sessions >= 1, --idle > 0 and --settle >= 0 please")
    trio.run(bench, args)


if __name__ == "__main__":
    main()
