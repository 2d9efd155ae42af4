"""Durability acceptance: the bridge process is SIGKILLed mid-stream and started again.

Two hundred WhatsApp messages (over ten chats) and two hundred Signal replies (each quoting a
forwarded message of one of the chats, so they route) stream through a real
``python -m whatsignal run`` subprocess. Half-way through, the process is killed with SIGKILL and
started again on the same database and port. The promise under test (DESIGN.md section 2):

* every committed message arrives: WAHA retries its webhooks until the restarted bridge answers
  200, so every WhatsApp message must reach Signal;
* at most one duplicate per chat: the row in flight at the kill, whose send happened but whose
  ``done`` never committed;
* the only possible loss is a Signal envelope that signal-cli handed out in the instant before
  the kill. Receiving is destructive, so an envelope the dead process had read but not yet
  journaled is gone for good. FakeSignal logs every receive answer (``handed_out``); an envelope
  may be missing only when it was in the last answer before the kill, in an answer within
  ``INSTANT`` seconds before it, or in one given to the dead connection after it.

The simulators run in this test's nursery over real HTTP; only the bridge is a subprocess, so the
kill is a real ``kill -9`` of a process with an open SQLite database.
"""

from __future__ import annotations

import collections
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
import yaml
from bridge_harness import ALICE_PHONE, API_KEY, BRIDGE, SECRET

from whatsignal.testing import FakeSignal, FakeWaha
from whatsignal.testing._soak_bridge import BridgeProcess as SoakBridgeProcess

MESSAGES = 200
CHATS = 10
SESSION = "personal"
INJECT_GAP = 0.015
INSTANT = 0.1
"""Seconds before the kill in which an envelope handed out may still be unjournaled: the receiver
journals in group-committed batches, so the last answer or two can be between read and commit."""

_WA_TOKEN = re.compile(r"\bwa-\d{3}\b")
_SG_TOKEN = re.compile(r"^sg-\d{3}$")

# Environment overrides that would point the child somewhere else than its config file says.
_OVERRIDES = (
    "WHATSAPP_API_URL",
    "SIGNAL_RPC_URL",
    "DB_PATH",
    "MEDIA_DIR",
    "PORT",
    "WHATSIGNAL_ADMIN_TOKEN",
    "WHATSIGNAL_CONFIG",
)


def _free_port() -> int:
    """A port that was free a moment ago (the bridge must keep one port across its restart,
    because WAHA's pending webhook retries target it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _chat_number(chat: int) -> str:
    return f"+4917000000{chat:02d}"


def _chat_id(chat: int) -> str:
    return f"{_chat_number(chat)[1:]}@c.us"


def _write_config(tmp_path: Path, waha_url: str, signal_url: str, port: int) -> Path:
    """The bridge_harness configuration, as a YAML file for the child process."""
    data: dict[str, Any] = {
        "whatsapp": {"api_base_url": waha_url, "timeout_ms": 5000},
        "signal": {
            "rpc_url": signal_url,
            "intermediaryPhoneNumber": BRIDGE,
            "pollTimeoutSec": 1,
            "pollIntervalSec": 1,
            "httpTimeoutSec": 15,
        },
        "channels": [
            {"whatsappSessionName": SESSION, "signalDestinationPhoneNumber": ALICE_PHONE},
        ],
        "database": {"path": str(tmp_path / "bridge.db")},
        "retry": {"initialBackoffMs": 10, "maxBackoffMs": 200, "maxAttempts": 3},
        "server": {"host": "127.0.0.1", "port": port, "shutdownGraceSec": 2},
        "log_level": "info",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class BridgeProcess(SoakBridgeProcess):
    """``python -m whatsignal run`` as a child process (the soak's, whose start, kill and stop
    this test shares) in development mode with the two secrets the harness signs with.

    The environment is inherited (coverage's subprocess patch travels in it), minus the
    overrides that would redirect the child.
    """

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES}
        env.update(
            WHATSIGNAL_ENV="development",
            WHATSAPP_API_KEY=API_KEY,
            WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET=SECRET,
        )
        return env


async def _wait(check: Callable[[], bool], *, within: float) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False)."""
    with trio.move_on_after(within):
        while not check():
            await trio.sleep(0.02)  # polling interval of a wait for a fact, not a barrier
        return True
    return False


async def _drained(client: httpx.AsyncClient, url: str, *, within: float) -> bool:
    """Whether the bridge's journal has no pending rows, so no late duplicate can follow."""
    with trio.move_on_after(within):
        while True:
            response = await client.get(f"{url}/session/status", timeout=2.0)
            response.raise_for_status()
            queues: dict[str, dict[str, int]] = response.json().get("queues", {})
            if not any(states.get("pending") for states in queues.values()):
                return True
            await trio.sleep(0.05)  # polling interval of a wait for a fact, not a barrier
    return False


@attrs.define(eq=False)
class Stream:
    """What was injected on each side, so arrivals can be matched to chats."""

    waha: FakeWaha
    signal: FakeSignal
    seeds: dict[int, int] = attrs.Factory(dict)  # chat -> Signal timestamp of its seed
    wa_chat: dict[str, int] = attrs.Factory(dict)  # "wa-NNN" -> chat
    sg_chat: dict[str, int] = attrs.Factory(dict)  # "sg-NNN" -> chat
    sg_token: dict[int, str] = attrs.Factory(dict)  # envelope timestamp -> "sg-NNN"

    def to_signal(self) -> list[str]:
        return [m.message for m in self.signal.messages]

    def to_whatsapp(self) -> list[dict[str, Any]]:
        return [r.body for r in self.waha.sent if r.path == "/api/sendText"]

    def arrived(self) -> int:
        return len(self.to_signal()) - CHATS + len(self.to_whatsapp())

    async def seed(self) -> None:
        """One forwarded message per chat, so Signal replies have something to quote."""
        for chat in range(CHATS):
            self.waha.inject_message(
                SESSION, from_=_chat_number(chat), body=f"seed-{chat}", notify_name=f"C{chat}"
            )
        assert await _wait(lambda: len(self.signal.messages) >= CHATS, within=10), "no seeds"
        for sent in self.signal.messages:
            self.seeds[int(sent.message.rsplit("seed-", 1)[1])] = sent.timestamp
        assert sorted(self.seeds) == list(range(CHATS))

    async def whatsapp(self) -> None:
        for i in range(MESSAGES):
            chat = i % CHATS
            token = f"wa-{i:03d}"
            self.wa_chat[token] = chat
            self.waha.inject_message(
                SESSION, from_=_chat_number(chat), body=token, notify_name=f"C{chat}"
            )
            await trio.sleep(INJECT_GAP)  # scenario: a steady stream the kill lands in

    async def signal_replies(self) -> None:
        for i in range(MESSAGES):
            chat = (i * 3) % CHATS
            token = f"sg-{i:03d}"
            self.sg_chat[token] = chat
            item = self.signal.inject_envelope(
                ALICE_PHONE, message=token, quote_timestamp=self.seeds[chat], quote_author=BRIDGE
            )
            self.sg_token[int(item["envelope"]["timestamp"])] = token
            await trio.sleep(INJECT_GAP)  # scenario: a steady stream the kill lands in

    def at_risk(self, killed_at: float, restarted_at: float) -> set[str]:
        """Envelopes the killed process may have read without journaling them."""
        handed = self.signal.handed_out
        stamps: set[int] = set()
        before = [batch for t, batch in handed if t <= killed_at]
        if before:
            stamps.update(before[-1])
        for t, batch in handed:
            if killed_at - INSTANT <= t < restarted_at:
                stamps.update(batch)
        return {self.sg_token[s] for s in stamps if s in self.sg_token}

    def settled(self, may_lose: set[str]) -> bool:
        wa_seen = set(_WA_TOKEN.findall("\n".join(self.to_signal())))
        sg_seen = {body["text"] for body in self.to_whatsapp()}
        return len(wa_seen) == MESSAGES and set(self.sg_chat) - may_lose <= sg_seen


async def test_sigkill_mid_stream_loses_nothing_committed_and_duplicates_at_most_one_per_chat(
    tmp_path: Path,
) -> None:
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=(SESSION,),
        webhook_hmac_key=SECRET,
        webhook_retry_attempts=5000,  # x 20 ms: redelivered for 100 s, long past the restart
        webhook_retry_delay=0.02,
        status_step=0.01,
    )
    fake_signal = FakeSignal(mode="normal", numbers=(BRIDGE,), receive_time_scale=0.05)
    stream = Stream(waha, fake_signal)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(fake_signal.run)
        waha.webhook_url = f"{url}/webhook/whatsapp"
        bridge = BridgeProcess(
            _write_config(tmp_path, waha_url, signal_url, port), url, tmp_path / "bridge.log"
        )
        try:
            await bridge.start(client)
            await stream.seed()
            async with trio.open_nursery() as streams:
                streams.start_soon(stream.whatsapp)
                streams.start_soon(stream.signal_replies)
                half = await _wait(lambda: stream.arrived() >= MESSAGES, within=20)
                assert half, f"half the stream never arrived:\n{bridge.log_tail()}"
                killed_at = trio.current_time()
                await bridge.kill()
                arrived_at_kill = stream.arrived()
                injected_at_kill = (len(stream.wa_chat), len(stream.sg_chat))
                # Part of the scenario, not a barrier for an assertion: a receive the dead
                # process had pending may still hand out during one long-poll window (50 ms
                # here); after this pause every answer goes to the new process, so at_risk()
                # can tell the two apart. (FakeSignal does not expose receive calls in
                # flight, which would let this wait for that fact instead.)
                await trio.sleep(0.2)  # scenario: outlast the dead long poll
                restarted_at = trio.current_time()
                await bridge.start(client)
            may_lose = stream.at_risk(killed_at, restarted_at)
            settled = await _wait(lambda: stream.settled(may_lose), within=25)
            drained = await _drained(client, url, within=10)
        finally:
            await bridge.stop()
            nursery.cancel_scope.cancel()

    # The kill really happened mid-stream, in both directions.
    assert 0 < arrived_at_kill < 2 * MESSAGES
    assert all(0 < n < MESSAGES for n in injected_at_kill), injected_at_kill
    assert drained, "the journal never drained after the restart"

    # WhatsApp -> Signal: every message arrives, to the destination; <= 1 duplicate per chat.
    assert all(list(m.recipients) == [ALICE_PHONE] for m in fake_signal.messages)
    wa_counts = collections.Counter(
        t for text in stream.to_signal() for t in _WA_TOKEN.findall(text)
    )
    missing_wa = sorted(set(stream.wa_chat) - set(wa_counts))
    assert not missing_wa, f"committed WhatsApp messages lost: {missing_wa} (settled={settled})"
    wa_dupes = collections.Counter(
        stream.wa_chat[t] for t, n in wa_counts.items() for _ in range(n - 1)
    )
    assert all(n <= 1 for n in wa_dupes.values()), f"WhatsApp->Signal duplicates: {wa_dupes}"

    # Signal -> WhatsApp: all but the allowed loss arrive, in their chat; <= 1 duplicate per chat.
    replies = [body for body in stream.to_whatsapp() if _SG_TOKEN.match(body["text"])]
    misrouted = [b for b in replies if b["chatId"] != _chat_id(stream.sg_chat[b["text"]])]
    assert not misrouted, misrouted
    sg_counts = collections.Counter(body["text"] for body in replies)
    lost = set(stream.sg_chat) - set(sg_counts)
    assert lost <= may_lose, (
        f"Signal envelopes lost that were not handed out in the instant before the kill: "
        f"{sorted(lost - may_lose)}"
    )
    sg_dupes = collections.Counter(
        stream.sg_chat[t] for t, n in sg_counts.items() for _ in range(n - 1)
    )
    assert all(n <= 1 for n in sg_dupes.values()), f"Signal->WhatsApp duplicates: {sg_dupes}"
