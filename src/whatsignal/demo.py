"""``python -m whatsignal demo``: the bridge between two simulators, with a live transcript
(messages both ways, a stranger refused, `/chats` and `/status`, and the alert of a logged-out
session).

Needs no configuration, no environment and no network: it starts the WAHA and signal-cli
simulators and a real :class:`~whatsignal.service.Bridge` in one process (development mode,
random secrets, a temporary database), plays a short conversation through them, and prints on
stdout what each side sees as it happens. Logs (errors only, unless ``--log-level``) go to
stderr.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from whatsignal.config import config_from_mapping
from whatsignal.log import configure_logging
from whatsignal.service import Bridge
from whatsignal.testing import FakeSignal, FakeWaha

__all__ = ["run_demo"]

BRIDGE_NUMBER = "+15550100000"
YOU = "+15550100001"  # the person reading WhatsApp in Signal
CAROL = "+4917012345678"
DAVE = "+4917087654321"
ERIN = "+4917055500000"
STRANGER = "+15550199999"
SESSION = "default"
WORK = "work"  # a second session, read with portals: a Signal group per WhatsApp chat
FRANK = "+4917099900000"


@attrs.define(eq=False)
class Transcript:
    """Prints both sides' traffic as it happens, from what the simulators recorded."""

    waha: FakeWaha
    signal: FakeSignal
    out: TextIO
    started: float = attrs.field(factory=time.monotonic)
    names: dict[str, str] = attrs.field(factory=dict)
    _seen_signal: int = 0
    _seen_waha: int = 0
    lines: int = 0

    def say(self, side: str, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"{elapsed:6.2f}s  {side:<9} {text}", file=self.out, flush=True)
        self.lines += 1

    def poll(self) -> None:
        for message in self.signal.messages[self._seen_signal :]:
            quote = " (as a reply)" if message.quote_timestamp else ""
            edit = " (edit)" if message.edit_timestamp else ""
            units = message.message.encode("utf-16-le")
            styles = "".join(
                f" [{style.lower()}: {units[2 * at : 2 * (at + n)].decode('utf-16-le')!r}]"
                for at, n, style in message.text_styles
                if n
            )
            portal = [g.name for g in self.signal.groups.values() if g.id in message.recipients]
            where = f"the portal group '{portal[0]}'" if portal else "you"
            self.say("Signal", f"bridge -> {where}{quote}{edit}: {message.message!r}{styles}")
        self._seen_signal = len(self.signal.messages)
        for call in self.waha.sent[self._seen_waha :]:
            body = call.body if isinstance(call.body, dict) else {}
            if call.path == "/api/sendText":
                reply = " replying to a message" if body.get("reply_to") else ""
                chat = str(body.get("chatId"))
                where = self.names.get(chat, chat)
                self.say("WhatsApp", f"bridge -> {where}{reply}: {body.get('text')!r}")
            elif call.path == "/api/reaction":
                self.say("WhatsApp", f"bridge reacts {body.get('reaction')} on a message")
            elif call.path == "/api/sendSeen":
                chat = str(body.get("chatId"))
                self.say("WhatsApp", f"bridge marks {self.names.get(chat, chat)} as read")
        self._seen_waha = len(self.waha.sent)


async def _wait(check: Callable[[], bool], transcript: Transcript, within: float = 10.0) -> None:
    with trio.fail_after(within):
        while not check():
            transcript.poll()
            await trio.sleep(0.02)
    transcript.poll()


async def _play(out: TextIO, workdir: Path) -> int:
    webhook_secret = secrets.token_hex(24)
    api_key = secrets.token_hex(16)
    waha = FakeWaha(
        api_key=api_key,
        sessions=(SESSION, WORK),
        webhook_hmac_key=webhook_secret,
        webhook_retry_delay=0.2,
        check_contracts=False,
    )
    signal = FakeSignal(mode="json-rpc", numbers=(BRIDGE_NUMBER,), check_contracts=False)
    async with trio.open_nursery() as nursery:
        waha_url: str = await nursery.start(waha.run)
        signal_url: str = await nursery.start(signal.run)
        config = config_from_mapping(
            {
                "whatsapp": {"api_base_url": waha_url, "timeout_ms": 5000},
                "signal": {"rpc_url": signal_url, "intermediaryPhoneNumber": BRIDGE_NUMBER},
                "channels": [
                    {"whatsappSessionName": SESSION, "signalDestinationPhoneNumber": YOU},
                    {
                        "whatsappSessionName": WORK,
                        "signalDestinationPhoneNumber": YOU,
                        "portals": True,
                    },
                ],
                "database": {"path": str(workdir / "demo.db")},
                "retry": {"initialBackoffMs": 50, "maxBackoffMs": 1000},
                "server": {"host": "127.0.0.1", "port": 0, "shutdownGraceSec": 2},
            },
            env={
                "WHATSIGNAL_ENV": "development",
                "WHATSAPP_API_KEY": api_key,
                "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": webhook_secret,
            },
            source="<demo>",
        )
        bridge = Bridge(config)
        await nursery.start(bridge.run)
        waha.webhook_url = f"{bridge.url}/webhook/whatsapp"
        t = Transcript(waha, signal, out)
        print(
            "whatsignal demo: WhatsApp (WAHA simulator) <-> whatsignal <-> Signal "
            "(signal-cli simulator)\n"
            f"  bridge {bridge.url}  WAHA {waha_url}  signal-cli {signal_url}\n"
            f"  You read WhatsApp session {SESSION!r} in Signal, as {YOU}, through the bridge "
            f"number {BRIDGE_NUMBER}.\n",
            file=out,
            flush=True,
        )
        with trio.fail_after(10):
            await bridge.receiving()
        group = waha.add_group("Book club", session=SESSION, participants=[DAVE, CAROL])
        t.names.update(
            {
                f"{CAROL[1:]}@c.us": "Carol's chat",
                group: "the 'Book club' group",
                f"{ERIN[1:]}@c.us": "a new chat with Erin",
                f"{FRANK[1:]}@c.us": "Frank's chat (session 'work')",
            }
        )

        t.say("WhatsApp", "Carol -> you: 'Hi! Are we still on for *lunch*?'")
        carol_msg = waha.inject_message(
            SESSION, from_=CAROL, body="Hi! Are we still on for *lunch*?", notify_name="Carol"
        )
        await _wait(lambda: len(signal.messages) >= 1, t)
        carol_in_signal = signal.messages[0]

        t.say(
            "Signal", "you reply to Carol's message (quoting it): 'Yes! 12:30 at the usual place'"
        )
        signal.inject_envelope(
            YOU,
            message="Yes! 12:30 at the usual place",
            quote_timestamp=carol_in_signal.timestamp,
            quote_author=BRIDGE_NUMBER,
        )
        await _wait(lambda: len(waha.sent) >= 1, t)

        t.say("WhatsApp", "Dave in 'Book club': 'Chapter 3 tonight?'")
        waha.inject_message(
            SESSION, from_=DAVE, chat_id=group, body="Chapter 3 tonight?", notify_name="Dave"
        )
        await _wait(lambda: len(signal.messages) >= 2, t)

        t.say("Signal", "you write without quoting: 'Count me in' (it goes to the latest chat)")
        signal.inject_envelope(YOU, message="Count me in")
        await _wait(lambda: len([c for c in waha.sent if c.path == "/api/sendText"]) >= 2, t)

        t.say("Signal", "you react 👍 to Carol's message")
        signal.inject_envelope(
            YOU,
            reaction="👍",
            reaction_target=carol_in_signal.timestamp,
            reaction_author=BRIDGE_NUMBER,
        )
        await _wait(lambda: any(c.path == "/api/reaction" for c in waha.sent), t)

        t.say("Signal", f"you start a new chat: '/to {ERIN} Hi Erin, are you coming too?'")
        signal.inject_envelope(YOU, message=f"/to {ERIN} Hi Erin, are you coming too?")
        await _wait(lambda: len([c for c in waha.sent if c.path == "/api/sendText"]) >= 3, t)

        t.say("Signal", f"a stranger ({STRANGER}) writes to the bridge number: 'let me in'")
        signal.inject_envelope(STRANGER, message="let me in")
        await _wait(lambda: bridge.metrics.strangers._value.get() >= 1, t)
        t.say("bridge", "the stranger's message was not forwarded to any WhatsApp chat")

        t.say("Signal", "you ask the bridge: '/chats', then '/status'")
        for command in ("/chats", "/status"):
            before = len(signal.messages)
            signal.inject_envelope(YOU, message=command)
            await _wait(lambda: len(signal.messages) > before, t)  # noqa: B023 - awaited here

        t.say("WhatsApp", f"Frank -> you in session {WORK!r}, which has portals: 'Welcome aboard!'")
        waha.inject_message(WORK, from_=FRANK, body="Welcome aboard!", notify_name="Frank")
        await _wait(lambda: any(g.name == "Frank" for g in signal.groups.values()), t)
        [frank_portal] = [g for g in signal.groups.values() if g.name == "Frank"]
        await _wait(lambda: any(frank_portal.id in m.recipients for m in signal.messages), t)
        t.say("Signal", "you answer in Frank's portal group, without quoting: 'Thanks, Frank!'")
        signal.inject_envelope(YOU, message="Thanks, Frank!", group_id=frank_portal.internal_id)
        await _wait(lambda: len([c for c in waha.sent if c.path == "/api/sendText"]) >= 4, t)

        t.say("WhatsApp", "the phone is logged out of WhatsApp Web (session needs a QR scan)")
        before = len(signal.messages)
        waha.logout_session(SESSION)
        await _wait(lambda: len(signal.messages) > before, t)  # the alert, at once

        texts = [c.body for c in waha.sent if c.path == "/api/sendText"]
        ok = (
            texts[0].get("chatId") == carol_msg["from"]
            and texts[0].get("reply_to") == carol_msg["id"]
            and texts[1].get("chatId") == group
            and texts[2].get("chatId") == f"{ERIN[1:]}@c.us"
            and texts[3].get("chatId") == f"{FRANK[1:]}@c.us"
            and texts[3].get("session") == WORK
        )
        elapsed = time.monotonic() - t.started
        print(
            f"\n{len(signal.messages)} messages reached Signal and {len(texts)} reached WhatsApp "
            f"in {elapsed:.2f}s; replies went to the right chats: {'yes' if ok else 'NO'}.",
            file=out,
            flush=True,
        )
        bridge.stop(grace=2)
        nursery.cancel_scope.cancel(reason="demo finished")
    return 0 if ok else 1


def run_demo(
    *, log_level: str | None = None, log_format: Any = None, out: TextIO | None = None
) -> int:
    """Run the demo; returns the exit code (0 when every message went where it should)."""
    configure_logging(log_level or "error", log_format or "auto")
    with tempfile.TemporaryDirectory(prefix="whatsignal-demo-") as workdir:
        return trio.run(_play, out or sys.stdout, Path(workdir))
