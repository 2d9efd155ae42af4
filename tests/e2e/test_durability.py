"""Durability acceptance: the bridge process is SIGKILLed mid-stream and started again.

Two hundred WhatsApp messages (over ten chats) and two hundred Signal replies (quoting a
forwarded message of each chat, so they route) stream through a real ``python -m whatsignal run``
subprocess. Half-way the process is killed with SIGKILL and started again on the same database
and port. The promise under test (DESIGN.md section 2):

* every committed message arrives: WAHA retries its webhooks until the restarted bridge answers
  200, so every WhatsApp message must arrive in Signal;
* at most one duplicate per chat (the message whose send happened but whose ``done`` did not
  commit);
* the only possible loss is a Signal envelope that signal-cli handed out in the instant before
  the kill: receiving is destructive, so one the dead process had read but not journaled is gone.
  FakeSignal logs every receive answer (``handed_out``); an envelope may be missing only if it was
  handed out in the last answer before the kill, within ``INSTANT`` seconds before it, or after it
  (to the dead connection).

The simulators run in this test's nursery over real HTTP; only the bridge is a subprocess.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio
import yaml
from bridge_harness import ALICE_PHONE, API_KEY, BRIDGE, SECRET

from whatsignal.testing import FakeSignal, FakeWaha

MESSAGES = 200
CHATS = 10
SESSION = "personal"
INJECT_GAP = 0.015
INSTANT = 0.25
"""Seconds before the kill in which a handed-out envelope may not have been journaled yet: the
receiver journals in group-committed batches, so the last one or two answers can be in flight."""

_WA_TOKEN = re.compile(r"\bwa-\d{3}\b")
_SG_TOKEN = re.compile(r"^sg-\d{3}$")


def _free_port() -> int:
    """A port that was free a moment ago (the bridge must keep it across its restart)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _chat_number(chat: int) -> str:
    return f"+4917000000{chat:02d}"


def _write_config(tmp_path: Path, waha_url: str, signal_url: str, port: int) -> Path:
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
        "media": {"cache_dir": str(tmp_path / "media")},
        "retry": {"initialBackoffMs": 10, "maxBackoffMs": 200, "maxAttempts": 3},
        "server": {"host": "127.0.0.1", "port": port, "shutdownGraceSec": 2},
        "log_level": "info",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class BridgeProcess:
    """``python -m whatsignal run`` as a child process, started and killed on demand."""

    def __init__(self, config: Path, url: str, log_path: Path) -> None:
        self.config = config
        self.url = url
        self.log_path = log_path
        self.process: trio.Process | None = None
        # Inherit the environment: coverage's subprocess patch travels in it.
        self.env = {
            **os.environ,
            "WHATSIGNAL_ENV": "development",
            "WHATSAPP_API_KEY": API_KEY,
            "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": SECRET,
        }

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    async def start(self, client: httpx.AsyncClient) -> None:
        """Spawn the bridge and wait until ``/readyz`` answers 200."""
        with self.log_path.open("ab") as log_file:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "whatsignal", "run", "--config", str(self.config)],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        with trio.fail_after(30):
            while True:
                if self.process.returncode is not None or self.process.poll() is not None:
                    raise AssertionError(f"bridge exited early:\n{self.log_tail()}")
                try:
                    response = await client.get(f"{self.url}/readyz", timeout=1.0)
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await trio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no cleanup at all, exactly the crash under test."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            with trio.CancelScope(shield=True):
                await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM (graceful, so the child writes its coverage data), then SIGKILL if stuck."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    with trio.move_on_after(timeout):
        while not check():
            await trio.sleep(0.02)
        return
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_mid_stream_loses_nothing_committed(tmp_path: Path) -> None:
    waha = FakeWaha(
        api_key=API_KEY,
        sessions=(SESSION,),
        webhook_hmac_key=SECRET,
        webhook_retry_attempts=5000,
        webhook_retry_delay=0.02,
        status_step=0.01,
    )
    fake_signal = FakeSignal(mode="normal", numbers=(BRIDGE,), receive_time_scale=0.05)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    async with trio.open_nursery() as nursery, httpx.AsyncClient() as client:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(fake_signal.run)
        waha.webhook_url = f"{url}/webhook/whatsapp"
        config = _write_config(tmp_path, waha_url, signal_url, port)
        bridge = BridgeProcess(config, url, tmp_path / "bridge.log")
        try:
            await bridge.start(client)

            def to_signal() -> list[str]:
                return [m.message for m in fake_signal.messages]

            def to_whatsapp() -> list[dict[str, Any]]:
                return [r.body for r in waha.sent if r.path == "/api/sendText"]

            # One forwarded message per chat, so Signal replies have something to quote.
            seeds: dict[int, int] = {}
            for chat in range(CHATS):
                waha.inject_message(
                    SESSION, from_=_chat_number(chat), body=f"seed-{chat}", notify_name=f"C{chat}"
                )
            await _until(lambda: len(fake_signal.messages) >= CHATS, timeout=10, what="seeds")
            for sent in fake_signal.messages:
                chat = int(sent.message.rsplit("seed-", 1)[1])
                seeds[chat] = sent.timestamp
            assert sorted(seeds) == list(range(CHATS))

            wa_chat: dict[str, int] = {}
            sg_chat: dict[str, int] = {}
            signal_ts: dict[int, str] = {}  # envelope timestamp -> token

            async def stream_whatsapp() -> None:
                for i in range(MESSAGES):
                    chat = i % CHATS
                    token = f"wa-{i:03d}"
                    wa_chat[token] = chat
                    waha.inject_message(
                        SESSION, from_=_chat_number(chat), body=token, notify_name=f"C{chat}"
                    )
                    await trio.sleep(INJECT_GAP)

            async def stream_signal() -> None:
                for i in range(MESSAGES):
                    chat = (i * 3) % CHATS
                    token = f"sg-{i:03d}"
                    sg_chat[token] = chat
                    item = fake_signal.inject_envelope(
                        ALICE_PHONE, message=token, quote_timestamp=seeds[chat], quote_author=BRIDGE
                    )
                    signal_ts[int(item["envelope"]["timestamp"])] = token
                    await trio.sleep(INJECT_GAP)

            killed_at = restarted_at = 0.0
            async with trio.open_nursery() as streams:
                streams.start_soon(stream_whatsapp)
                streams.start_soon(stream_signal)
                arrived = lambda: len(to_signal()) - CHATS + len(to_whatsapp())  # noqa: E731
                await _until(lambda: arrived() >= MESSAGES, timeout=20, what="half the stream")
                killed_at = trio.current_time()
                await bridge.kill()
                killed_with = arrived()
                # A receive the dead process had pending may still hand out for one long-poll
                # window (50 ms here); after this pause every hand-out goes to the new process.
                await trio.sleep(0.2)
                restarted_at = trio.current_time()
                await bridge.start(client)
            # Which envelopes a killed process may have read but never journaled.
            before = [(t, stamps) for t, stamps in fake_signal.handed_out if t <= killed_at]
            at_risk: set[int] = set()
            if before:
                at_risk.update(before[-1][1])
            for t, stamps in fake_signal.handed_out:
                if killed_at - INSTANT <= t < restarted_at:
                    at_risk.update(stamps)
            may_lose = {signal_ts[ts] for ts in at_risk if ts in signal_ts}

            def settled() -> bool:
                wa_seen = set(_WA_TOKEN.findall("\n".join(to_signal())))
                sg_seen = {b["text"] for b in to_whatsapp()}
                return len(wa_seen) == MESSAGES and set(sg_chat) - may_lose <= sg_seen

            await _until(settled, timeout=25, what="every message after the restart")
            await _until_drained(client, url)
        finally:
            await bridge.stop()
            nursery.cancel_scope.cancel()

    # WhatsApp -> Signal: all arrive; at most one duplicate per chat.
    wa_counts = collections.Counter(
        token for text in to_signal() for token in _WA_TOKEN.findall(text)
    )
    assert set(wa_counts) == set(wa_chat), "a committed WhatsApp message was lost"
    wa_dupes = collections.Counter(wa_chat[t] for t, n in wa_counts.items() for _ in range(n - 1))
    if os.environ.get("DBG"):
        for m in fake_signal.messages:
            for tok in _WA_TOKEN.findall(m.message):
                if wa_counts[tok] > 1:
                    print("DUP", tok, wa_chat[tok], m.timestamp)
        tok_at = {signal_ts[ts]: t for t, stamps in fake_signal.handed_out for ts in stamps}
        print("lost", [(tok, round(killed_at - tok_at[tok], 3)) for tok in set(sg_chat) - {b["text"] for b in to_whatsapp()}])
        print("near kill", [(round(killed_at - t, 3), len(st)) for t, st in fake_signal.handed_out if killed_at - 0.3 < t < restarted_at])
    assert all(n <= 1 for n in wa_dupes.values()), f"WhatsApp->Signal duplicates: {wa_dupes}"

    # Signal -> WhatsApp: all but the allowed loss arrive, in the right chat; <= 1 dupe per chat.
    sendtexts = [b for b in to_whatsapp() if _SG_TOKEN.match(b["text"])]
    for body in sendtexts:
        assert body["chatId"] == f"{_chat_number(sg_chat[body['text']])[1:]}@c.us", body
    sg_counts = collections.Counter(b["text"] for b in sendtexts)
    lost = set(sg_chat) - set(sg_counts)
    assert lost <= may_lose, f"lost envelopes not handed out just before the kill: {lost}"
    sg_dupes = collections.Counter(sg_chat[t] for t, n in sg_counts.items() for _ in range(n - 1))
    assert all(n <= 1 for n in sg_dupes.values()), f"Signal->WhatsApp duplicates: {sg_dupes}"

    # The kill really happened mid-stream, in both directions.
    assert 0 < killed_with < 2 * MESSAGES
    print(
        f"killed after {killed_with} arrivals; lost {len(lost)} of {len(may_lose)} at risk; "
        f"duplicates wa->signal {sum(wa_dupes.values())}, signal->wa {sum(sg_dupes.values())}"
    )


async def _until_drained(client: httpx.AsyncClient, url: str) -> None:
    """Wait until the bridge's journal has no pending rows (late duplicates would show up)."""
    with trio.fail_after(15):
        while True:
            response = await client.get(f"{url}/session/status", timeout=2.0)
            response.raise_for_status()
            queues: dict[str, dict[str, int]] = response.json().get("queues", {})
            if not any(states.get("pending") for states in queues.values()):
                return
            await trio.sleep(0.05)
