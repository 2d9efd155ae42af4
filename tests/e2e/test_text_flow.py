"""Text crosses the bridge both ways, with replies routed to the right WhatsApp chat."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from bridge_harness import ALICE_PHONE, BRIDGE, envelope_key, world
from slow_link import slow_link

from whatsignal.service import Bridge
from whatsignal.testing import Fault
from whatsignal.wiring import Tuning


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

        answer = w.signal.inject_envelope(
            ALICE_PHONE, message="Hi Carol!", quote_timestamp=sent.timestamp, quote_author=BRIDGE
        )
        await w.settled(answer)
        assert len(w.to_signal()) == 1  # each direction exactly once
        assert len(w.whatsapp_calls("/api/sendText")) == 1
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
        registry = w.parts.registry
        assert "sales" in registry.running()
        w.signal.inject_envelope(ALICE_PHONE, message="on it")
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1)
        reply = w.whatsapp_calls("/api/sendText")[0]
        assert (reply["session"], reply["chatId"]) == ("sales", msg["from"])


async def test_poll_mode_survives_receive_failures(tmp_path: Path) -> None:
    faults = [Fault(path="/v1/receive/*", count=3, status=500)]
    async with world(tmp_path, signal_mode="normal", signal_faults=faults) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000022", body="still there?")
        await w.until(lambda: len(w.to_signal()) == 1)
        answer = w.signal.inject_envelope(ALICE_PHONE, message="yes")
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1, timeout=20)
        assert await w.envelopes_done(answer) == ["done"]
        sent = w.whatsapp_calls("/api/sendText")
        assert [(c["chatId"], c["text"]) for c in sent] == [(msg["from"], "yes")]
        assert faults[0].hits == 3  # the receive failures really happened


async def test_an_envelope_whose_push_failed_keeps_its_place_behind_a_slow_websocket(
    tmp_path: Path,
) -> None:
    """signal-cli pushes in order, but a push can fail (no retry upstream): that envelope then
    comes only over the websocket, which may be slower than the push of the next one. The
    newer, pushed envelope waits until the websocket has delivered what it held before that
    push, so the chat sees both in the order they were written (a fixed settle shorter than
    the websocket's lag let the newer one through first)."""
    token = "push-token-0123456789"
    slow = partial(Bridge, websocket_connect=slow_link(1.5), tuning=Tuning())
    async with world(tmp_path, extra={"signal": {"webhookToken": token}}, bridge_factory=slow) as w:
        w.waha.inject_message("personal", from_="+4917000000031", body="hello")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.signal.receive_webhook_url = f"{w.bridge.url}/webhook/signal?token={token}"
        w.signal.fail_pushes(1)
        first = w.signal.inject_envelope(ALICE_PHONE, message="first")
        second = w.signal.inject_envelope(ALICE_PHONE, message="second")
        await w.until(lambda: len(w.signal.webhook_results) == 2)
        assert w.signal.webhook_results[1] == 200  # the newer one was pushed (and journaled)
        keys = [envelope_key(item) for item in (first, second)]
        assert await w.row_done(*keys) == ["done", "done"]
        assert [c["text"] for c in w.whatsapp_calls("/api/sendText")] == ["first", "second"]


async def test_metrics_show_traffic_and_the_backlog(tmp_path: Path) -> None:
    import httpx

    async with world(tmp_path) as w:
        w.waha.inject_message("personal", from_="+4917000000061", body="one")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.signal.add_fault(Fault(path="/v2/send", count=None, status=503))
        w.waha.inject_message("personal", from_="+4917000000062", body="two")
        async with httpx.AsyncClient(base_url=w.bridge.url) as client:
            text = ""

            async def backlog_shown() -> bool:
                nonlocal text
                text = (await client.get("/metrics")).text
                return 'whatsignal_journal_pending{queue="personal"} 1.0' in text

            await w.until(backlog_shown)
            assert 'whatsignal_forwarded_total{direction="wa_to_signal",kind="message"} 1.0' in text
            assert "whatsignal_delivery_failures_total" in text
            assert "+4917000000062" not in text and "4917000000062" not in text


async def test_sessions_are_discovered_and_followed_through_status_webhooks(
    tmp_path: Path,
) -> None:
    channels = [
        {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
        {"whatsappSessionName": "*", "signalDestinationPhoneNumber": ALICE_PHONE},
    ]
    extra = {
        "signal": {"sessionDiscoveryIntervalSec": 3600},  # only the first listing, then webhooks
        "whatsapp": {"sessionAutoRestart": True},
    }
    async with world(
        tmp_path,
        channels=channels,
        sessions=("personal", "sales"),
        extra=extra,
        waha_options={"auto_pair": True},
    ) as w:
        registry = w.parts.registry
        await w.until(lambda: registry.running() == ["personal", "sales"])
        w.waha.create_session("late")  # STARTING, then WORKING: session.status webhooks
        await w.until(lambda: "late" in registry.running())
        w.waha.set_session_status("late", "FAILED")  # auto restart: back to WORKING
        await w.until(lambda: w.waha.session("late").status == "WORKING")
        await w.until(lambda: "late" in registry.running())
        w.waha.stop_session("sales")
        table = w.parts.sessions
        await w.until(lambda: table.status("sales") == "STOPPED")
        # A stopped session keeps its poller, waiting (it holds replies for the session), but
        # gives its slot back.
        assert registry.running() == ["late", "personal", "sales"]
        assert table.entry("sales").slot is False  # type: ignore[union-attr]
        import httpx

        async with httpx.AsyncClient(base_url=w.bridge.url) as client:
            status = (await client.get("/session/status")).json()
        assert status["sessions"]["late"]["waha"] == "WORKING"
        assert status["sessions"]["late"]["worker"] == "running"
        assert status["sessions"]["sales"]["waha"] == "STOPPED"
        assert status["sessions"]["sales"]["worker"] == "waiting for WORKING"
        assert set(status["workers"]) == {"personal", "late", "sales"}


async def test_channels_with_their_own_bridge_numbers(tmp_path: Path) -> None:
    """``channels[].signalPhoneNumber``: each channel talks through its own Signal number,
    with its own receiver; a reply to one number never reaches the other channel."""
    second = "+15550000009"
    channels = [
        {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
        {
            "whatsappSessionName": "business",
            "signalDestinationPhoneNumber": ALICE_PHONE,
            "signalPhoneNumber": second,
        },
    ]
    async with world(
        tmp_path, channels=channels, signal_options={"numbers": (BRIDGE, second)}
    ) as w:
        registry = w.parts.registry
        assert len(registry.snapshot()["receivers"]) == 2
        home = w.waha.inject_message("personal", from_="+4917000000091", body="dinner?")
        work = w.waha.inject_message("business", from_="+4917000000092", body="report?")
        await w.until(lambda: len(w.to_signal()) == 2)
        by_number = {m.number: m.message for m in w.to_signal()}
        assert by_number == {BRIDGE: "+4917000000091: dinner?", second: "+4917000000092: report?"}
        w.signal.inject_envelope(ALICE_PHONE, account=second, message="on my desk")
        w.signal.inject_envelope(ALICE_PHONE, account=BRIDGE, message="at 8")
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 2)
        sent = {c["session"]: (c["chatId"], c["text"]) for c in w.whatsapp_calls("/api/sendText")}
        assert sent == {
            "business": (work["from"], "on my desk"),
            "personal": (home["from"], "at 8"),
        }
