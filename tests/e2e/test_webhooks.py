"""The bridge's HTTP edge end to end: WAHA webhooks, signal-cli's push path, health endpoints.

Webhooks are posted as WAHA posts them (signed raw body); the answers are what WAHA's retry
logic and an operator see.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bridge_harness import ALICE_PHONE, World, envelope_key, message_key, world
from e2e_tools import (
    WA_ALICE,
    chat_of,
    forward,
    get,
    post_webhook,
    send_texts,
    server_stamped_line,
    signal_texts,
)

import whatsignal
from whatsignal.testing import Fault

PUSH_TOKEN = "p" * 32


def _quiet_message(w: World, body: str = "hello") -> dict[str, Any]:
    """A WAHA ``message`` event built by the fake but not delivered (the test posts it)."""
    url, w.waha.webhook_url = w.waha.webhook_url, None
    try:
        w.waha.inject_message("personal", from_=WA_ALICE, body=body, notify_name="Alice")
    finally:
        w.waha.webhook_url = url
    return w.waha.events[-1]


async def test_message_and_message_any_both_delivered_give_one_signal_send(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, waha_options={"webhook_events": ["message", "message.any"]}) as w:
        payload = w.waha.inject_message(
            "personal", from_=WA_ALICE, body="twice?", notify_name="Alice", event="both"
        )
        await w.until(lambda: len([d for d in w.waha.deliveries if d.ok]) == 2)
        assert sorted(d.event for d in w.waha.deliveries if d.ok) == ["message", "message.any"]
        # Both deliveries were answered, so both were journaled (as one row); once that row is
        # done nothing more can be sent for this message.
        assert await w.row_done(message_key("personal", payload)) == ["done"]
        assert await w.parts.store.state_counts() == {("personal", "done"): 1}
        assert signal_texts(w) == ["Alice: twice?"]


async def test_a_redelivered_webhook_is_answered_200_and_sent_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        event = _quiet_message(w)
        first = await post_webhook(w, event)
        second = await post_webhook(w, event)
        assert (first.status_code, first.json()["status"]) == (200, "accepted")
        assert (second.status_code, second.json()["status"]) == (200, "duplicate")
        assert await w.row_done(message_key("personal", event["payload"])) == ["done"]
        assert signal_texts(w) == ["Alice: hello"]


async def test_webhook_signature_is_required(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        event = _quiet_message(w)
        missing = await post_webhook(w, event, signature=None)
        wrong = await post_webhook(w, event, signature="0" * 128)
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert "X-Webhook-Hmac" in wrong.json()["error"]
        # A 401 is answered before anything is journaled: there is nothing to wait for.
        key = message_key("personal", event["payload"])
        assert await w.row_state(key) is None
        assert await w.parts.store.state_counts() == {}
        assert w.signal.messages == []
        # The same event, signed, is new to the bridge (the refused posts left no trace).
        signed = await post_webhook(w, event)
        assert (signed.status_code, signed.json()["status"]) == (200, "accepted")
        assert await w.row_done(key) == ["done"]
        assert signal_texts(w) == ["Alice: hello"]


async def test_malformed_webhooks_get_400_with_a_reason(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        not_json = await post_webhook(w, b'{"event": "message", ')
        assert not_json.status_code == 400
        assert "JSON" in not_json.json()["error"]

        event = _quiet_message(w)
        del event["payload"]["id"]
        no_id = await post_webhook(w, event)
        assert no_id.status_code == 400
        assert "id" in no_id.json()["error"]

        not_an_object = await post_webhook(w, b"[1, 2]")
        assert not_an_object.status_code == 400
        assert not_an_object.json()["error"]
        # A 400 is answered before anything is journaled, so nothing can be sent later.
        assert await w.parts.store.state_counts() == {}
        assert w.signal.messages == []


async def test_oversized_webhook_is_refused_with_413(tmp_path: Path) -> None:
    async with world(tmp_path, extra={"server": {"webhookMaxBytes": 4096}}) as w:
        event = _quiet_message(w, body="x" * 5000)
        too_big = await post_webhook(w, event)
        assert too_big.status_code == 413
        assert "webhookMaxBytes" in too_big.json()["error"]
        assert await w.row_state(message_key("personal", event["payload"])) is None
        fits = _quiet_message(w, body="fits")
        small = await post_webhook(w, fits)
        assert (small.status_code, small.json()["status"]) == (200, "accepted")
        assert await w.row_done(message_key("personal", fits["payload"])) == ["done"]
        assert signal_texts(w) == ["Alice: fits"]


async def test_unknown_event_and_unconfigured_session_are_ignored_with_200(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        event = _quiet_message(w)
        unknown = await post_webhook(w, {**event, "event": "state.change"})
        # presence.update is read (typing), so a message's payload in it is bad input.
        malformed = await post_webhook(w, {**event, "event": "presence.update"})
        assert malformed.status_code == 400
        other = await post_webhook(w, {**event, "session": "nobody"})
        assert (unknown.status_code, unknown.json()["status"]) == (200, "ignored")
        assert (other.status_code, other.json()["status"]) == (200, "ignored")
        # "ignored" is answered without journaling: no row, so nothing can be sent later.
        assert await w.row_state(message_key("nobody", event["payload"])) is None
        assert await w.parts.store.state_counts() == {}
        assert w.signal.messages == []
        metrics = w.bridge.metrics.render().decode()
        assert 'event="state.change",result="ignored"' in metrics
        # The same message on the configured session is new, and crosses once.
        accepted = await post_webhook(w, event)
        assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted")
        assert await w.row_done(message_key("personal", event["payload"])) == ["done"]
        assert signal_texts(w) == ["Alice: hello"]


async def test_skew_check_refuses_stale_new_events_but_never_a_journaled_one(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, extra={"server": {"webhookMaxSkewSec": 60}}) as w:
        event = _quiet_message(w)
        fresh = {"X-Webhook-Timestamp": str(int(time.time() * 1000))}
        stale = {"X-Webhook-Timestamp": str(int((time.time() - 3600) * 1000))}
        refused = await post_webhook(w, event, headers=stale)
        assert refused.status_code == 401
        assert (await post_webhook(w, event, headers=fresh)).status_code == 200
        late_retry = await post_webhook(w, event, headers=stale)
        assert (late_retry.status_code, late_retry.json()["status"]) == (200, "duplicate")
        assert await w.row_done(message_key("personal", event["payload"])) == ["done"]
        assert signal_texts(w) == ["Alice: hello"]


def _push_line(text: str, timestamp: int) -> dict[str, Any]:
    """Alice's text as signal-cli pushes it, with the data message's every field."""
    return server_stamped_line(
        text,
        timestamp,
        dataMessage={
            "timestamp": timestamp,
            "message": text,
            "expiresInSeconds": 0,
            "viewOnce": False,
        },
    )


async def test_signal_push_path_needs_its_token(tmp_path: Path) -> None:
    async with world(tmp_path, extra={"signal": {"webhookToken": PUSH_TOKEN}}) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        line = _push_line("pushed", int(time.time() * 1000))
        no_token = await post_webhook(w, line, signature=None, path="/webhook/signal")
        wrong = await post_webhook(
            w, line, signature=None, path="/webhook/signal?token=" + "x" * 32
        )
        assert (no_token.status_code, wrong.status_code) == (401, 401)
        # Refused before journaling: no row for the envelope, so nothing can be sent later.
        assert await w.row_state(envelope_key(line["params"])) is None
        assert send_texts(w) == []

        ok = await post_webhook(w, line, signature=None, path=f"/webhook/signal?token={PUSH_TOKEN}")
        assert (ok.status_code, ok.json()["status"]) == (200, ["accepted"])
        assert await w.envelopes_done(line["params"]) == ["done"]
        assert [(c["chatId"], c["text"]) for c in send_texts(w)] == [(chat_of(WA_ALICE), "pushed")]
        bad = await post_webhook(
            w, {"jsonrpc": "2.0"}, signature=None, path=f"/webhook/signal?token={PUSH_TOKEN}"
        )
        assert bad.status_code == 400


async def test_signal_push_path_is_closed_without_a_configured_token(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        line = _push_line("pushed", int(time.time() * 1000))
        response = await post_webhook(w, line, signature=None, path="/webhook/signal?token=")
        assert response.status_code == 401
        assert await w.row_state(envelope_key(line["params"])) is None
        assert await w.parts.store.state_counts() == {}


async def test_push_and_websocket_together_deliver_once(tmp_path: Path) -> None:
    async with world(tmp_path, extra={"signal": {"webhookToken": PUSH_TOKEN}}) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        w.signal.receive_webhook_url = f"{w.bridge.url}/webhook/signal?token={PUSH_TOKEN}"
        items = [w.signal.inject_envelope(ALICE_PHONE, message=f"both paths {n}") for n in range(5)]
        await w.until(lambda: len(w.signal.webhook_results) == 5)
        assert w.signal.webhook_results == [200] * 5
        # Both paths carry the same natural key: one row each, and once the rows are done no
        # late copy from the slower path can be sent.
        assert await w.envelopes_done(*items) == ["done"] * 5
        assert w.signal.dropped == 0  # the websocket got every envelope as well
        # Each exactly once, and in the order they were sent, although either path may
        # journal an envelope first (rows are routed in envelope timestamp order).
        texts = [c["text"] for c in send_texts(w)]
        assert texts == [f"both paths {n}" for n in range(5)]


async def _degraded_sessions(w: World) -> bool:
    return "sessions" in (await get(w, "/health")).json()["checks"]


async def _health_ok(w: World) -> bool:
    return (await get(w, "/health")).json()["status"] == "ok"


async def test_health_shows_upstreams_degraded_but_stays_ready(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ok = await get(w, "/health")
        assert (ok.status_code, ok.json()) == (
            200,
            {"status": "ok", "checks": {"storage": "ok", "whatsapp": "ok", "signal": "ok"}},
        )
        assert (await get(w, "/readyz")).status_code == 200

        # WAHA away: the bridge still takes webhooks and journals; it says so, and stays ready.
        waha_down = w.waha.add_fault(
            Fault(path="/api/server/version", count=None, status=502, body={"message": "down"})
        )
        down = await get(w, "/health")
        assert down.status_code == 200
        assert down.json()["status"] == "degraded"
        assert down.json()["checks"]["signal"] == "ok"
        assert down.json()["checks"]["whatsapp"] != "ok"
        assert (await get(w, "/readyz")).status_code == 200
        assert (await get(w, "/healthz")).status_code == 200  # liveness never follows upstreams
        waha_down.count = 0

        w.signal.add_fault(Fault(path="/v1/health", count=None, drop=True))
        down = await get(w, "/health")
        assert (down.status_code, down.json()["status"]) == (200, "degraded")
        assert down.json()["checks"]["whatsapp"] == "ok"
        assert down.json()["checks"]["signal"] != "ok"
        w.signal.injector.clear()

        # A session that stops shows as degraded too.
        w.waha.stop_session("business")
        await w.until(lambda: _degraded_sessions(w))
        stopped = (await get(w, "/health")).json()
        assert stopped["status"] == "degraded"
        assert stopped["checks"]["sessions"] == {"business": "STOPPED"}
        w.waha.start_session("business")
        await w.until(lambda: _health_ok(w))
        body = (await get(w, "/healthz")).json()
        assert body == {"status": "alive", "version": whatsignal.__version__}
