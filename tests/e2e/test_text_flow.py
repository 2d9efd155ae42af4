"""Text crosses the bridge both ways, with replies routed to the right WhatsApp chat."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BOB_PHONE, BRIDGE, world


async def test_whatsapp_message_arrives_in_signal_and_quoted_reply_returns(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg = w.waha.inject_message(
            "personal", from_="+4917000000001", body="Hello from WhatsApp", notify_name="Carol"
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        sent = w.to_signal()[0]
        assert list(sent.recipients) == [ALICE_PHONE]
        assert sent.number == BRIDGE
        assert sent.message == "Carol: Hello from WhatsApp"

        w.signal.inject_envelope(
            ALICE_PHONE, message="Hi Carol!", quote_timestamp=sent.timestamp, quote_author=BRIDGE
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1)
        reply = w.whatsapp_calls("/api/sendText")[0]
        assert reply["session"] == "personal"
        assert reply["chatId"] == "4917000000001@c.us"
        assert reply["text"] == "Hi Carol!"
        assert reply["reply_to"] == msg["id"]
