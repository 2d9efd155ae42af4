"""Typing both ways, end to end: FakeWaha, FakeSignal and a real bridge over HTTP.

ALICE_PHONE reads the ``personal`` session in Signal; WA_* are the WhatsApp people.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_harness import ALICE_PHONE, BRIDGE, World, world
from e2e_tools import WA_ALICE, WA_BOB, chat_of, signal_texts
from test_portals import PORTAL_CHANNELS, group_named

STRANGER = "+15559990009"


def waha_typing(w: World) -> list[tuple[str, str]]:
    """WAHA's typing calls: (start|stop, chat)."""
    return [
        (r.path.removeprefix("/api/").removesuffix("Typing"), r.body["chatId"])
        for r in w.waha.sent
        if r.path in ("/api/startTyping", "/api/stopTyping")
    ]


def signal_typing(w: World) -> list[tuple[str, str]]:
    """signal-cli's typing indicators: (PUT|DELETE, recipient)."""
    path = f"/v1/typing-indicator/{BRIDGE}"
    return [(r.method, r.body["recipient"]) for r in w.signal.sent if r.path == path]


async def message(w: World, from_: str, body: str, name: str) -> dict[str, Any]:
    payload = w.waha.inject_message("personal", from_=from_, body=body, notify_name=name)
    await w.until(lambda: any(body in text for text in signal_texts(w)))
    return payload


async def test_signal_typing_shows_in_the_chat_a_reply_would_go_to(tmp_path: Path) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        await message(w, WA_BOB, "Hi from Bob", "Bob")
        await message(w, WA_ALICE, "Hi from Alice", "Alice")  # the latest: replies go here
        w.signal.inject_envelope(STRANGER, typing="STARTED")  # no destination: nowhere
        w.signal.inject_envelope(ALICE_PHONE, typing="STARTED")
        await w.until(lambda: waha_typing(w) == [("start", chat_of(WA_ALICE))])
        w.signal.inject_envelope(ALICE_PHONE, typing="STOPPED")
        await w.until(lambda: len(waha_typing(w)) == 2)
        assert waha_typing(w)[1] == ("stop", chat_of(WA_ALICE))


async def test_whatsapp_typing_shows_in_the_one_to_one_conversation_only_for_the_latest_chat(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        await message(w, WA_BOB, "Hi from Bob", "Bob")
        await message(w, WA_ALICE, "Hi from Alice", "Alice")
        for who in (WA_BOB, WA_ALICE):  # as if subscribed (the bridge subscribes portals)
            w.waha.presence_subscriptions.add(("personal", chat_of(who)))
        w.waha.inject_presence("personal", chat_id=chat_of(WA_BOB))  # not the latest: hidden
        w.waha.inject_presence("personal", chat_id=chat_of(WA_ALICE))
        await w.until(lambda: signal_typing(w) == [("PUT", ALICE_PHONE)])
        w.waha.inject_presence("personal", chat_id=chat_of(WA_ALICE), presence="paused")
        await w.until(lambda: signal_typing(w) == [("PUT", ALICE_PHONE), ("DELETE", ALICE_PHONE)])


async def test_in_a_portal_typing_crosses_both_ways_whatever_chat_is_latest(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        await message(w, WA_ALICE, "Hi from Alice", "Alice")
        subscribe = f"/api/personal/presence/{chat_of(WA_ALICE)}/subscribe"
        await w.until(lambda: any(r.path == subscribe for r in w.waha.sent))  # portal made
        await message(w, WA_BOB, "Hi from Bob", "Bob")  # Bob is the latest now
        alice = group_named(w, "Alice")

        w.waha.inject_presence("personal", chat_id=chat_of(WA_ALICE))
        await w.until(lambda: signal_typing(w) == [("PUT", alice.id)])

        w.signal.inject_envelope(ALICE_PHONE, typing="STARTED", group_id=alice.internal_id)
        await w.until(lambda: waha_typing(w) == [("start", chat_of(WA_ALICE))])


async def test_existing_portals_are_subscribed_at_start(tmp_path: Path) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        await message(w, WA_ALICE, "Hi from Alice", "Alice")
        w.bridge.stop(grace=5)
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        subscribe = f"/api/personal/presence/{chat_of(WA_ALICE)}/subscribe"
        await w.until(lambda: any(r.path == subscribe for r in w.waha.sent))
