"""Text crosses the bridge both ways, with replies routed to the right WhatsApp chat."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BRIDGE, world

from whatsignal.testing import Fault


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


async def test_signal_cli_down_at_start_is_detected_later(tmp_path: Path) -> None:
    """signal-cli not answering /v1/about at start: the receiver asks again and then uses the
    websocket of json-rpc mode (polling a json-rpc server would fail forever)."""
    faults = [Fault(path="/v1/about", count=2, status=503)]
    async with world(tmp_path, signal_mode="json-rpc", signal_faults=faults) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000002", body="ping")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.signal.inject_envelope(ALICE_PHONE, message="pong")
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1)
        assert w.whatsapp_calls("/api/sendText")[0]["chatId"] == msg["from"]
        assert w.signal.dropped == 0


async def test_default_channel_serves_sessions_without_their_own(tmp_path: Path) -> None:
    """A ``"*"`` channel: a session with no channel of its own gets a worker on its first
    message, and the destination's replies route back to it."""
    channels = [
        {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
        {"whatsappSessionName": "*", "signalDestinationPhoneNumber": ALICE_PHONE},
    ]
    async with world(tmp_path, channels=channels, sessions=("personal", "sales")) as w:
        msg = w.waha.inject_message(
            "sales", from_="+4917000000021", body="a lead", notify_name="Eve"
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        assert w.to_signal()[0].message == "Eve: a lead"
        registry = w.bridge.registry
        assert registry is not None
        assert "sales" in registry.running_sessions()
        w.signal.inject_envelope(ALICE_PHONE, message="on it")
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1)
        reply = w.whatsapp_calls("/api/sendText")[0]
        assert (reply["session"], reply["chatId"]) == ("sales", msg["from"])


async def test_poll_mode_survives_receive_failures(tmp_path: Path) -> None:
    faults = [Fault(path="/v1/receive/*", count=3, status=500)]
    async with world(tmp_path, signal_mode="normal", signal_faults=faults) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000022", body="still there?")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.signal.inject_envelope(ALICE_PHONE, message="yes")
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1, timeout=20)
        assert w.whatsapp_calls("/api/sendText")[0]["chatId"] == msg["from"]
