"""Signal -> WhatsApp reply routing, end to end (the Go integration scenarios of its section 13.1).

Every test runs FakeWaha, FakeSignal and a real bridge over HTTP. The Signal user is ALICE_PHONE
(personal session) or BOB_PHONE (business session); the WhatsApp people are WA_*.
"""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BOB_PHONE, BRIDGE, World, world
from e2e_tools import (
    WA_ALICE,
    WA_BOB,
    WA_CAROL,
    WA_DAN,
    chat_of,
    forward,
    send_texts,
    signal_texts,
)

from whatsignal.relay.notices import NOTICE_UNKNOWN_QUOTE


def _one_outcome(w: World, allowed_chat: str) -> None:
    """A reply routed by a quoted name went to ``allowed_chat`` and no notice was sent, or it
    went nowhere and the sender got exactly one notice saying the quote is unknown."""
    sent = [c["chatId"] for c in send_texts(w)]
    notices = [t for t in signal_texts(w, ALICE_PHONE) if t == NOTICE_UNKNOWN_QUOTE]
    assert (sent, len(notices)) in (([allowed_chat], 0), ([], 1)), (sent, notices)


async def test_quoted_reply_goes_to_the_quoted_sender_not_the_latest(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        alice_msg, alice_fwd = await forward(
            w, "personal", from_=WA_ALICE, body="Dinner tonight?", name="Alice"
        )
        await forward(w, "personal", from_=WA_BOB, body="Call me", name="Bob")

        item = w.signal.inject_envelope(
            ALICE_PHONE, message="Yes, at 8", quote_timestamp=alice_fwd.timestamp
        )
        assert await w.envelopes_done(item) == ["done"]
        assert len(send_texts(w)) == 1
        reply = send_texts(w)[0]
        assert (reply["session"], reply["chatId"]) == ("personal", chat_of(WA_ALICE))
        assert reply["reply_to"] == alice_msg["id"]
        assert reply["text"] == "Yes, at 8"


async def test_unquoted_reply_falls_back_to_the_latest_chat_without_notice(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="first", name="Alice")
        await forward(w, "personal", from_=WA_BOB, body="second", name="Bob")
        signal_before = len(w.signal.messages)

        item = w.signal.inject_envelope(ALICE_PHONE, message="to whoever wrote last")
        assert await w.envelopes_done(item) == ["done"]
        assert len(send_texts(w)) == 1
        reply = send_texts(w)[0]
        assert reply["chatId"] == chat_of(WA_BOB)
        assert "reply_to" not in reply or reply["reply_to"] is None
        assert len(w.signal.messages) == signal_before  # no warning notice in Signal


async def test_quote_timestamp_precision_mismatch_is_not_sent_anywhere(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        _, alice_fwd = await forward(w, "personal", from_=WA_ALICE, body="hello", name="Alice")
        await forward(w, "personal", from_=WA_BOB, body="hi", name="Bob")

        # A client reporting the quoted timestamp in microseconds: no mapping has it.
        item = w.signal.inject_envelope(
            ALICE_PHONE, message="reply", quote_timestamp=alice_fwd.timestamp * 1000
        )
        # An envelope that is not routed is done once its notice was sent.
        assert await w.envelopes_done(item) == ["done"]
        assert send_texts(w) == []
        notice = [m for m in w.signal.messages if m.message == NOTICE_UNKNOWN_QUOTE]
        assert [list(m.recipients) for m in notice] == [[ALICE_PHONE]]
        assert "quote" in NOTICE_UNKNOWN_QUOTE.lower()


async def test_unknown_quote_with_sender_name_routes_by_name(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_CAROL, body="Hello there", name="Carol")
        await forward(w, "personal", from_=WA_BOB, body="later message", name="Bob")

        # The quoted message's own mapping is gone (unknown timestamp) but its text names Carol.
        item = w.signal.inject_envelope(
            ALICE_PHONE,
            message="Hi Carol",
            quote={"timestamp": 123456789, "author": BRIDGE, "text": "Carol: Hello there"},
        )
        assert await w.envelopes_done(item) == ["done"]
        assert len(send_texts(w)) == 1
        reply = send_texts(w)[0]
        assert reply["chatId"] == chat_of(WA_CAROL)
        assert reply.get("reply_to") is None  # the exact message is unknown


async def test_unknown_quote_naming_nobody_known_gets_a_notice(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_BOB, body="hi", name="Bob")
        item = w.signal.inject_envelope(
            ALICE_PHONE,
            message="Hi Zed",
            quote={"timestamp": 123456789, "author": BRIDGE, "text": "Zed: who?"},
        )
        assert await w.envelopes_done(item) == ["done"]
        assert signal_texts(w, ALICE_PHONE) == ["Bob: hi", NOTICE_UNKNOWN_QUOTE]
        assert send_texts(w) == []


async def test_group_message_format_and_quoted_reply_to_the_right_group(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        family = w.waha.add_group("Family", session="personal", participants=[WA_DAN])
        work = w.waha.add_group("Work", session="personal", participants=[WA_DAN])
        fam_msg, fam_fwd = await forward(
            w, "personal", from_=WA_DAN, body="Sunday lunch?", name="Dan",
            chat_id=family, group="Family",
        )  # fmt: skip
        await forward(
            w, "personal", from_=WA_DAN, body="Report due", name="Dan", chat_id=work, group="Work"
        )
        assert fam_fwd.message == "Dan in Family: Sunday lunch?"
        assert list(fam_fwd.recipients) == [ALICE_PHONE]

        # Quote the older group's message: the reply goes there, not to the latest group.
        w.signal.inject_envelope(ALICE_PHONE, message="I'm in", quote_timestamp=fam_fwd.timestamp)
        await w.until(lambda: len(send_texts(w)) == 1)
        reply = send_texts(w)[0]
        assert reply["chatId"] == family
        assert reply["reply_to"] == fam_msg["id"]

        # Unquoted: the latest chat, which is the reply just sent (Family), not Work.
        w.signal.inject_envelope(ALICE_PHONE, message="bring cake")
        await w.until(lambda: len(send_texts(w)) == 2)
        assert send_texts(w)[1]["chatId"] == family


async def test_multi_channel_isolation(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        _, personal_fwd = await forward(w, "personal", from_=WA_ALICE, body="p1", name="Alice")
        _, business_fwd = await forward(w, "business", from_=WA_CAROL, body="b1", name="Carol")
        assert list(personal_fwd.recipients) == [ALICE_PHONE]
        assert list(business_fwd.recipients) == [BOB_PHONE]
        assert signal_texts(w, ALICE_PHONE) == ["Alice: p1"]
        assert signal_texts(w, BOB_PHONE) == ["Carol: b1"]

        # BOB_PHONE's unquoted reply goes to the business session's latest chat.
        w.signal.inject_envelope(BOB_PHONE, message="business reply")
        await w.until(lambda: len(send_texts(w)) == 1)
        assert (send_texts(w)[0]["session"], send_texts(w)[0]["chatId"]) == (
            "business",
            chat_of(WA_CAROL),
        )

        # Even quoting a personal-session message, BOB_PHONE cannot reach the personal session.
        sneaky = w.signal.inject_envelope(
            BOB_PHONE, message="sneaky", quote_timestamp=personal_fwd.timestamp
        )
        assert await w.envelopes_done(sneaky) == ["done"]
        assert signal_texts(w, BOB_PHONE) == ["Carol: b1", NOTICE_UNKNOWN_QUOTE]
        assert [c["session"] for c in send_texts(w)] == ["business"]

        # ALICE_PHONE's replies still go to the personal session.
        w.signal.inject_envelope(ALICE_PHONE, message="personal reply")
        await w.until(lambda: len(send_texts(w)) == 2)
        assert (send_texts(w)[1]["session"], send_texts(w)[1]["chatId"]) == (
            "personal",
            chat_of(WA_ALICE),
        )


async def test_stranger_reaches_no_whatsapp_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        _, fwd = await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        before = len(w.signal.messages)
        stranger = "+15559990000"
        knock = w.signal.inject_envelope(stranger, message="let me in")
        quoting = w.signal.inject_envelope(
            stranger, message="quoting", quote_timestamp=fwd.timestamp
        )
        assert await w.envelopes_done(knock, quoting) == ["done", "done"]
        assert w.bridge.metrics.strangers._value.get() == 2
        assert send_texts(w) == []
        assert len(w.signal.messages) == before  # strangers get no notice either
        assert b"whatsignal_signal_strangers_total 2.0" in w.bridge.metrics.render()


async def test_unquoted_follow_up_goes_where_the_previous_reply_went(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        _, alice_fwd = await forward(w, "personal", from_=WA_ALICE, body="wine?", name="Alice")
        await forward(w, "personal", from_=WA_BOB, body="meeting", name="Bob")
        # The user answers Alice (quoted) and adds a follow-up at once, unquoted: the
        # follow-up belongs to Alice's chat although the first reply is not delivered yet.
        w.waha.fault("/api/sendText", count=1, latency=0.3)
        yes = w.signal.inject_envelope(
            ALICE_PHONE, message="yes", quote_timestamp=alice_fwd.timestamp
        )
        cheese = w.signal.inject_envelope(ALICE_PHONE, message="and cheese")
        assert await w.envelopes_done(yes, cheese) == ["done", "done"]
        assert [(c["chatId"], c["text"]) for c in send_texts(w)] == [
            (chat_of(WA_ALICE), "yes"),
            (chat_of(WA_ALICE), "and cheese"),
        ]


async def test_name_fallback_never_turns_a_direct_reply_into_a_group_post(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        group = w.waha.add_group("Family", session="personal", participants=[WA_CAROL])
        await forward(w, "personal", from_=WA_CAROL, body="private thing", name="Carol")
        await forward(
            w, "personal", from_=WA_CAROL, body="hi all", name="Carol", chat_id=group,
            group="Family",
        )  # fmt: skip
        # The quoted direct message is unknown; Carol's latest message is in the group.
        item = w.signal.inject_envelope(
            ALICE_PHONE,
            message="about your private thing",
            quote={"timestamp": 42, "author": BRIDGE, "text": "Carol: private thing"},
        )
        assert await w.envelopes_done(item) == ["done"]
        _one_outcome(w, chat_of(WA_CAROL))


async def test_name_fallback_keeps_to_the_named_group(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        family = w.waha.add_group("Family", session="personal", participants=[WA_DAN])
        work = w.waha.add_group("Work", session="personal", participants=[WA_DAN])
        await forward(
            w, "personal", from_=WA_DAN, body="lunch?", name="Dan", chat_id=family,
            group="Family",
        )  # fmt: skip
        await forward(
            w, "personal", from_=WA_DAN, body="report", name="Dan", chat_id=work, group="Work"
        )
        item = w.signal.inject_envelope(
            ALICE_PHONE,
            message="yes, lunch",
            quote={"timestamp": 42, "author": BRIDGE, "text": "Dan in Family: lunch?"},
        )
        assert await w.envelopes_done(item) == ["done"]
        _one_outcome(w, family)
        before = send_texts(w)

        # Quoting the latest group by name does route there.
        w.signal.inject_envelope(
            ALICE_PHONE,
            message="done",
            quote={"timestamp": 43, "author": BRIDGE, "text": "Dan in Work: report"},
        )
        await w.until(lambda: any(c["chatId"] == work for c in send_texts(w)))
        assert [(c["chatId"], c["text"]) for c in send_texts(w)[len(before) :]] == [(work, "done")]
