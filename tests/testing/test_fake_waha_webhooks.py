"""FakeWaha webhooks: envelope, signing, retries, session.status, and the spec checks.

Every test talks real HTTP: the fake serves on 127.0.0.1:0 and posts its webhooks to a tiny
quart-trio receiver, also on port 0.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any

import httpx
import pytest
import trio
from waha_receiver import Receiver, serve_receiver, start_fake

from whatsignal.testing._waha_contract import DEVIATIONS, WahaChecker
from whatsignal.testing._waha_webhooks import WebhookTarget, retry_delay, sign
from whatsignal.testing.contract import ContractViolation, waha_examples
from whatsignal.testing.waha import FakeWaha


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    return await serve_receiver(nursery)


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeWaha, httpx.AsyncClient]:
    return await start_fake(nursery, **kwargs)


# Envelope and headers ---------------------------------------------------------------------


async def test_message_webhook_has_waha_envelope_headers_and_valid_hmac(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, _ = await start(nursery, webhook_url=receiver.url, webhook_hmac_key="s3cret")
    payload = fake.inject_message(from_="+49 171 1234567", body="hi", notify_name="Alice")
    await receiver.wait_for(1)
    headers, raw = receiver.requests[0]
    body = json.loads(raw)
    assert re.fullmatch(r"evt_[0-9a-hjkmnp-tv-z]{26}", body["id"])
    assert body["event"] == "message"
    assert body["session"] == "default"
    assert body["engine"] == "WEBJS"
    assert body["environment"]["engine"] == "WEBJS"
    assert body["me"]["id"].endswith("@c.us")
    assert body["payload"] == payload
    # ms in the envelope, seconds inside the payload
    assert body["timestamp"] > 10**12
    assert payload["timestamp"] < 10**11
    assert payload["from"] == "491711234567@c.us"
    assert payload["fromMe"] is False
    assert re.fullmatch(r"false_491711234567@c\.us_[0-9A-F]{32}", payload["id"])
    assert payload["_data"]["notifyName"] == "Alice"
    assert headers["x-webhook-timestamp"] == str(body["timestamp"])
    assert headers["x-webhook-request-id"]
    assert headers["x-webhook-hmac-algorithm"] == "sha512"
    expected = hmac.new(b"s3cret", raw, hashlib.sha512).hexdigest()
    assert headers["x-webhook-hmac"] == expected


def test_hmac_matches_the_documented_test_vector() -> None:
    raw = b'{"event":"message","session":"default","engine":"WEBJS"}'
    assert sign(raw, "my-secret-key") == (
        "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
        "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
    )


async def test_no_hmac_headers_without_a_key(nursery: trio.Nursery, receiver: Receiver) -> None:
    fake, _ = await start(nursery, webhook_url=receiver.url)
    fake.inject_message(from_="491711234567", body="x")
    await receiver.wait_for(1)
    headers = receiver.requests[0][0]
    assert "x-webhook-hmac" not in headers
    assert "x-webhook-hmac-algorithm" not in headers
    assert headers["x-webhook-request-id"]
    assert headers["content-type"] == "application/json"


async def test_group_message_carries_participant_and_suffix(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, _ = await start(nursery, webhook_url=receiver.url)
    quoted = fake.inject_message(from_="491711111111", body="original")
    payload = fake.inject_message(
        from_="491712222222", body="re", chat_id="120363000000000001@g.us", reply_to=quoted["id"]
    )
    assert payload["from"] == "120363000000000001@g.us"
    assert payload["participant"] == payload["author"] == "491712222222@c.us"
    assert payload["id"].endswith("_491712222222@c.us")
    assert payload["replyTo"]["id"] == quoted["id"].split("_")[2]
    assert payload["replyTo"]["body"] == "original"
    await receiver.wait_for(2)
    delivered = {b["payload"]["id"]: b["payload"] for b in receiver.bodies()}
    assert delivered == {quoted["id"]: quoted, payload["id"]: payload}


async def test_message_and_message_any_both_delivered_when_subscribed(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, _ = await start(
        nursery, webhook_url=receiver.url, webhook_events=("message", "message.any")
    )
    payload = fake.inject_message(from_="491711234567", body="dup", event="both")
    await receiver.wait_for(2)
    bodies = receiver.bodies()
    assert sorted(b["event"] for b in bodies) == ["message", "message.any"]
    assert {b["payload"]["id"] for b in bodies} == {payload["id"]}
    assert bodies[0]["id"] != bodies[1]["id"]


async def test_wildcard_subscribes_to_everything_but_engine_event() -> None:
    target = WebhookTarget(url="http://x", events=("*",))
    assert target.wants("message.revoked")
    assert not target.wants("engine.event")


# Retries ----------------------------------------------------------------------------------


async def test_webhook_answered_500_is_retried_with_same_event_id(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    fake, _ = await start(nursery, webhook_url=receiver.url, webhook_hmac_key="k")
    fake.inject_message(from_="491711234567", body="retry me")
    await receiver.wait_for(3)
    bodies = [raw for _, raw in receiver.requests]
    assert bodies[0] == bodies[1] == bodies[2]
    request_ids = {h["x-webhook-request-id"] for h, _ in receiver.requests}
    assert len(request_ids) == 1
    with trio.fail_after(2):
        await fake.wait_for_deliveries(3)
    assert [(d.attempt, d.status) for d in fake.deliveries] == [(1, 500), (2, 503), (3, 200)]
    assert len({d.event_id for d in fake.deliveries}) == 1


async def test_retries_stop_after_the_configured_attempts(
    nursery: trio.Nursery, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [404] * 10
    fake, _ = await start(nursery, webhook_url=receiver.url, webhook_retry_attempts=2)
    with caplog.at_level(logging.WARNING, logger="whatsignal.testing.waha"):
        fake.inject_message(from_="491711234567", body="lost")
        with trio.fail_after(5):
            await fake.wait_for_deliveries(3)
            # The delivery task logs the drop once its last attempt is recorded, and ends.
            while not any("dropped after 3 attempts" in r.getMessage() for r in caplog.records):
                await trio.sleep(0.01)
    assert len(receiver.requests) == 3  # first try + 2 retries, then dropped
    assert [(d.attempt, d.status) for d in fake.deliveries] == [(1, 404), (2, 404), (3, 404)]


async def test_connection_errors_are_recorded_and_retried(nursery: trio.Nursery) -> None:
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fake, _ = await start(
        nursery, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_retry_attempts=1
    )
    fake.inject_message(from_="491711234567", body="x")
    with trio.fail_after(5):
        await fake.wait_for_deliveries(2)
    assert all(d.status is None and d.error for d in fake.deliveries)
    assert [d.attempt for d in fake.deliveries] == [1, 2]


def test_retry_policies() -> None:
    assert retry_delay("constant", 2, 3, None) == 2
    assert retry_delay("linear", 2, 3, None) == 6
    assert 16 <= retry_delay("exponential", 2, 3, None) <= 16 * 1.2
    assert retry_delay("exponential", 2, 3, 0.5) == 0.5  # Retry-After wins


async def test_session_webhooks_from_config_with_their_own_hmac_and_retries(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    fake, client = await start(nursery)
    config = {
        "webhooks": [
            {
                "url": receiver.url,
                "events": ["message", "session.status"],
                "hmac": {"key": "per-session"},
                "retries": {"policy": "constant", "delaySeconds": 0.01, "attempts": 3},
                "customHeaders": [{"name": "X-Tenant", "value": "t1"}],
            }
        ],
        "metadata": {"user.id": "42"},
    }
    response = await client.post("/api/sessions", json={"name": "work", "config": config})
    assert response.status_code == 201
    fake.set_session_status("work", "WORKING")
    fake.inject_message("work", from_="491711234567", body="hello")
    await receiver.wait_for(4)
    events = [b["event"] for b in receiver.bodies()]
    assert "message" in events
    assert "session.status" in events
    for headers, raw in receiver.requests:
        assert headers["x-tenant"] == "t1"
        assert headers["x-webhook-hmac"] == sign(raw, "per-session")
    assert all(b["metadata"] == {"user.id": "42"} for b in receiver.bodies())


# session.status ---------------------------------------------------------------------------


async def test_session_transitions_emit_session_status(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    _fake, client = await start(
        nursery, webhook_url=receiver.url, webhook_events=("session.status",)
    )
    assert (await client.post("/api/sessions/default/stop")).json()["status"] == "STOPPED"
    started = await client.post("/api/sessions/default/start")
    assert started.status_code == 201
    assert started.json()["status"] == "STARTING"
    await receiver.wait_for(3)
    statuses = [b["payload"]["status"] for b in receiver.bodies()]
    assert statuses == ["STOPPED", "STARTING", "WORKING"]
    last = receiver.bodies()[-1]["payload"]
    assert last["name"] == "default"
    assert [p["status"] for p in last["statuses"]] == statuses


async def test_logout_leads_to_scan_qr_code_and_failed_is_injectable(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start(
        nursery, webhook_url=receiver.url, webhook_events=("session.status",)
    )
    await client.post("/api/sessions/default/logout")  # WAHA: stop, log out, start
    await receiver.wait_for(3)
    # STOPPED and STARTING leave together, on two concurrent requests: order by timestamp.
    bodies = sorted(receiver.bodies(), key=lambda b: b["timestamp"])
    assert [b["payload"]["status"] for b in bodies] == ["STOPPED", "STARTING", "SCAN_QR_CODE"]
    assert "me" not in bodies[-1]
    fake.set_session_status("default", "FAILED")
    await receiver.wait_for(4)
    assert receiver.bodies()[-1]["payload"]["status"] == "FAILED"
    # a QR "scan" brings it back
    response = await client.post("/_sim/sessions", json={"name": "default", "status": "WORKING"})
    assert response.json()["status"] == "WORKING"
    await receiver.wait_for(5)
    assert receiver.bodies()[-1]["me"]["id"].endswith("@c.us")


# Contract checks --------------------------------------------------------------------------


async def test_contract_check_rejects_an_invalid_webhook_and_delivers_nothing(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start(nursery, webhook_url=receiver.url, webhook_events=("*",))
    bad = {"id": "x", "timestamp": "yesterday", "from": 1}
    with pytest.raises(ContractViolation, match="webhook message"):
        fake.inject_event("message", "default", bad)
    assert fake.violations
    assert not fake.events
    response = await client.post(
        "/_sim/inbound", json={"event": "message.ack", "session": "default", "payload": {"ack": 9}}
    )
    assert response.status_code == 400
    assert "violates the spec" in response.json()["error"]
    assert fake.events == []  # nothing reached delivery: events are recorded before it
    # A valid event takes the same path; once it has arrived, it must be all that arrived.
    valid = fake.inject_message(from_="491711234567", body="valid")
    await receiver.wait_for(1)
    with trio.fail_after(5):
        await fake.wait_for_deliveries(1)
    assert [b["payload"]["id"] for b in receiver.bodies()] == [valid["id"]]
    assert [e["event"] for e in fake.events] == ["message"]
    assert [d.status for d in fake.deliveries] == [200]


def test_checker_accepts_real_shapes_and_names_the_deviations() -> None:
    checker = WahaChecker()
    fake = FakeWaha()
    payload = {
        "id": "false_1@c.us_AAAA",
        "timestamp": 1,
        "from": "1@c.us",
        "fromMe": False,
        "source": "app",
        "to": None,
        "participant": None,
        "body": "x",
        "hasMedia": False,
        "ack": 1,
        "ackName": "SERVER",
    }
    used = checker.check_webhook("message", fake.envelope("message", "default", payload))
    assert used == {
        "event-typed-object",  # the spec types `event` as an object
        "nullable-keyword",  # environment.worker.id: null
        "null-to-participant",
        "missing-media-url",
    }
    with pytest.raises(ContractViolation):
        checker.check_webhook(
            "message", fake.envelope("message", "default", {**payload, "fromMe": "no"})
        )
    with pytest.raises(ContractViolation, match="required"):
        checker.check_webhook("message", {"event": "message"})
    assert "message-waiting-no-schema" in checker.check_webhook(
        "message.waiting", fake.envelope("message.waiting", "default", payload)
    )


def _doc_webhook_examples() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for example in waha_examples()["examples"]:
        parsed = example["parsed"]
        if isinstance(parsed, dict) and "event" in parsed and "payload" in parsed:
            where = f"{example['source']['path']}:{example['source']['line']}"
            found.append((where, parsed))
    return found


@pytest.mark.parametrize(("where", "example"), _doc_webhook_examples())
def test_every_documented_webhook_example_validates(where: str, example: dict[str, Any]) -> None:
    """Each parseable docs example is valid, forgiving only documented deviations."""
    used = WahaChecker().check_webhook(example["event"], example, partial=True)
    assert used <= {d.key for d in DEVIATIONS}, where


def test_partial_mode_still_catches_wrong_types_in_examples() -> None:
    examples = _doc_webhook_examples()
    assert len(examples) >= 20
    ack = next(e for _, e in examples if e["event"] == "message.ack")
    broken = {**ack, "payload": {**ack["payload"], "ack": "READ"}}
    with pytest.raises(ContractViolation, match="payload/ack"):
        WahaChecker().check_webhook("message.ack", broken, partial=True)


async def test_retry_after_header_overrides_the_delay(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    receiver.statuses = [429]
    receiver.headers = {"Retry-After": "0"}
    fake, _ = await start(nursery, webhook_url=receiver.url, webhook_retry_delay=30.0)
    fake.inject_message(from_="491711234567", body="x")
    await receiver.wait_for(2)  # far sooner than the configured 30 s
    with trio.fail_after(5):
        first, second = await fake.wait_for_deliveries(2)
    assert [(first.attempt, first.status), (second.attempt, second.status)] == [(1, 429), (2, 200)]
    assert second.at - first.at < 5.0
    assert first.request_id == second.request_id
    assert receiver.requests[0][1] == receiver.requests[1][1]


def test_retry_after_parsing() -> None:
    from whatsignal.testing._waha_webhooks import _retry_after

    request = httpx.Request("POST", "http://x")
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "1.5"}, request=request)) == 1.5
    assert (
        _retry_after(httpx.Response(429, headers={"Retry-After": "soon"}, request=request)) is None
    )
    assert _retry_after(httpx.Response(500, request=request)) is None


def test_unknown_webhook_event_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no webhook"):
        WahaChecker().check_webhook("message.teleported", {})


def test_docs_list_every_deviation() -> None:
    from pathlib import Path

    docs = Path(__file__).parents[2] / "docs" / "simulators.md"
    text = docs.read_text(encoding="utf-8")
    for deviation in DEVIATIONS:
        assert f"| `{deviation.key}` |" in text, deviation.key
