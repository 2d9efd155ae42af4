"""The chat commands, end to end: ``/chats`` numbers the person's recent chats (newest first,
a person's ``@lid`` and phone ids one chat, groups marked), ``/to N`` answers chat N,
``/mute`` keeps a chat's messages in WhatsApp (counted in ``/status``) until ``/unmute``, and
``/retry`` sends the person's dead letters again. Mistakes are answered with the usage."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BOB_PHONE, World, message_key, world
from e2e_tools import WA_ALICE, WA_BOB, WA_DAN, chat_of, forward, send_texts, signal_texts

from whatsignal.testing import Fault

ALICE_LID = "214748364701234@lid"
WAHA_400 = {"statusCode": 400, "message": "Bad Request: chatId is invalid", "error": "Bad Request"}


def _listing(w: World) -> list[str]:
    """The lines of the latest ``/chats`` answer Alice got (without its heading)."""
    found = [t for t in signal_texts(w, ALICE_PHONE) if t.startswith("💬")]
    assert found, "no /chats answer yet"
    return found[-1].splitlines()[1:]


async def _ask(w: World, message: str, **extra: object) -> str:
    """Alice writes ``message`` to the bridge; the answer she got."""
    before = len(signal_texts(w, ALICE_PHONE))
    item = w.signal.inject_envelope(ALICE_PHONE, message=message, **extra)  # type: ignore[arg-type]
    assert await w.envelopes_done(item) == ["done"]
    await w.until(lambda: len(signal_texts(w, ALICE_PHONE)) > before)
    return signal_texts(w, ALICE_PHONE)[-1]


async def test_chats_lists_newest_first_and_to_n_answers_that_chat(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_contact(WA_ALICE, session="personal", name="Alice")
        w.waha.add_lid(ALICE_LID, pn=WA_ALICE, session="personal")
        family = w.waha.add_group("Family", session="personal", participants=[WA_DAN])
        await forward(w, "personal", from_=WA_ALICE, body="one", name="Alice")
        await forward(w, "personal", from_=WA_BOB, body="hi", name="Bob")
        await forward(
            w, "personal", from_=WA_DAN, body="lunch?", name="Dan", chat_id=family, group="Family"
        )
        await forward(w, "personal", from_=ALICE_LID, body="two", name="Alice")

        assert (await _ask(w, "/to 1 hello")).startswith("⚠️ whatsignal: write /chats first")
        await _ask(w, "  /CHATS ")
        # Alice wrote last (from her LID): one line for her two ids, then the group, then Bob.
        assert _listing(w) == ["1 Alice", "2 Family (group)", "3 +4917000000002"]

        before = len(send_texts(w))
        item = w.signal.inject_envelope(ALICE_PHONE, message="/to 3 see you, Bob")
        assert await w.envelopes_done(item) == ["done"]
        await w.until(lambda: len(send_texts(w)) == before + 1)
        assert (send_texts(w)[-1]["chatId"], send_texts(w)[-1]["text"]) == (
            chat_of(WA_BOB),
            "see you, Bob",
        )
        item = w.signal.inject_envelope(ALICE_PHONE, message="/to 2 yes!")
        assert await w.envelopes_done(item) == ["done"]
        await w.until(lambda: len(send_texts(w)) == before + 2)
        assert send_texts(w)[-1]["chatId"] == family

        wrong = await _ask(w, "/to 7 nobody")
        assert "no chat 7" in wrong and "1 to 3" in wrong
        assert "usage: /to N" in await _ask(w, "/to 2")
        assert len(send_texts(w)) == before + 2  # mistakes send nothing


async def test_chats_of_someone_else_are_not_listed(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "business", from_=WA_DAN, body="for Bob", name="Dan")
        item = w.signal.inject_envelope(BOB_PHONE, message="/chats")
        assert await w.envelopes_done(item) == ["done"]
        answer = await _ask(w, "/chats")
        assert "no chats yet" in answer
        await w.until(lambda: len(signal_texts(w, BOB_PHONE)) == 2)
        assert signal_texts(w, BOB_PHONE)[-1].splitlines()[1:] == ["1 +4917000000004"]


async def test_a_muted_chat_stays_in_whatsapp_until_unmuted(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="first", name="Alice")
        _, bob_fwd = await forward(w, "personal", from_=WA_BOB, body="hi", name="Bob")
        assert "usage: /mute N" in await _ask(w, "/mute 1 2")
        assert "say which chat" in await _ask(w, "/mute")
        muted = await _ask(w, "/mute", quote_timestamp=bob_fwd.timestamp)
        assert muted.startswith("🔇") and "+4917000000002" in muted

        held = w.waha.inject_message("personal", from_=WA_BOB, body="psst", notify_name="Bob")
        await forward(w, "personal", from_=WA_ALICE, body="second", name="Alice")
        assert await w.row_done(message_key("personal", held)) == ["done"]
        assert "Bob: psst" not in signal_texts(w)
        status = await _ask(w, "/status")
        assert "1 muted chats (1 messages held)" in status
        await _ask(w, "/chats")
        assert _listing(w) == ["1 +4917000000001", "2 +4917000000002 (muted)"]

        unmuted = await _ask(w, "/unmute 2")
        assert unmuted.startswith("🔔") and "1 message(s) arrived while it was muted" in unmuted
        await forward(w, "personal", from_=WA_BOB, body="back", name="Bob")
        assert "Bob: psst" not in signal_texts(w)  # not replayed: it is in WhatsApp
        assert "was not muted" in await _ask(w, "/unmute 2")


async def test_retry_sends_the_persons_dead_letters_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        w.waha.add_fault(Fault(path="/api/sendText", count=3, status=400, body=WAHA_400))
        one = w.signal.inject_envelope(ALICE_PHONE, message="lost words")
        assert await w.envelopes_done(one) == ["dead"]
        assert "1 dead letters" in await _ask(w, "/status")
        assert "1 dead letter(s) will be sent again" in await _ask(w, "/retry")
        assert await w.envelopes_done(one) == ["done"]
        assert send_texts(w)[-1]["text"] == "lost words"
        assert "no dead letters" in await _ask(w, "/RETRY personal")
