"""Throughput benchmark with every part in its own process (not a test).

Usage::

    python bench/throughput.py [--messages 2000] [--rounds 2] [--rate 100] [--latency-messages 600]
                               [--latency-rounds 3] [--concurrency 16] [--chats 50] [--plain]

Processes: WAHA's and signal-cli's simulators (``python -m whatsignal.testing``, contract checks
off, ``--monotonic-clock``), the bridge (``python -m whatsignal run``, secure mode, database
encrypted, ``synchronous=FULL``: one fsync'd group commit per batch), the bare relay (a raw ASGI
app on hypercorn that forwards each body with one httpx call, ``throughput.py relay``) and, for
each phase, a load generator (``throughput.py load``: pre-built, pre-signed bodies on keep-alive
connections). Bridge and relay get the same kind of bodies and send to the same simulators.

WhatsApp -> Signal: WAHA ``message`` webhooks on ``/webhook/whatsapp``; arrival is the
simulator's ``/v2/send``. Signal -> WhatsApp: signal-cli JSON-RPC ``receive`` notifications on
the push path (``/webhook/signal``), each a reply quoting a bridged message; arrival is WAHA's
``sendText``. The bridge routes a push-path row once its websocket can bring nothing older (a
ping barrier: one round trip to signal-cli), so that direction's latency carries that trip.

Saturation phases (closed loop) alternate relay, bridge, relay, bridge ... per direction so that
the noise of a shared machine hits both alike; delivered msg/s is messages / (last arrival -
first injection), counted where the sends arrive once the backlog drained, and CPU is the
process's user+system time over the phase. Then open-loop phases at ``--rate`` (below both
capacities) for latency (injection -> arrival at the simulator): ``--latency-rounds`` of them
per part and direction, alternating relay and bridge, their samples pooled.

The last line is machine readable (bridge / bare relay)::

    ratio wa_to_signal=<x> signal_to_wa=<x> p99_wa_to_signal=<x> cpu_per_msg=<x>

``--durable-relay`` (not the default): the relay appends each body to a file and fdatasyncs it,
in a worker thread, before forwarding it; a baseline as durable as the bridge's journal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import attrs
import httpx
import trio
from tp_parts import (
    API_KEY,
    SESSION,
    Arrivals,
    Envelopes,
    bridge_config,
    bridge_env,
    generate,
    run_relay,
    signal_sim_argv,
    wa_requests,
)

from whatsignal.testing import FakeWaha

HERE = Path(__file__).resolve()
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A part in its own process, stopped with SIGINT (killed if it does not stop in 10 s)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        with trio.fail_after(60):
            while True:
                if proc.poll() is not None:
                    tail = (await trio.Path(log).read_text())[-3000:]
                    raise RuntimeError(f"{proc.args!r} exited:\n{tail}")
                try:
                    if (await client.get(url)).status_code < 500:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


# Phases ----------------------------------------------------------------------------------------


@attrs.frozen
class Phase:
    who: str
    direction: str
    injected: dict[str, float]
    arrived: dict[str, float]
    cpu: float
    refused: int

    @property
    def rate(self) -> float:
        return len(self.arrived) / (max(self.arrived.values()) - min(self.injected.values()))

    def percentile(self, p: float) -> float:
        values = sorted(self.arrived[t] - self.injected[t] for t in self.arrived)
        return values[max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))]

    def pooled(self, other: Phase) -> Phase:
        """This phase's samples and ``other``'s (for percentiles; not for its rate)."""
        return attrs.evolve(
            self,
            injected={**self.injected, **other.injected},
            arrived={**self.arrived, **other.arrived},
            cpu=self.cpu + other.cpu,
            refused=self.refused + other.refused,
        )

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu / len(self.arrived) * 1000


@attrs.define(eq=False)
class Bench:
    args: argparse.Namespace
    tmp: Path
    ports: dict[str, int]
    pids: dict[str, int]
    sinks: dict[str, Arrivals]

    async def phase(
        self, who: str, direction: str, prefix: str, requests: list[tuple[str, bytes]], rate: float
    ) -> Phase:
        file = self.tmp / f"{prefix}.json"
        file.write_text(json.dumps([[t, r.decode("latin-1")] for t, r in requests]))
        before = cpu_seconds(self.pids[who])
        argv = [sys.executable, str(HERE), "load", "--port", str(self.ports[who])]
        argv += ["--requests", str(file), "--concurrency", str(self.args.concurrency)]
        done = await trio.run_process([*argv, "--rate", str(rate)], capture_stdout=True)
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        arrived = await self.sinks[direction].wait(prefix, len(requests), within=300)
        cpu = cpu_seconds(self.pids[who]) - before
        return Phase(who, direction, result["injected"], arrived, cpu, result["refused"])


def spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"
    )


async def orchestrate(args: argparse.Namespace) -> None:
    ports = {name: free_port() for name in ("waha", "signal", "bridge", "relay")}
    waha_url, signal_url = (f"http://127.0.0.1:{ports[n]}" for n in ("waha", "signal"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "WHATSIG"))}
    sim = [sys.executable, "-m", "whatsignal.testing", "--monotonic-clock"]
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        tmp = Path(name)
        logs = {n: tmp / f"{n}.log" for n in ports}
        parts = {
            "waha": stack.enter_context(
                process(
                    [
                        *sim,
                        "waha",
                        "--port",
                        str(ports["waha"]),
                        "--api-key",
                        API_KEY,
                        "--session",
                        SESSION,
                    ],
                    base_env,
                    logs["waha"],
                )
            ),
            "signal": stack.enter_context(
                process(
                    signal_sim_argv(sim, ports["signal"]),
                    base_env,
                    logs["signal"],
                )
            ),
        }
        await wait_http(f"{waha_url}/_sim/", parts["waha"], logs["waha"])
        await wait_http(f"{signal_url}/_sim/", parts["signal"], logs["signal"])
        config = bridge_config(tmp, ports, args)
        parts["bridge"] = stack.enter_context(
            process(
                [sys.executable, "-m", "whatsignal", "run", "--config", str(config)],
                {**base_env, **bridge_env(args)},
                logs["bridge"],
            )
        )
        parts["relay"] = stack.enter_context(
            process(
                [
                    sys.executable,
                    str(HERE),
                    "relay",
                    "--port",
                    str(ports["relay"]),
                    "--signal",
                    signal_url,
                    "--waha",
                    waha_url,
                    *(("--durable", str(tmp / "relay.journal")) if args.durable_relay else ()),
                ],
                base_env,
                logs["relay"],
            )
        )
        await wait_http(
            f"http://127.0.0.1:{ports['bridge']}/readyz", parts["bridge"], logs["bridge"]
        )
        await wait_http(f"http://127.0.0.1:{ports['relay']}/", parts["relay"], logs["relay"])
        async with httpx.AsyncClient(timeout=30) as client:
            sinks = {
                "wa->signal": Arrivals(client, signal_url, "/v2/send", "message"),
                "signal->wa": Arrivals(client, waha_url, "/api/sendText", "text"),
            }
            bench = Bench(args, tmp, ports, {n: p.pid for n, p in parts.items()}, sinks)
            await run_phases(bench, args)


async def run_phases(bench: Bench, args: argparse.Namespace) -> None:
    builder = FakeWaha(api_key=API_KEY, sessions=(SESSION,), check_contracts=False)
    n, chats = args.messages, args.chats
    phases: list[Phase] = []
    envelopes: Envelopes | None = None
    print(
        f"{n} messages per saturation phase x {args.rounds} rounds, {args.concurrency} "
        f"connections, {chats} chats; latency at {args.rate:g} msg/s x {args.latency_messages} "
        f"x {args.latency_rounds} rounds; "
        f"encrypted={not args.plain}, synchronous=FULL; every part its own process"
        + ("; the relay fdatasyncs each body first" if args.durable_relay else ""),
        flush=True,
    )
    for r in range(args.rounds):
        for direction in ("wa->signal", "signal->wa"):
            for who in ("relay", "bridge"):
                prefix = f"{who}{'ws' if direction == 'wa->signal' else 'sw'}{chr(97 + r)}"
                if direction == "wa->signal":
                    requests = wa_requests(builder, prefix, n, chats)
                else:
                    envelopes = envelopes or Envelopes(await bridged_quotes(bench, chats))
                    requests = envelopes.requests(prefix, n)
                phase = await bench.phase(who, direction, prefix, requests, 0.0)
                phases.append(phase)
                print(
                    f"  round {r + 1} {who:6} {direction:10}: {phase.rate:6,.0f} msg/s, "
                    f"CPU {phase.cpu_per_1000:5.2f} s/1000 msgs, 503s {phase.refused}",
                    flush=True,
                )
    # Latency: --latency-rounds alternating relay/bridge phases per direction, their samples
    # pooled (a p99 of 600 samples is the 6th worst: one slow fsync moves it).
    latency: dict[tuple[str, str], Phase] = {}
    for r in range(args.latency_rounds):
        for direction in ("wa->signal", "signal->wa"):
            for who in ("relay", "bridge"):
                prefix = f"{who}{'lws' if direction == 'wa->signal' else 'lsw'}{chr(97 + r)}"
                if direction == "wa->signal":
                    requests = wa_requests(builder, prefix, args.latency_messages, chats)
                else:
                    assert envelopes is not None
                    requests = envelopes.requests(prefix, args.latency_messages)
                phase = await bench.phase(who, direction, prefix, requests, args.rate)
                earlier = latency.get((who, direction))
                latency[who, direction] = phase if earlier is None else earlier.pooled(phase)
    report(phases, latency)


async def bridged_quotes(bench: Bench, chats: int) -> list[int]:
    """The Signal timestamp of one message the bridge sent per chat (what replies quote)."""
    quotes: dict[int, int] = {}
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{bench.ports['signal']}/_sim/sent"
        for record in (await client.get(url, timeout=30)).json():
            text = str(record["body"].get("message", ""))
            if record["path"] == "/v2/send" and "bridgewsa-" in text:
                chat = int(text.split("bridgewsa-")[1][:6]) % chats
                quotes.setdefault(chat, int(record["response"]["timestamp"]))
    return list(quotes.values())


def report(phases: list[Phase], latency: dict[tuple[str, str], Phase]) -> None:
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for p in phases:
        rates.setdefault((p.who, p.direction), []).append(p.rate)
        cpu.setdefault(p.who, []).append(p.cpu_per_1000)
    print("delivered throughput at saturation (msg/s):")
    for key, values in rates.items():
        print(f"  {key[0]:6} {key[1]:10} {spread(values)}")
    print("latency at a fixed offered load (ms):")
    for (who, direction), p in latency.items():
        print(
            f"  {who:6} {direction:10} p50 {p.percentile(50) * 1000:6.1f}  "
            f"p95 {p.percentile(95) * 1000:6.1f}  p99 {p.percentile(99) * 1000:6.1f}"
        )
    cpu_med = {who: statistics.median(v) for who, v in cpu.items()}
    print(
        "CPU seconds per 1000 messages (process user+system, both directions): "
        + ", ".join(f"{who} {v:.2f}" for who, v in cpu_med.items()),
        flush=True,
    )

    def ratio(direction: str) -> float:
        return statistics.median(rates["bridge", direction]) / statistics.median(
            rates["relay", direction]
        )

    p99 = latency["bridge", "wa->signal"].percentile(99) / latency[
        "relay", "wa->signal"
    ].percentile(99)
    print(
        f"ratio wa_to_signal={ratio('wa->signal'):.2f} signal_to_wa={ratio('signal->wa'):.2f} "
        f"p99_wa_to_signal={p99:.2f} cpu_per_msg={cpu_med['bridge'] / cpu_med['relay']:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="part")
    relay = sub.add_parser("relay", help="run the bare relay (a part of the benchmark)")
    relay.add_argument("--port", type=int, required=True)
    relay.add_argument("--signal", required=True)
    relay.add_argument("--waha", required=True)
    relay.add_argument("--durable", type=Path, default=None, help="append+fdatasync each body")
    load = sub.add_parser("load", help="run one phase's load generator")
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--requests", type=Path, required=True)
    load.add_argument("--concurrency", type=int, default=16)
    load.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--messages", type=int, default=2000, help="per saturation phase")
    parser.add_argument("--rounds", type=int, default=2, help="alternating relay/bridge pairs")
    parser.add_argument("--rate", type=float, default=100.0, help="offered load for latency")
    parser.add_argument("--latency-messages", type=int, default=600, help="per latency phase")
    parser.add_argument(
        "--latency-rounds", type=int, default=3, help="alternating relay/bridge latency phases"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections of the load")
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--plain", action="store_true", help="development mode, no encryption")
    parser.add_argument("--max-backlog", type=int, default=None, help="server.maxPendingBacklog")
    parser.add_argument(
        "--durable-relay",
        action="store_true",
        help="the relay writes and fdatasyncs each body before forwarding it (not the default)",
    )
    args = parser.parse_args()
    if args.part == "relay":
        trio.run(run_relay, args.port, args.signal, args.waha, args.durable)
    elif args.part == "load":
        requests = [(t, r.encode("latin-1")) for t, r in json.loads(args.requests.read_text())]
        result = trio.run(generate, args.port, requests, args.concurrency, args.rate)
        print(json.dumps({"injected": result.injected, "refused": result.refused}))
    else:
        trio.run(orchestrate, args)


if __name__ == "__main__":
    main()
