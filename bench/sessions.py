"""Many sessions, every part in its own process (not a test).

Usage::

    python bench/sessions.py [--sessions 10 100 1000 10000] [--idle 30] [--messages 2000]
                             [--concurrency 16]

For each count N: the WAHA simulator (its own process) lists N sessions, all WORKING; the
bridge (``python -m whatsignal run``, secure mode, one ``"*"`` channel, so every session is
discovered, ``signal.maxConcurrentSessions`` = N) starts against it and signal-cli's simulator
(json-rpc). Measured on the bridge's process:

* ``workers_up_s``: from ``/readyz`` answering 200 (the first session listing is part of the
  start-up) until ``/metrics`` counts N workers running; ``start_s`` is from the spawn;
* ``rss_mb``: resident memory (``/proc/<pid>/status``) once the workers are up and idle;
* ``idle_cpu_pct``: user + system CPU time over ``--idle`` seconds, as % of one core;
* ``msgs_per_s``: ``--messages`` WhatsApp messages, message i in session i mod N, injected
  through the simulator's ``POST /_sim/inbound`` by ``--concurrency`` callers; delivered
  messages divided by the time from the first injection to the last arrival at signal-cli's
  ``/v2/send``.

One line per count; the last line is that of the largest count::

    sessions=<N> rss_mb=<n> idle_cpu_pct=<n> workers_up_s=<n> msgs_per_s=<n>
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import trio
from throughput import cpu_seconds, free_port, process, wait_http
from tp_parts import (
    API_KEY,
    BRIDGE_NUMBER,
    DESTINATION,
    SECRET,
    Arrivals,
    bridge_env,
    signal_sim_argv,
)

ADMIN = {"Authorization": "Bearer " + "a" * 40}
RUNNING = re.compile(r'^whatsignal_workers\{state="running"\} (\S+)$', re.M)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def config(tmp: Path, ports: dict[str, int], sessions: int) -> Path:
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": f"http://127.0.0.1:{ports['waha']}", "timeout_ms": 30000},
        "signal": {
            "rpc_url": f"http://127.0.0.1:{ports['signal']}",
            "intermediaryPhoneNumber": BRIDGE_NUMBER,
            "httpTimeoutSec": 60,
            "maxConcurrentSessions": sessions,
        },
        "channels": [{"whatsappSessionName": "*", "signalDestinationPhoneNumber": DESTINATION}],
        "database": {"path": str(tmp / "bridge.db")},
        "server": {"host": "127.0.0.1", "port": ports["bridge"], "shutdownGraceSec": 1},
        "log_level": "warn",
    }
    path = tmp / "config.json"
    path.write_text(json.dumps(data))
    return path


async def running_workers(client: httpx.AsyncClient, url: str) -> int:
    page = (await client.get(f"{url}/metrics", headers=ADMIN)).text
    match = RUNNING.search(page)
    return int(float(match.group(1))) if match else 0


async def inject(waha: str, sessions: int, messages: int, concurrency: int) -> float:
    """Post every message to the simulator's control API; the first injection's time."""
    items = iter(range(messages))
    first = time.monotonic()

    async def caller(client: httpx.AsyncClient) -> None:
        for i in items:
            body = {"session": f"s{i % sessions:05d}", "from": f"+4917{i % 997:08d}"}
            body["body"] = f"msg-{i:06d}"
            (await client.post(f"{waha}/_sim/inbound", json=body)).raise_for_status()

    async with httpx.AsyncClient(timeout=60) as client, trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(caller, client)
    return first


async def measure(args: argparse.Namespace, sessions: int) -> str:
    ports = {name: free_port() for name in ("waha", "signal", "bridge")}
    waha, signal = (f"http://127.0.0.1:{ports[n]}" for n in ("waha", "signal"))
    url = f"http://127.0.0.1:{ports['bridge']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "WHATSIG"))}
    sim = [sys.executable, "-m", "whatsignal.testing", "--monotonic-clock"]
    names = [a for i in range(sessions) for a in ("--session", f"s{i:05d}")]
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        waha_argv = [*sim, "waha", "--port", str(ports["waha"]), "--api-key", API_KEY]
        waha_argv += ["--webhook-url", f"{url}/webhook/whatsapp", "--webhook-hmac-key", SECRET]
        parts = {
            "waha": stack.enter_context(process([*waha_argv, *names], env, tmp / "waha.log")),
            "signal": stack.enter_context(
                process(
                    signal_sim_argv(sim, ports["signal"]),
                    env,
                    tmp / "signal.log",
                )
            ),
        }
        await wait_http(f"{waha}/_sim/", parts["waha"], tmp / "waha.log")
        await wait_http(f"{signal}/_sim/", parts["signal"], tmp / "signal.log")
        spawned = time.monotonic()
        plain = argparse.Namespace(plain=False)
        conf = str(config(tmp, ports, sessions))
        bridge = stack.enter_context(
            process(
                [sys.executable, "-m", "whatsignal", "run", "--config", conf],
                {**env, **bridge_env(plain)},
                tmp / "bridge.log",
            )
        )
        await wait_http(f"{url}/readyz", bridge, tmp / "bridge.log")
        ready = time.monotonic()
        async with httpx.AsyncClient(timeout=60) as client:
            with trio.fail_after(300):
                while await running_workers(client, url) < sessions:
                    await trio.sleep(0.02)
            up = time.monotonic()
            await trio.sleep(1.0)  # let the start-up's last writes settle before idling
            before = cpu_seconds(bridge.pid)
            await trio.sleep(args.idle)
            idle_pct = (cpu_seconds(bridge.pid) - before) / args.idle * 100
            rss = rss_mb(bridge.pid)
            first = await inject(waha, sessions, args.messages, args.concurrency)
            sink = Arrivals(client, signal, "/v2/send", "message")
            arrived = await sink.wait("msg", args.messages, within=600)
        rate = args.messages / (max(arrived.values()) - first)
    print(
        f"  {sessions:6} sessions: start {up - spawned:5.2f} s, workers up {up - ready:5.2f} s"
        f" after /readyz, RSS {rss:6.1f} MiB, idle CPU {idle_pct:5.2f}% over {args.idle:g} s,"
        f" {rate:6.1f} msg/s",
        flush=True,
    )
    return (
        f"sessions={sessions} rss_mb={rss:.0f} idle_cpu_pct={idle_pct:.2f}"
        f" workers_up_s={up - ready:.2f} msgs_per_s={rate:.0f}"
    )


async def main_async(args: argparse.Namespace) -> None:
    print(
        f"sessions {args.sessions}; idle {args.idle:g} s; {args.messages} messages over all"
        " sessions; secure mode; every part its own process",
        flush=True,
    )
    last = ""
    for sessions in args.sessions:
        last = await measure(args, sessions)
    print(last, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU sampling")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()
