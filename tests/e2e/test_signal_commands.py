"""Commands written to the bridge number: start a new WhatsApp chat, ask for help."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, World, world

NEW_CONTACT = "+4917000000101"


def _notices(w: World) -> list[str]:
    """What the bridge answered in Signal (notices), not forwarded WhatsApp messages."""
    return [m.message for m in w.to_signal() if m.message.startswith(("⚠️", "whatsignal"))]


async def test_to_starts_a_new_chat_and_the_next_message_continues_it(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        start = w.signal.inject_envelope(ALICE_PHONE, message=f"/to {NEW_CONTACT} Hi, it's Alice")
        assert await w.envelopes_done(start) == ["done"]
        assert len(w.whatsapp_calls("/api/sendText")) == 1
        first = w.whatsapp_calls("/api/sendText")[0]
        assert (first["session"], first["chatId"], first["text"]) == (
            "personal",
            NEW_CONTACT.lstrip("+") + "@c.us",
            "Hi, it's Alice",
        )
        escaped = w.signal.inject_envelope(ALICE_PHONE, message="//slash at the start")
        assert await w.envelopes_done(escaped) == ["done"]
        assert len(w.whatsapp_calls("/api/sendText")) == 2
        assert w.to_signal() == []  # no notice: neither is a mistake
        second = w.whatsapp_calls("/api/sendText")[1]
        assert (second["chatId"], second["text"]) == (first["chatId"], "/slash at the start")


async def test_help_and_mistakes_are_answered_in_signal(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        items = [
            w.signal.inject_envelope(ALICE_PHONE, message="/help"),
            w.signal.inject_envelope(ALICE_PHONE, message="/to nobody hello"),
            w.signal.inject_envelope(ALICE_PHONE, message="/to elsewhere:+4917000000102 hello"),
        ]
        # A command is answered before its row is done: all three are answered, once each.
        assert await w.envelopes_done(*items) == ["done"] * 3
        assert len(w.to_signal()) == 3
        help_text, usage, unknown = _notices(w)
        assert "/to +491701234567 your text" in help_text
        assert "usage: /to" in usage
        assert "no WhatsApp session 'elsewhere'" in unknown
        assert w.whatsapp_calls("/api/sendText") == []


async def test_a_destination_with_several_sessions_must_say_which(tmp_path: Path) -> None:
    channels = [
        {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
        {"whatsappSessionName": "business", "signalDestinationPhoneNumber": ALICE_PHONE},
    ]
    async with world(tmp_path, channels=channels) as w:
        vague = w.signal.inject_envelope(ALICE_PHONE, message=f"/to {NEW_CONTACT} hello")
        assert await w.envelopes_done(vague) == ["done"]
        assert [m.message for m in w.to_signal()] == _notices(w)
        assert len(_notices(w)) == 1
        assert "say which WhatsApp session" in _notices(w)[0]
        assert w.whatsapp_calls("/api/sendText") == []  # a guess could pick the wrong account
        clear = w.signal.inject_envelope(ALICE_PHONE, message=f"/to business:{NEW_CONTACT} hello")
        assert await w.envelopes_done(clear) == ["done"]
        sent = w.whatsapp_calls("/api/sendText")
        assert [(c["session"], c["chatId"], c["text"]) for c in sent] == [
            ("business", NEW_CONTACT.lstrip("+") + "@c.us", "hello")
        ]
