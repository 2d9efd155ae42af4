"""Session churn benchmark: does a bridge that sees sessions come and go stay flat? (not a test)

Usage::

    python bench/session_churn.py [--sessions 100] [--rounds 10] [--interval 1]

The bridge runs in-process against FakeWaha and FakeSignal with only the ``"*"`` channel (every
session is discovered) and ``signal.sessionDiscoveryIntervalSec`` = ``--interval``. Each round
creates ``--sessions`` sessions over WAHA's HTTP API (they pair at once and go STARTING,
WORKING; the bridge learns of them from ``session.status`` webhooks and gives each a poller),
then deletes them all (WAHA's last word for each is STOPPED; the next listing no longer shows
them, and the bridge releases everything it kept for them).

After each round, once the bridge is back to no discovered session and the process is quiet,
it prints: the number of trio tasks in the process, the bridge's own tasks (its HTTP server's
connections aside) and those connections, its pollers, its session-table entries, its
doorbells, and the process's resident memory (RSS, MiB). Whatever the bridge keeps per session
must go with the session: its tasks, pollers, entries and doorbells back to where they were
before the first round, every round, and RSS level after the first round (which warms up
allocator arenas, caches and connection pools). FakeWaha's own records (events, deliveries,
sent) are cleared after each round, so that the simulator's memory does not hide the bridge's.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from whatsignal.config import Config, config_from_mapping
from whatsignal.service import Bridge, Parts
from whatsignal.testing import FakeSignal, FakeWaha

BRIDGE_NUMBER = "+15550000001"
DESTINATION = "+15551110001"
SECRET = "c" * 40
API_KEY = "churn-api-key"


def rss_mib() -> float:
    """The process's resident set size now, in MiB (Linux: /proc; elsewhere: the peak)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / (1024 * 1024)
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def subtree(task: trio.lowlevel.Task) -> list[trio.lowlevel.Task]:
    """A task and every task below it."""
    found, stack = [], [task]
    while stack:
        task = stack.pop()
        found.append(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return found


def count_tasks() -> int:
    """All trio tasks that exist now (simulators, servers, bridge actors)."""
    root = trio.lowlevel.current_root_task()
    return len(subtree(root)) if root is not None else 0


def bridge_tasks() -> tuple[int, int]:
    """The bridge's own tasks (those below ``Bridge.run``) apart from its HTTP server's
    connections, and those connections (kept alive by the clients: FakeWaha's webhook pool)."""
    root = trio.lowlevel.current_root_task()
    bridge = next(
        (t for t in (subtree(root) if root else []) if t.name.endswith("Bridge.run")), None
    )
    if bridge is None:
        return 0, 0
    tasks = connections = 0
    stack = [bridge]
    while stack:
        task = stack.pop()
        if task.name.endswith("_run_handler"):  # trio.serve_listeners: one per connection
            connections += 1
            continue
        tasks += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return tasks, connections


def bridge_config(tmp: Path, waha_url: str, signal_url: str, args: argparse.Namespace) -> Config:
    data: dict[str, Any] = {
        "whatsapp": {
            "api_base_url": waha_url,
            "timeout_ms": 30000,
            "sessionApiEnabled": True,
        },
        "signal": {
            "rpc_url": signal_url,
            "intermediaryPhoneNumber": BRIDGE_NUMBER,
            "pollTimeoutSec": 1,
            "pollIntervalSec": 1,
            "httpTimeoutSec": 60,
            "enableDynamicPolling": True,
            "sessionDiscoveryIntervalSec": args.interval,
            "maxConcurrentSessions": args.sessions,
        },
        "channels": [{"whatsappSessionName": "*", "signalDestinationPhoneNumber": DESTINATION}],
        "database": {"path": str(tmp / "churn.db")},
        "server": {"host": "127.0.0.1", "port": 0, "shutdownGraceSec": 1},
        "log_level": "warn",
    }
    env = {
        "WHATSIGNAL_ENV": "development",
        "WHATSAPP_API_KEY": API_KEY,
        "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
    }
    return config_from_mapping(data, env=env)


@attrs.frozen
class Figures:
    """What the bridge keeps, and what the process costs, at one moment."""

    tasks: int
    bridge: int
    connections: int
    pollers: int
    entries: int
    doorbells: int
    rss: float

    @classmethod
    def now(cls, parts: Parts) -> Figures:
        bridge, connections = bridge_tasks()
        return cls(
            tasks=count_tasks(),
            bridge=bridge,
            connections=connections,
            pollers=len(parts.registry.running()),
            entries=len(parts.sessions.entries()),
            doorbells=len(parts.doorbells.queues()),
            rss=rss_mib(),
        )

    def kept(self) -> tuple[int, int, int, int]:
        """What the bridge keeps that must not grow with sessions that are gone."""
        return self.bridge, self.pollers, self.entries, self.doorbells

    def row(self, label: str, up: str = "", down: str = "") -> str:
        return (
            f"{label:>6} {self.tasks:>6} {self.bridge:>7} {self.connections:>6} "
            f"{self.pollers:>8} {self.entries:>8} {self.doorbells:>10} {self.rss:>8.1f} "
            f"{up:>6} {down:>7}"
        )


HEADER = (
    f"{'round':>6} {'tasks':>6} {'bridge':>7} {'conns':>6} {'pollers':>8} {'entries':>8} "
    f"{'doorbells':>10} {'RSS MiB':>8} {'up s':>6} {'down s':>7}"
)


async def settled(parts: Parts, waha: FakeWaha, timeout: float = 10.0) -> Figures:
    """The figures once the process is quiet: every webhook answered, and the task count the
    same for 0.2 s (stopped pollers unwind after they are cancelled)."""

    def answered() -> bool:
        ok = {d.event_id for d in waha.deliveries if d.ok}
        return all(e["id"] in ok for e in waha.events)

    await until(answered, "WAHA's webhooks to be answered", timeout)
    last, same_since = count_tasks(), trio.current_time()
    with trio.move_on_after(timeout):
        while trio.current_time() - same_since < 0.2:
            await trio.sleep(0.02)
            now = count_tasks()
            if now != last:
                last, same_since = now, trio.current_time()
    return Figures.now(parts)


async def until(check: Callable[[], bool], what: str, timeout: float) -> float:
    """Wait (polling every 10 ms) until ``check()`` holds; the seconds it took."""
    began = trio.current_time()
    with trio.move_on_after(timeout) as scope:
        while not check():
            await trio.sleep(0.01)
    if scope.cancelled_caught:
        raise SystemExit(f"gave up after {timeout:g} s waiting for {what}")
    return trio.current_time() - began


async def churn(
    client: httpx.AsyncClient, waha: FakeWaha, parts: Parts, args: argparse.Namespace, n: int
) -> tuple[float, float]:
    """One round: create the sessions, wait for their pollers, delete them, wait until the
    bridge has let go of them. Returns the seconds each half took."""
    names = [f"churn{n:03d}x{i:05d}" for i in range(args.sessions)]
    timeout = 30.0 + 10 * args.interval
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(_create, client, name)
    running = parts.registry.running
    up = await until(lambda: len(running()) == len(names), "the pollers to start", timeout)
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(_delete, client, name)

    def released() -> bool:
        return not running() and not parts.sessions.entries()

    down = await until(released, "the sessions to be released", timeout)
    return up, down


async def _create(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/api/sessions", json={"name": name})
    response.raise_for_status()


async def _delete(client: httpx.AsyncClient, name: str) -> None:
    response = await client.delete(f"/api/sessions/{name}")
    response.raise_for_status()


async def bench(args: argparse.Namespace) -> None:
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=(),
        webhook_hmac_key=SECRET,
        webhook_retry_delay=0.05,
        status_step=0.01,
        auto_pair=True,
        check_contracts=False,
    )
    fake_signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE_NUMBER,), check_contracts=False)
    print(
        f"{args.sessions} sessions created and deleted per round, {args.rounds} rounds; "
        f"discovery every {args.interval} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        async with trio.open_nursery() as nursery:
            waha_url: str = await nursery.start(waha.run)
            signal_url: str = await nursery.start(fake_signal.run)
            bridge = Bridge(bridge_config(Path(tmp), waha_url, signal_url, args))
            await nursery.start(bridge.run)
            waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
            await bridge.receiving()
            parts = bridge.parts
            assert parts is not None
            print(HEADER, flush=True)
            start = await settled(parts, waha)
            print(start.row("start"), flush=True)
            began = time.perf_counter()
            figures: list[Figures] = []
            headers = {"X-Api-Key": API_KEY}
            async with httpx.AsyncClient(base_url=waha_url, headers=headers, timeout=30) as client:
                for n in range(1, args.rounds + 1):
                    up, down = await churn(client, waha, parts, args, n)
                    figures.append(await settled(parts, waha))
                    for records in (waha.events, waha.deliveries, waha.sent):
                        records.clear()
                    print(figures[-1].row(str(n), f"{up:.2f}", f"{down:.2f}"), flush=True)
            elapsed = time.perf_counter() - began
            nursery.cancel_scope.cancel()
    print(verdict(start, figures, elapsed), flush=True)


def verdict(start: Figures, figures: list[Figures], elapsed: float) -> str:
    """Flat: every round ends with the bridge's tasks (its HTTP connections aside), pollers,
    entries and doorbells as before the first round, and RSS about level over the second half
    of the rounds (the first round warms up allocator arenas, caches and connection pools)."""
    leaks = [n for n, f in enumerate(figures, 1) if f.kept() != start.kept()]
    state = "flat" if not leaks else f"NOT FLAT in round(s) {', '.join(map(str, leaks))}"
    half = figures[len(figures) // 2 :]
    per_round = (half[-1].rss - half[0].rss) / max(1, len(half) - 1)
    return (
        f"{len(figures)} rounds in {elapsed:.1f} s; bridge tasks, pollers, entries and "
        f"doorbells: {state}; RSS {start.rss:.1f} MiB at start, {figures[0].rss:.1f} after "
        f"round 1, {figures[-1].rss:.1f} after round {len(figures)} ({per_round:+.2f} MiB per "
        f"round over the last {len(half)} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100, help="sessions per round")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of create and delete")
    parser.add_argument(
        "--interval", type=int, default=1, help="signal.sessionDiscoveryIntervalSec (1 to 3600)"
    )
    args = parser.parse_args()
    if args.sessions < 1 or args.rounds < 1 or not 1 <= args.interval <= 3600:
        parser.error("--sessions >= 1, --rounds >= 1 and 1 <= --interval <= 3600 please")
    trio.run(bench, args)


if __name__ == "__main__":
    main()
