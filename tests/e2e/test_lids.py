"""WhatsApp people behind ``@lid`` ids, end to end (issue 10, part 1).

WAHA delivers many messages from a linked id (``…@lid``) instead of the phone number's
``…@c.us``. The bridge names the person behind it (through WAHA's lids API), never shows the
bare LID, and treats their two ids as one chat for replies. Everything runs over real HTTP:
FakeWaha, FakeSignal and a real bridge.
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge_harness import ALICE_PHONE, World, message_key, world
from e2e_tools import WA_ALICE, WA_BOB, WA_DAN, chat_of, send_texts, sent_to_signal, signal_texts

from whatsignal.testing.signal_cli import SentMessage

ALICE_LID = "214748364701234@lid"
DAN_LID = "198765432109876@lid"
HIDDEN_LID = "111122223333444@lid"


async def lid_message(
    w: World, *, from_: str, body: str, text: str, name: str | None = None, **extra: str
) -> tuple[dict[str, object], SentMessage]:
    """Inject a message on the personal session and wait for the Signal text ``text``."""
    payload = w.waha.inject_message("personal", from_=from_, body=body, notify_name=name, **extra)
    await w.until(lambda: text in signal_texts(w))
    return payload, sent_to_signal(w, text)


async def reply(w: World, message: str, *, quote: SentMessage | None = None) -> dict[str, object]:
    """Alice answers in Signal (quoting ``quote``); returns the sendText WAHA received."""
    before = len(send_texts(w))
    item = w.signal.inject_envelope(
        ALICE_PHONE, message=message, quote_timestamp=quote.timestamp if quote else None
    )
    assert await w.envelopes_done(item) == ["done"]
    assert len(send_texts(w)) == before + 1
    return send_texts(w)[-1]


async def test_lid_sender_is_named_and_a_quoted_reply_reaches_her(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_contact(WA_ALICE, session="personal", name="Alice")
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        # Her push name differs from the saved name: "Alice" proves the number was resolved.
        msg, fwd = await lid_message(
            w, from_=ALICE_LID, body="Dinner?", text="Alice: Dinner?", name="Ali"
        )
        sent = await reply(w, "Yes!", quote=fwd)
        assert (sent["chatId"], sent["reply_to"], sent["text"]) == (
            chat_of(WA_ALICE),
            msg["id"],
            "Yes!",
        )


async def test_her_lid_and_phone_ids_are_one_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_contact(WA_ALICE, session="personal", name="Alice")
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        by_phone, phone_fwd = await lid_message(w, from_=WA_ALICE, body="one", text="Alice: one")
        await lid_message(w, from_=WA_BOB, body="bob here", text="Bob: bob here", name="Bob")
        by_lid, lid_fwd = await lid_message(w, from_=ALICE_LID, body="two", text="Alice: two")

        # The latest chat is hers, by her phone id, although she last wrote from the LID.
        assert (await reply(w, "unquoted"))["chatId"] == chat_of(WA_ALICE)
        # Quoting either of her messages reaches the same chat, quoting the right message.
        for quoted, fwd in ((by_phone, phone_fwd), (by_lid, lid_fwd)):
            sent = await reply(w, "quoted", quote=fwd)
            assert (sent["chatId"], sent["reply_to"]) == (chat_of(WA_ALICE), quoted["id"])
        assert {c["chatId"] for c in send_texts(w)} == {chat_of(WA_ALICE)}


async def test_a_chat_first_seen_by_lid_joins_her_phone_chat_once_learned(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        w.waha.add_lid(ALICE_LID, session="personal")  # her number is hidden at first
        first, first_fwd = await lid_message(
            w, from_=ALICE_LID, body="guess who", text="Ali: guess who", name="Ali"
        )
        assert (await reply(w, "who?"))["chatId"] == ALICE_LID  # the LID is all there is

        # WhatsApp reveals the pairing; then she writes from her phone id.
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        await lid_message(w, from_=WA_ALICE, body="me!", text="Ali: me!", name="Ali")
        sent = await reply(w, "ah, hi", quote=first_fwd)
        assert (sent["chatId"], sent["reply_to"]) == (chat_of(WA_ALICE), first["id"])


async def test_a_lid_without_a_number_is_never_shown_as_digits(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_lid(HIDDEN_LID, session="personal")
        await lid_message(w, from_=HIDDEN_LID, body="hello", text="Zed: hello", name="Zed")
        nameless, _ = await lid_message(
            w, from_=HIDDEN_LID, body="again", text="WhatsApp contact …3444: again"
        )
        assert await w.row_done(message_key("personal", nameless)) == ["done"]
        digits = HIDDEN_LID.partition("@")[0]
        assert not any(digits in t for t in signal_texts(w))
        assert (await reply(w, "who is this?"))["chatId"] == HIDDEN_LID


async def test_lids_endpoint_down_still_delivers_with_the_push_name(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        w.waha.fault("/api/personal/lids/*", count=None, status=500)
        await lid_message(w, from_=ALICE_LID, body="still here", text="Ali: still here", name="Ali")
        assert (await reply(w, "good"))["chatId"] == ALICE_LID  # no number known: her LID chat


async def test_group_message_from_a_lid_participant_is_named(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        family = w.waha.add_group("Family", session="personal", participants=[WA_DAN])
        w.waha.add_contact(WA_DAN, session="personal", name="Dan")
        w.waha.add_lid(DAN_LID, pn=WA_DAN, session="personal")
        _, fwd = await lid_message(
            w,
            from_=DAN_LID,
            chat_id=family,
            body="Sunday?",
            text="Dan in Family: Sunday?",
            name="Danny",
        )
        sent = await reply(w, "yes", quote=fwd)
        assert sent["chatId"] == family


async def test_a_mentioned_lid_is_named(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_contact(WA_ALICE, session="personal", name="Alice")
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        w.waha.add_lid(HIDDEN_LID, session="personal")
        alice, hidden = ALICE_LID.partition("@")[0], HIDDEN_LID.partition("@")[0]
        await lid_message(
            w,
            from_=WA_BOB,
            body=f"ask @{alice} and @{hidden}",
            text=f"Bob: ask @Alice and @{hidden}",
            name="Bob",
        )
        assert not re.search(alice, " ".join(signal_texts(w)))


async def test_her_lid_is_asked_of_waha_once_for_many_messages(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        counter = w.waha.fault(f"/api/personal/lids/{ALICE_LID}", count=None, latency=0.001)
        for n in range(20):
            await lid_message(w, from_=ALICE_LID, body=f"m{n}", text=f"Ali: m{n}", name="Ali")
        assert counter.hits == 1
