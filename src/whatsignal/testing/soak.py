"""The fault soak: messages both ways through a bridge process that is SIGKILLed again and again,
while both upstreams fail in bursts, the Signal websocket is cut and WAHA redelivers webhooks.

Used by ``bench/soak.py`` (long, printed) and by ``tests/e2e/test_soak.py`` (short, asserted).
The simulators run in the caller's trio run; the bridge is a child process in secure mode
(:mod:`._soak_bridge`), its one session on GOWS, so every WhatsApp send carries a pre-generated
id and a resend after a kill is shown once. Signal runs in json-rpc mode: an envelope that
arrives while no websocket is open is dropped by signal-cli (upstream behaviour), so those are
reported, not required; everything else must arrive.

Scenario, with ``random.Random(plan.seed)``: one seed message per chat (replies quote it, which
routes them), then both streams at ``plan.gap`` seconds per message each, and a chaos task that
kills the bridge ``plan.kills`` times at random points of the WhatsApp stream. After each
restart it fails a few of WAHA's ``sendText`` and signal-cli's ``/v2/send`` calls with 500,
has WAHA send the next ``message`` webhooks twice (a lost 2xx answer) and, a moment later,
cuts the Signal websocket. The end is a fact, not a pause: every WhatsApp message has reached
Signal, every Signal message not at risk has reached WhatsApp, and the journal has no pending
row.

*At risk* are the Signal envelopes signal-cli handed to no websocket (none was open: from a
kill or a cut until the bridge's websocket is back, the *window*, measured for every kill and
cut), and those handed only to sockets that ended within :data:`IN_FLIGHT` seconds after:
signal-cli's receive is destructive and a frame is journaled a batch after it is read, so what
a killed bridge had read but not yet committed is gone with it (reported as *in flight*). Any
other loss is *unexplained*, and a bug.
"""

from __future__ import annotations

import collections
import functools
import math
import random
import re
import socket
import statistics
from collections.abc import Callable
from pathlib import Path

import attrs
import httpx
import trio

from whatsignal.testing._faults import Fault
from whatsignal.testing._soak_bridge import API_KEY, BRIDGE, SECRET, BridgeProcess, write_config
from whatsignal.testing.signal_cli import FakeSignal
from whatsignal.testing.waha import FakeWaha

__all__ = ["IN_FLIGHT", "SoakPlan", "SoakReport", "run_soak"]

SESSION = "soak"
DESTINATION = "+15551110001"
IN_FLIGHT = 2.0
"""Seconds before a socket ends in which a frame handed to it may be lost with it (read by the
bridge, not yet journaled: a batch commit, on a loaded machine). The most seen is reported."""
_WA = re.compile(r"\bwa-\d{6}\b")
_SG = re.compile(r"^sg-\d{6}$")


@attrs.frozen
class SoakPlan:
    """How long and how rough the soak is."""

    messages: int = 200
    """Per direction."""
    chats: int = 10
    kills: int = 5
    gap: float = 0.05
    """Seconds between two injections of one direction."""
    seed: int = 17
    settle_within: float = 60.0
    """Seconds the end may take to arrive once both streams are injected."""


@attrs.define
class SoakReport:
    """What happened; :meth:`lines` prints it."""

    plan: SoakPlan
    kills: int = 0
    cuts: int = 0
    restart_s: list[float] = attrs.Factory(list)
    kill_windows_s: list[float] = attrs.Factory(list)
    cut_windows_s: list[float] = attrs.Factory(list)
    wa_missing: list[str] = attrs.Factory(list)
    wa_duplicates: int = 0
    sg_dropped_upstream: int = 0
    sg_at_risk: int = 0
    sg_in_flight: int = 0
    in_flight_s: float = 0.0
    sg_lost_at_risk: list[str] = attrs.Factory(list)
    sg_lost_unexplained: list[str] = attrs.Factory(list)
    sg_resends: int = 0
    sg_shown_twice: int = 0
    rss_mb: list[float] = attrs.Factory(list)
    threads: list[int] = attrs.Factory(list)
    pending_at_end: int = -1
    journal_kb: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        def spread(values: list[float]) -> str:
            if not values:
                return "-"
            return (
                f"min {min(values):.2f} median {statistics.median(values):.2f} "
                f"max {max(values):.2f} s"
            )

        p = self.plan
        return [
            f"{p.messages} messages each way over {p.chats} chats, gap {p.gap} s, seed {p.seed}:"
            f" {self.kills} SIGKILLs, {self.cuts} websocket cuts, {self.seconds:.1f} s",
            f"restart (kill -> /readyz): {spread(self.restart_s)}",
            f"json-rpc window (no websocket) at a kill: {spread(self.kill_windows_s)};"
            f" at a cut: {spread(self.cut_windows_s)}",
            f"WhatsApp -> Signal: missing {len(self.wa_missing)},"
            f" duplicates on Signal {self.wa_duplicates}",
            f"Signal -> WhatsApp: dropped by signal-cli (no socket) {self.sg_dropped_upstream},"
            f" in flight at a kill or cut {self.sg_in_flight} (at most {self.in_flight_s:.2f} s"
            f" before the socket ended), lost {len(self.sg_lost_at_risk)} (all at risk)"
            f" + {len(self.sg_lost_unexplained)} not at risk;"
            f" resends {self.sg_resends}, shown twice on WhatsApp {self.sg_shown_twice}",
            f"bridge: RSS {spread_mb(self.rss_mb)}, threads max {max(self.threads, default=0)},"
            f" journal {self.journal_kb} KiB, pending at end {self.pending_at_end}",
        ]


def spread_mb(values: list[float]) -> str:
    return f"{min(values, default=0):.0f}-{max(values, default=0):.0f} MiB"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chat_number(chat: int) -> str:
    return f"+49170000{chat:04d}"


async def _until(check: Callable[[], bool], *, within: float, every: float = 0.005) -> bool:
    """Whether ``check`` came true within ``within`` seconds. A poll, because what it checks
    (the simulators' records, the child process) has no event to wait on."""
    with trio.move_on_after(within):
        while True:
            if check():
                return True
            await trio.sleep(every)  # polling interval of a wait for a fact
    return False


@attrs.define(eq=False)
class _Soak:
    plan: SoakPlan
    waha: FakeWaha
    signal: FakeSignal
    bridge: BridgeProcess
    client: httpx.AsyncClient
    report: SoakReport
    rng: random.Random
    seeds: list[int] = attrs.Factory(list)
    wa_tokens: list[str] = attrs.Factory(list)
    sg_injected: dict[str, int] = attrs.Factory(dict)
    """Each Signal token's envelope timestamp."""

    def injected(self, count: int) -> bool:
        return len(self.wa_tokens) >= count

    def socket_open(self) -> bool:
        return bool(self.signal.sockets().get(BRIDGE))

    async def reconnected(self, connects: int) -> float:
        """Wait until the bridge has opened a websocket since ``connects`` were counted (and it
        is still open); the time it took is the caller's to take."""
        back = await _until(
            lambda: self.signal.socket_connects > connects and self.socket_open(), within=30
        )
        assert back, f"the bridge never opened its websocket again:\n{self.bridge.log_tail()}"
        return trio.current_time()

    def to_signal(self) -> str:
        return "\n".join(m.message for m in self.signal.messages)

    async def seed(self) -> None:
        for chat in range(self.plan.chats):
            self.waha.inject_message(SESSION, from_=_chat_number(chat), body=f"seed-{chat}")
        got = await _until(lambda: len(self.signal.messages) >= self.plan.chats, within=30)
        assert got, f"the seed messages never reached Signal:\n{self.bridge.log_tail()}"
        by_chat = {
            int(m.message.rsplit("seed-", 1)[1]): m.timestamp
            for m in self.signal.messages
            if "seed-" in m.message
        }
        self.seeds = [by_chat[chat] for chat in range(self.plan.chats)]

    async def whatsapp(self) -> None:
        for i in range(self.plan.messages):
            token = f"wa-{i:06d}"
            self.wa_tokens.append(token)
            chat = i % self.plan.chats
            self.waha.inject_message(SESSION, from_=_chat_number(chat), body=token)
            await trio.sleep(self.plan.gap)  # scenario: a steady stream

    async def signal_replies(self) -> None:
        for i in range(self.plan.messages):
            token = f"sg-{i:06d}"
            target = self.seeds[(i * 7) % self.plan.chats]
            before = self.signal.dropped
            item = self.signal.inject_envelope(
                DESTINATION, message=token, quote_timestamp=target, quote_author=BRIDGE
            )
            self.sg_injected[token] = item["envelope"]["timestamp"]
            self.report.sg_dropped_upstream += self.signal.dropped - before
            await trio.sleep(self.plan.gap)  # scenario: a steady stream

    async def chaos(self) -> None:
        span = self.plan.messages * 8 // 10
        points = sorted(
            self.plan.messages // 10 + self.rng.randrange(span) for _ in range(self.plan.kills)
        )
        for point in points:
            await _until(functools.partial(self.injected, point), within=3600)
            await self.kill_and_restart()
            await self.faults()

    async def kill_and_restart(self) -> None:
        rss, threads = self.bridge.memory()
        self.report.rss_mb.append(rss)
        self.report.threads.append(threads)
        connects = self.signal.socket_connects
        killed = trio.current_time()
        await self.bridge.kill()
        self.report.kills += 1
        await self.bridge.start(self.client)
        self.report.restart_s.append(trio.current_time() - killed)
        back = await self.reconnected(connects)
        self.report.kill_windows_s.append(back - killed)

    async def faults(self) -> None:
        burst = self.rng.randint(2, 4)
        self.waha.add_fault(Fault("/api/sendText", count=burst, status=500))
        self.signal.add_fault(Fault("/v2/send", count=burst, status=500))
        self.waha.duplicate_deliveries(session=SESSION, event="message", count=burst)
        await trio.sleep(self.rng.uniform(0.1, 0.5))  # scenario: the cut lands mid-stream
        connects = self.signal.socket_connects
        cut = trio.current_time()
        if self.signal.drop_sockets(BRIDGE):
            self.report.cuts += 1
            back = await self.reconnected(connects)
            self.report.cut_windows_s.append(back - cut)

    def at_risk(self) -> dict[str, float]:
        """The tokens signal-cli handed to no socket (0.0), or only to sockets that ended
        within :data:`IN_FLIGHT` seconds (how long before they ended)."""
        handed = {stamp: (at, took) for at, stamp, took in self.signal.socket_frames}
        closed = self.signal.socket_closed
        risky: dict[str, float] = {}
        for token, stamp in self.sg_injected.items():
            at, took = handed[stamp]
            ends = [closed.get(n, math.inf) for n in took]
            if not took:
                risky[token] = 0.0
            elif max(ends) - at <= IN_FLIGHT:
                risky[token] = max(ends) - at
        return risky

    def settled(self) -> bool:
        if set(self.wa_tokens) - set(_WA.findall(self.to_signal())):
            return False
        shown = {b.body.get("text") for b in self.waha.sent if b.path == "/api/sendText"}
        return set(self.sg_injected) - set(self.at_risk()) <= shown

    async def finish(self) -> None:
        # Checking costs a scan of every record, so not every 5 ms.
        settled = await _until(self.settled, within=self.plan.settle_within, every=0.2)
        pending = -1
        with trio.move_on_after(self.plan.settle_within):
            while True:
                pending = await self.bridge.pending(self.client)
                if pending == 0:
                    break
                await trio.sleep(0.05)  # polling interval of a wait for a drained journal
        self.report.pending_at_end = pending
        rss, threads = self.bridge.memory()
        self.report.rss_mb.append(rss)
        self.report.threads.append(threads)
        self.count(settled)

    def count(self, settled: bool) -> None:
        report = self.report
        wa_counts = collections.Counter(_WA.findall(self.to_signal()))
        report.wa_missing = sorted(set(self.wa_tokens) - set(wa_counts))
        report.wa_duplicates = sum(n - 1 for n in wa_counts.values())
        calls = [
            c.body["text"]
            for c in self.waha.sent
            if c.path == "/api/sendText" and _SG.match(str(c.body.get("text", "")))
        ]
        report.sg_resends = len(calls) - len(set(calls))
        shown: collections.Counter[str] = collections.Counter()
        for chat in range(self.plan.chats):
            chat_id = f"{_chat_number(chat)[1:]}@c.us"
            for message in self.waha.history(SESSION, chat_id, from_me=True):
                if _SG.match(str(message.get("body", ""))):
                    shown[str(message["body"])] += 1
        report.sg_shown_twice = sum(1 for n in shown.values() if n > 1)
        risky = self.at_risk()
        lost = set(self.sg_injected) - set(shown)
        report.sg_at_risk = len(risky)
        report.sg_lost_at_risk = sorted(lost & set(risky))
        report.sg_lost_unexplained = sorted(lost - set(risky))
        in_flight = [risky[t] for t in report.sg_lost_at_risk if risky[t] > 0]
        report.sg_in_flight = len(in_flight)
        report.in_flight_s = max(in_flight, default=0.0)
        if not settled:
            report.wa_missing = report.wa_missing or ["(did not settle)"]


async def run_soak(plan: SoakPlan, folder: Path) -> SoakReport:
    """Run the soak described by ``plan`` in ``folder`` (the bridge's database and log)."""
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=(SESSION,),
        session_engines={SESSION: "GOWS"},
        webhook_hmac_key=SECRET,
        webhook_retry_attempts=100_000,  # x 50 ms: WAHA keeps retrying past every restart
        webhook_retry_delay=0.05,
        status_step=0.01,
        check_contracts=False,
    )
    fake_signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE,), check_contracts=False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    report = SoakReport(plan)
    began = trio.current_time()
    async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(fake_signal.run)
        waha.webhook_url = f"{url}/webhook/whatsapp"
        channel = {"whatsappSessionName": SESSION, "signalDestinationPhoneNumber": DESTINATION}
        config = write_config(folder, waha_url, signal_url, port, [channel])
        bridge = BridgeProcess(config, url, folder / "bridge.log")
        soak = _Soak(plan, waha, fake_signal, bridge, client, report, random.Random(plan.seed))
        try:
            await bridge.start(client)
            assert await _until(soak.socket_open, within=30), "no websocket at start"
            await soak.seed()
            async with trio.open_nursery() as streams:
                streams.start_soon(soak.whatsapp)
                streams.start_soon(soak.signal_replies)
                streams.start_soon(soak.chaos)
            await soak.finish()
        finally:
            await bridge.stop()
            nursery.cancel_scope.cancel(reason="the soak is over")
    files = await trio.Path(folder).glob("bridge.db*")
    report.journal_kb = sum([(await f.stat()).st_size for f in files]) // 1024
    report.seconds = trio.current_time() - began
    return report
