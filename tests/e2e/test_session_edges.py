"""Edges of sessions and lanes, end to end: Signal groups, lanes that do not block each other,
bounded mention lookups, per-session breakers, two sessions for one destination, and what the
sends to WAHA carry (link preview, convert).

Every test runs FakeWaha, FakeSignal and a real bridge over HTTP (``bridge_harness.world``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from bridge_harness import (
    ALICE_PHONE,
    BOB_PHONE,
    BRIDGE,
    World,
    envelope_key,
    message_key,
    world,
)
from e2e_tools import WA_ALICE, WA_BOB, chat_of, forward, send_texts, signal_texts

from whatsignal.relay.names import MENTION_LOOKUPS
from whatsignal.relay.router import NOTICE_SIGNAL_GROUP
from whatsignal.reliability.breaker import BreakerState
from whatsignal.service import Tuning
from whatsignal.testing import Fault

STRANGER = "+15553330003"  # a Signal user who is no channel's destination
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32
AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 32

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def strangers(w: World) -> float:
    """``whatsignal_signal_strangers_total`` as the bridge counts it now."""
    value: float = w.bridge.metrics.strangers._value.get()
    return value


def waha_writes(w: World) -> list[str]:
    """Every accepted WAHA call that changes something in WhatsApp (sends, reactions, edits)."""
    return [f"{r.method} {r.path}" for r in w.waha.sent]


# ---- 1. Signal groups are not chats --------------------------------------------------------


async def test_signal_groups_are_not_chats(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # A WhatsApp chat to reply to, and one reply that reached it (mapped, so an edit or a
        # reaction in a group *could* find a target if groups were bridged).
        _, fwd = await forward(w, "personal", from_=WA_ALICE, body="hello", name="Alice")
        reply = w.signal.inject_envelope(ALICE_PHONE, message="hi back")
        assert await w.envelopes_done(reply) == ["done"]
        writes_before = waha_writes(w)
        assert writes_before == ["POST /api/sendText"]

        family = w.signal.add_group("Family", [ALICE_PHONE, BRIDGE, STRANGER, BOB_PHONE])
        hikers = w.signal.add_group("Hikers", [ALICE_PHONE, BRIDGE])
        first = w.signal.inject_envelope(ALICE_PHONE, message="in the group", group_id=family.id)
        assert await w.envelopes_done(first) == ["done"]  # its notice went out before "done"
        notices = [m for m in w.signal.messages if m.message == NOTICE_SIGNAL_GROUP]
        assert [list(m.recipients) for m in notices] == [[ALICE_PHONE]]  # 1:1, not the group

        again = w.signal.inject_envelope(ALICE_PHONE, message="hello?", group_id=family.id)
        react = w.signal.inject_envelope(
            ALICE_PHONE, reaction="👍", reaction_target=fwd.timestamp, group_id=family.id
        )
        edit = w.signal.inject_envelope(
            ALICE_PHONE,
            message="hi back!!",
            edit=int(reply["envelope"]["timestamp"]),
            group_id=family.id,
        )
        other = w.signal.inject_envelope(STRANGER, message="who is this bot?", group_id=family.id)
        assert await w.envelopes_done(again, react, edit, other) == ["done"] * 4
        assert signal_texts(w, ALICE_PHONE).count(NOTICE_SIGNAL_GROUP) == 1  # once per group
        assert signal_texts(w, STRANGER) == []  # someone else: ignored silently
        assert strangers(w) == 0

        # Another group is another notice; a destination of the same bridge number (Bob) is
        # told on his own.
        elsewhere = w.signal.inject_envelope(ALICE_PHONE, message="hikers!", group_id=hikers.id)
        bob = w.signal.inject_envelope(BOB_PHONE, message="me too", group_id=family.id)
        assert await w.envelopes_done(elsewhere, bob) == ["done", "done"]
        assert signal_texts(w, ALICE_PHONE).count(NOTICE_SIGNAL_GROUP) == 2
        assert signal_texts(w, BOB_PHONE) == [NOTICE_SIGNAL_GROUP]
        group_ids = {family.id, hikers.id, family.internal_id, hikers.internal_id}
        assert not any(set(m.recipients) & group_ids for m in w.signal.messages)

        assert waha_writes(w) == writes_before  # nothing reached WhatsApp
        # The stranger counter works: the same stranger writing 1:1 is counted.
        direct = w.signal.inject_envelope(STRANGER, message="hello bot")
        assert await w.envelopes_done(direct) == ["done"]
        assert strangers(w) == 1
        assert signal_texts(w, STRANGER) == []


# ---- 2. Lanes that do not block each other -------------------------------------------------


async def test_failing_sends_hold_the_replies_but_not_the_chats_messages(tmp_path: Path) -> None:
    # The breaker's pause is kept short: the test is about lanes, not the breaker's cool-down.
    async with world(tmp_path, tuning=Tuning(breaker_reset=0.1)) as w:
        await forward(w, "personal", from_=WA_ALICE, body="before", name="Alice")
        outage = w.waha.fault("/api/sendText", count=None, status=500)
        replies = [w.signal.inject_envelope(ALICE_PHONE, message=f"reply {n}") for n in range(3)]
        await w.until(lambda: outage.hits >= 3)  # the first reply was tried, and failed again

        # The same chat, the other direction: WhatsApp's messages keep reaching Signal (one
        # after the other: WAHA's webhooks have no order among themselves).
        for n in range(3):
            await forward(w, "personal", from_=WA_ALICE, body=f"during {n}", name="Alice")
        assert send_texts(w) == []  # nothing got through WAHA yet ...
        for item in replies:  # ... and every reply still waits, none given up
            assert await w.row_state(envelope_key(item)) == "pending"

        # Now WAHA answers its 500s slowly: a reply is in flight for seconds at a time, and a
        # message of the same chat still crosses meanwhile.
        outage.latency = 2.0
        hits = outage.hits
        await w.until(lambda: outage.hits > hits)  # a reply's send is in flight now
        w.waha.inject_message("personal", from_=WA_ALICE, body="meanwhile", notify_name="Alice")
        await w.until(lambda: "Alice: meanwhile" in signal_texts(w), timeout=1.0)
        assert send_texts(w) == []

        outage.count = 0  # WAHA recovers
        assert await w.envelopes_done(*replies) == ["done"] * 3
        assert [(c["chatId"], c["text"]) for c in send_texts(w)] == [
            (chat_of(WA_ALICE), f"reply {n}") for n in range(3)
        ]  # in order, exactly once
        await w.settled(*replies)
        assert len(send_texts(w)) == 3


async def test_failing_sends_do_not_hold_back_the_chats_media(tmp_path: Path) -> None:
    """WAHA refusing every send trips the session's breaker for the replies; the files of
    WhatsApp's messages (downloaded from the same WAHA, which serves them fine) must not wait
    for that breaker's pause (15 s by default) nor lose their file to it."""
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="before", name="Alice")
        w.waha.fault("/api/sendText", count=None, status=500)
        replies = [w.signal.inject_envelope(ALICE_PHONE, message=f"reply {n}") for n in range(3)]
        whatsapp = w.parts.upstreams.whatsapp
        await w.until(lambda: whatsapp.breaker("personal").state is BreakerState.OPEN)

        photo = w.waha.inject_message(
            "personal", from_=WA_ALICE, body="a photo", media=PNG, notify_name="Alice"
        )
        # Seconds, not the breaker's 15 s pause (the message is done once it reached Signal).
        assert await w.row_done(message_key("personal", photo), timeout=3) == ["done"]
        sent = w.to_signal()[-1]
        assert (sent.message, [a.data for a in sent.attachments]) == ("Alice: a photo", [PNG])
        for item in replies:
            assert await w.row_state(envelope_key(item)) == "pending"
        assert send_texts(w) == []


async def test_failing_signal_sends_do_not_hold_back_the_replies_files(tmp_path: Path) -> None:
    """The other way round: signal-cli refusing every send trips the bridge number's breaker
    for WhatsApp's messages; the files of the replies (fetched from the same signal-cli, which
    serves them from its disk) must not wait for that breaker's pause."""
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="before", name="Alice")
        w.signal.add_fault(Fault(path="/v2/send", count=None, status=500, body={"error": "down"}))
        held = [
            w.waha.inject_message("personal", from_=WA_BOB, body=f"m{n}", notify_name="Bob")
            for n in range(3)
        ]
        gate = w.parts.upstreams.signal.gate(BRIDGE)
        await w.until(lambda: gate.breaker.state is BreakerState.OPEN)

        reply = w.signal.inject_envelope(
            ALICE_PHONE, message="a photo", attachments=[(PNG, "image/png", "pic.png")]
        )
        assert await w.envelopes_done(reply, timeout=3) == ["done"]  # not the breaker's 15 s
        (image,) = w.whatsapp_calls("/api/sendImage")
        assert (image["chatId"], image["caption"]) == (chat_of(WA_ALICE), "a photo")
        for payload in held:
            assert await w.row_state(message_key("personal", payload)) == "pending"


# ---- 3. Mentions bounded -------------------------------------------------------------------


async def test_thousands_of_mentions_cross_quickly_with_bounded_lookups(tmp_path: Path) -> None:
    numbers = [f"4917{n:08d}" for n in range(3000)]
    async with world(tmp_path) as w:
        w.waha.add_contact("+" + numbers[0], session="personal", name="Zoe")
        w.waha.add_contact("+" + numbers[-1], session="personal", name="Last")
        # A pass-through fault (no status, no latency) only counts the contact lookups.
        lookups = w.waha.add_fault(Fault(path="/api/contacts", method="GET", count=None))
        body = "all of you: " + " ".join(f"@{n}" for n in numbers)
        started = trio.current_time()
        msg = w.waha.inject_message("personal", from_=WA_BOB, body=body, notify_name="Bob")
        assert await w.row_done(message_key("personal", msg)) == ["done"]
        elapsed = trio.current_time() - started
        (sent,) = signal_texts(w)
        words = sent.split(" ")
        assert words[:4] == ["Bob:", "all", "of", "you:"]
        assert words[4] == "@Zoe"  # the first mentions are looked up ...
        assert words[-1] == f"@{numbers[-1]}"  # ... the rest keep their numbers
        assert words[5:] == [f"@{n}" for n in numbers[1:]]  # nameless, or not looked up
        # The sender's own name is one more lookup; each mention at most one, the first
        # MENTION_LOOKUPS only.
        assert MENTION_LOOKUPS <= lookups.hits <= MENTION_LOOKUPS + 1
        assert elapsed < 3.0, f"{elapsed:.2f} s for one message"


# ---- 4. A session's breaker is its own -----------------------------------------------------


@attrs.define(eq=False)
class SessionSendFault:
    """ASGI middleware in front of FakeWaha's app: every ``POST /api/send*`` whose JSON body
    names ``session`` is answered 500 (WAHA's body), the others pass untouched.

    FakeWaha's own faults match on the path only, and WAHA's send endpoints carry the session
    in the body, so this one reads the body (and hands it on to the app when it passes).
    """

    app: ASGIApp
    session: str
    hits: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith("/api/send"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("session") == self.session:
            self.hits += 1
            error = json.dumps({"statusCode": 500, "message": "Internal server error"}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": error})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


def fail_sends_of(w: World, session: str) -> SessionSendFault:
    """Make every WAHA send of ``session`` fail with 500 from now on."""
    fault = SessionSendFault(w.waha.injector.app, session)
    w.waha.injector.app = fault
    return fault


async def test_one_sessions_failing_sends_do_not_slow_the_other_session(tmp_path: Path) -> None:
    # The default breaker pause (15 s): were the breaker shared, personal would wait that long.
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="to alice", name="Alice")
        await forward(w, "business", from_=WA_BOB, body="to bob", name="Bob")
        broken = fail_sends_of(w, "business")
        whatsapp = w.parts.upstreams.whatsapp
        bob_replies = [w.signal.inject_envelope(BOB_PHONE, message=f"bob {n}") for n in range(3)]
        await w.until(lambda: whatsapp.breaker("business").state is BreakerState.OPEN)
        assert broken.hits >= 5

        alice_replies = []
        for n in range(5):
            started = trio.current_time()
            item = w.signal.inject_envelope(ALICE_PHONE, message=f"alice {n}")
            alice_replies.append(item)
            assert await w.envelopes_done(item) == ["done"]
            assert trio.current_time() - started < 1.0  # not deferred behind a breaker's pause
        assert [c["text"] for c in send_texts(w)] == [f"alice {n}" for n in range(5)]
        assert {c["session"] for c in send_texts(w)} == {"personal"}
        assert whatsapp.breaker("personal").state is BreakerState.CLOSED
        assert whatsapp.breaker("business").state is not BreakerState.CLOSED
        for item in bob_replies:
            assert await w.row_state(envelope_key(item)) == "pending"  # they wait, in order


# ---- 5. A quoted reply goes through the quoted message's session ---------------------------

BOTH_TO_ALICE = [
    {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
    {"whatsappSessionName": "business", "signalDestinationPhoneNumber": ALICE_PHONE},
]


async def test_a_quoted_reply_goes_through_the_quoted_messages_session(tmp_path: Path) -> None:
    async with world(tmp_path, channels=BOTH_TO_ALICE) as w:
        # The same WhatsApp person in both sessions: the chat id alone cannot tell them apart.
        b_msg = w.waha.inject_message("business", from_=WA_ALICE, body="from B", notify_name="Al")
        await w.row_done(message_key("business", b_msg))
        a_msg = w.waha.inject_message("personal", from_=WA_ALICE, body="from A", notify_name="Al")
        await w.row_done(message_key("personal", a_msg))
        b_fwd, a_fwd = w.to_signal()
        assert b_fwd.message.endswith("from B") and a_fwd.message.endswith("from A")

        quoted = w.signal.inject_envelope(
            ALICE_PHONE, message="answer to B", quote_timestamp=b_fwd.timestamp
        )
        assert await w.envelopes_done(quoted) == ["done"]
        (sent,) = send_texts(w)
        assert (sent["session"], sent["chatId"], sent["reply_to"]) == (
            "business",
            chat_of(WA_ALICE),
            b_msg["id"],
        )
        # The unquoted follow-up goes where the last reply went (session B), not to A's
        # latest message; quoting A's message goes through A.
        follow = w.signal.inject_envelope(ALICE_PHONE, message="and more")
        to_a = w.signal.inject_envelope(
            ALICE_PHONE, message="to A", quote_timestamp=a_fwd.timestamp
        )
        assert await w.envelopes_done(follow, to_a) == ["done", "done"]
        # (Two sessions' pollers send independently: their order between them is not fixed.)
        assert sorted((c["session"], c["text"], c.get("reply_to")) for c in send_texts(w)) == [
            ("business", "and more", None),
            ("business", "answer to B", b_msg["id"]),
            ("personal", "to A", a_msg["id"]),
        ]
        assert [c["chatId"] for c in send_texts(w)] == [chat_of(WA_ALICE)] * 3


# ---- 6. What the sends carry: link preview, convert ----------------------------------------


@pytest.mark.parametrize("preview", [True, False])
async def test_link_preview_follows_the_setting_and_the_text(tmp_path: Path, preview: bool) -> None:
    async with world(tmp_path, extra={"whatsapp": {"linkPreview": preview}}) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        items = [
            w.signal.inject_envelope(ALICE_PHONE, message="look: https://example.org/x"),
            w.signal.inject_envelope(ALICE_PHONE, message="no link here"),
            w.signal.inject_envelope(ALICE_PHONE, message="www.example.org too"),
        ]
        assert await w.envelopes_done(*items) == ["done"] * 3
        assert [(c["text"], c["linkPreview"]) for c in send_texts(w)] == [
            ("look: https://example.org/x", preview),
            ("no link here", False),
            ("www.example.org too", preview),
        ]


async def test_video_and_voice_are_sent_with_convert_an_image_not(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="send me things", name="Alice")
        items = [
            w.signal.inject_envelope(ALICE_PHONE, attachments=[(MP4, "video/mp4", "clip.mp4")]),
            w.signal.inject_envelope(ALICE_PHONE, attachments=[(AAC, "audio/aac", None)]),
            w.signal.inject_envelope(ALICE_PHONE, attachments=[(PNG, "image/png", "pic.png")]),
        ]
        assert await w.envelopes_done(*items) == ["done"] * 3
        video, voice, image = (
            w.whatsapp_calls(path)[0]
            for path in ("/api/sendVideo", "/api/sendVoice", "/api/sendImage")
        )
        assert (video["convert"], voice["convert"]) == (True, True)
        assert "convert" not in image
        assert [r.path for r in w.waha.sent] == [
            "/api/sendVideo",
            "/api/sendVoice",
            "/api/sendImage",
        ]
