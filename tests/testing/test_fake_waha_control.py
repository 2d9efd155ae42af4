"""FakeWaha's control API (``/_sim/...`` and the Python methods), faults, and the CLI hooks."""

from __future__ import annotations

import argparse
import base64
from typing import Any

import httpx
import pytest
import trio

from whatsignal.testing.waha import DEFAULT_EVENTS, FakeWaha, add_arguments, from_args


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeWaha, httpx.AsyncClient]:
    kwargs.setdefault("status_step", 0.01)
    kwargs.setdefault("not_working_wait", 0.1)
    fake = FakeWaha(**kwargs)
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


SEND = {"chatId": "491711234567@c.us", "text": "hi"}


# Faults -----------------------------------------------------------------------------------


async def test_status_fault_n_times_then_ok(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    added = await client.post(
        "/_sim/faults", json={"path": "/api/sendText", "method": "POST", "status": 500, "count": 2}
    )
    assert added.status_code == 201
    first = await client.post("/api/sendText", json=SEND)
    second = await client.post("/api/sendText", json=SEND)
    third = await client.post("/api/sendText", json=SEND)
    assert [first.status_code, second.status_code, third.status_code] == [500, 500, 201]
    assert first.json()["statusCode"] == 500  # WAHA's 500 body when none is given
    assert len(fake.sent) == 1  # faulted calls never reached the API
    listed = (await client.get("/_sim/faults")).json()
    assert listed[0]["hits"] == 2
    assert listed[0]["count"] == 0


async def test_latency_fault_delays_the_answer(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    await client.post("/_sim/faults", json={"path": "/api/sessions*", "latency": 0.2})
    started = trio.current_time()
    response = await client.get("/api/sessions")
    assert response.status_code == 200
    assert trio.current_time() - started >= 0.2


async def test_drop_fault_is_a_transport_error_for_the_client(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    fault = fake.fault("/api/sendText", drop=True)
    with pytest.raises(httpx.TransportError):
        await client.post("/api/sendText", json=SEND)
    assert (fault.hits, fault.count) == (1, 0)
    assert (await client.post("/api/sendText", json=SEND)).status_code == 201
    assert len(fake.sent) == 1  # the dropped call never reached the API


async def test_bad_faults_are_400_with_a_reason_and_faults_can_be_cleared(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery)
    bad = await client.post("/_sim/faults", json={"path": "/api/sendText"})
    assert bad.status_code == 400
    assert "at least one of" in bad.json()["error"]
    unknown = await client.post("/_sim/faults", json={"path": "/x", "status": 500, "oops": 1})
    assert unknown.status_code == 400
    assert "oops" in unknown.json()["error"]
    not_json = await client.post("/_sim/faults", content=b"{")
    assert not_json.status_code == 400
    fake.fault("/api/*", status=503, count=None, body={"custom": True})
    assert (await client.get("/api/sessions")).json() == {"custom": True}
    assert (await client.delete("/_sim/faults")).status_code == 200
    assert (await client.get("/api/sessions")).status_code == 200
    assert (await client.get("/_sim/")).status_code == 200  # control routes are never faulted


# Control routes ---------------------------------------------------------------------------


async def test_index_lists_every_control_route(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    routes = (await client.get("/_sim/")).json()["routes"]
    listed = {(r["method"], r["path"]) for r in routes}
    for route in [
        ("POST", "/_sim/inbound"),
        ("GET", "/_sim/sent"),
        ("POST", "/_sim/faults"),
        ("DELETE", "/_sim/faults"),
        ("POST", "/_sim/reset"),
        ("POST", "/_sim/sessions"),
        ("GET", "/_sim/deliveries"),
    ]:
        assert route in listed
    assert all(r["description"] for r in routes)


async def test_inbound_short_forms(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    message = await client.post(
        "/_sim/inbound",
        json={"from": "+4917111", "body": "hi", "group": "1203630001@g.us", "notifyName": "Bo"},
    )
    assert message.status_code == 200
    payload = message.json()["payload"]
    assert payload["participant"] == "4917111@c.us"
    assert payload["from"] == "1203630001@g.us"
    msg_id = payload["id"]
    media = base64.b64encode(b"PDF").decode()
    steps: list[dict[str, Any]] = [
        {
            "from": "4917111",
            "replyTo": msg_id,
            "media": {"data": media, "mimetype": "application/pdf", "filename": "a.pdf"},
        },
        {"type": "reaction", "from": "4917111", "messageId": msg_id, "reaction": "❤️"},
        {"type": "ack", "messageId": msg_id, "ack": 3, "participant": "4917111"},
        {"type": "ack", "messageId": "true_4917222@c.us_ABC", "ack": 2},
        {"type": "edit", "messageId": msg_id, "body": "hi!"},
        {"type": "revoke", "messageId": msg_id},
    ]
    for step in steps:
        response = await client.post("/_sim/inbound", json=step)
        assert response.status_code == 200, response.text
    events = [e["event"] for e in fake.events]
    assert events == [
        "message",
        "message",
        "message.reaction",
        "message.ack.group",
        "message.ack",
        "message.edited",
        "message.revoked",
    ]
    with_media = fake.events[1]["payload"]
    assert with_media["media"]["filename"] == "a.pdf"
    assert with_media["replyTo"]["body"] == "hi"
    revoked = fake.events[-1]["payload"]
    assert revoked["revokedMessageId"] == msg_id.split("_")[2]
    assert revoked["before"]["body"] == "hi!"  # the edit was applied to the known message
    assert revoked["after"]["id"] != msg_id
    edited = fake.events[-2]["payload"]
    assert edited["editedMessageId"] == msg_id.split("_")[2]
    assert edited["body"] == "hi!"


async def test_inbound_full_event_form(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    payload = fake.inject_message(from_="4917111", body="x")
    waiting = await client.post(
        "/_sim/inbound",
        json={"event": "message.waiting", "session": "default", "payload": payload},
    )
    assert waiting.status_code == 200
    envelope = waiting.json()
    assert envelope["event"] == "message.waiting"
    assert envelope["id"].startswith("evt_")
    assert envelope["session"] == "default"
    assert envelope["payload"] == payload  # delivered as given, in the full envelope
    assert envelope["me"] == fake.me("default")
    assert fake.events[-1] == envelope


@pytest.mark.parametrize(
    "body",
    [
        {"body": "no sender"},
        {"from": 5},
        {"from": "1", "media": "x"},
        {"from": "1", "media": {"data": "%%"}},
        {"from": "1", "event": "nope"},
        {"from": "1", "session": "ghost"},
        {"from": "1", "fromMe": True},
        {"type": "ack", "messageId": "x", "ack": "read"},
        {"type": "ack", "messageId": "x", "ack": 9},
        {"type": "ack", "messageId": "not-serialized", "ack": 1},
        {"type": "edit", "messageId": "plain", "body": "b"},
        {"type": "revoke", "messageId": "plain"},
        {"type": "teleport"},
        {"from": ""},
    ],
)
async def test_bad_inbound_input_is_400_with_a_reason(
    nursery: trio.Nursery, body: dict[str, Any]
) -> None:
    fake, client = await start(nursery)
    response = await client.post("/_sim/inbound", json=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert fake.events == []


async def test_from_me_messages_arrive_as_message_any(nursery: trio.Nursery) -> None:
    fake, _ = await start(nursery)
    payload = fake.inject_message(from_="4917111", body="mine", from_me=True, event="message.any")
    assert payload["fromMe"] is True
    assert payload["id"].startswith("true_4917111@c.us_")
    assert payload["from"] == fake.me("default")["id"]
    assert payload["to"] == "4917111@c.us"


async def test_sent_since_gives_only_what_is_new(nursery: trio.Nursery) -> None:
    _fake, client = await start(nursery)
    await client.post("/api/sendText", json=SEND)
    await client.post("/api/sendText", json={**SEND, "text": "again"})
    # A poller that keeps count asks only for what is new; a bad count means "everything".
    newer = (await client.get("/_sim/sent", params={"since": 1})).json()
    assert [s["body"]["text"] for s in newer] == ["again"]
    assert len((await client.get("/_sim/sent", params={"since": "x"})).json()) == 2


async def test_sent_deliveries_events_and_reset(nursery: trio.Nursery) -> None:
    fake, client = await start(
        nursery, webhook_url="http://127.0.0.1:9/none", webhook_retry_attempts=0
    )
    await client.post("/api/sendText", json=SEND)
    sent = (await client.get("/_sim/sent")).json()
    assert [(s["method"], s["path"], s["body"]["text"]) for s in sent] == [
        ("POST", "/api/sendText", "hi")
    ]
    fake.inject_message(from_="4917111", body="x")
    with trio.fail_after(5):
        await fake.wait_for_deliveries(1)
    deliveries = (await client.get("/_sim/deliveries")).json()
    assert deliveries[0]["status"] is None
    assert deliveries[0]["error"]
    assert deliveries[0]["eventId"].startswith("evt_")
    events = (await client.get("/_sim/events")).json()
    assert [e["event"] for e in events] == ["message.any", "message"]
    await client.post("/api/sessions/default/stop")
    fake.fault("/api/*", status=500, count=None)
    assert (await client.post("/_sim/reset")).json() == {"reset": True}
    assert fake.sent == []
    assert fake.events == []
    assert fake.deliveries == []
    assert fake.session("default").status == "WORKING"
    assert (await client.post("/api/sendText", json=SEND)).status_code == 201


async def test_sim_sessions_create_and_change_status(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    created = await client.post(
        "/_sim/sessions", json={"name": "biz", "config": {"metadata": {"a": "b"}}}
    )
    assert created.json()["status"] == "WORKING"
    assert fake.session("biz").config == {"metadata": {"a": "b"}}
    changed = await client.post(
        "/_sim/sessions", json={"name": "biz", "status": "FAILED", "config": {}}
    )
    assert changed.json()["status"] == "FAILED"
    assert changed.json()["config"] == {}
    send = await client.post("/api/sendText", json={**SEND, "session": "biz"})
    assert send.status_code == 422
    assert send.json()["status"] == "FAILED"
    for bad in [{}, {"name": "x", "status": "ASLEEP"}, {"name": "x", "config": []}]:
        response = await client.post("/_sim/sessions", json=bad)
        assert response.status_code == 400, bad


async def test_sim_contacts_and_groups(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    contact = await client.post("/_sim/contacts", json={"number": "+4917111", "name": "Ann"})
    assert contact.status_code == 201
    assert contact.json()["id"] == "4917111@c.us"
    group = await client.post(
        "/_sim/groups", json={"subject": "G", "participants": ["4917111"], "id": "120363777"}
    )
    assert group.json() == {"id": "120363777@g.us"}
    assert fake.directory.group_ids("default") == ["120363777@g.us"]
    bad = await client.post("/_sim/groups", json={"subject": "G", "participants": "4917111"})
    assert bad.status_code == 400
    assert (await client.post("/_sim/contacts", json={"number": "abc"})).status_code == 400


async def test_python_api_rejects_bad_input() -> None:
    fake = FakeWaha()
    with pytest.raises(ValueError, match="unknown status"):
        fake.set_session_status("default", "SLEEPING")
    with pytest.raises(KeyError):
        fake.session("ghost")
    with pytest.raises(ValueError, match="already exists"):
        fake.create_session("default")
    with pytest.raises(ValueError, match="must not be negative"):
        FakeWaha(file_expiry=-1)
    with pytest.raises(RuntimeError, match="not running"):
        FakeWaha(webhook_url="http://x/hook").inject_message(from_="1", body="x")
    with pytest.raises(ValueError):
        FakeWaha(engine="BAILEYS")


# CLI hooks --------------------------------------------------------------------------------


def test_cli_defaults_come_from_waha_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_API_KEY", "env-key")
    monkeypatch.setenv("WHATSAPP_HOOK_URL", "http://bridge/webhook")
    monkeypatch.setenv("WHATSAPP_HOOK_EVENTS", "message, session.status")
    monkeypatch.setenv("WHATSAPP_HOOK_HMAC_KEY", "hmac")
    monkeypatch.setenv("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", "not-a-number")
    monkeypatch.setenv("WHATSAPP_FILES_LIFETIME", "60")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    fake = from_args(parser.parse_args(["--port", "0", "--session", "a", "--session", "b"]))
    assert fake.api_key == "env-key"
    assert fake.webhook_url == "http://bridge/webhook"
    assert fake.webhook_events == ("message", "session.status")
    assert fake.webhook_hmac_key == "hmac"
    assert fake.webhook_retry_delay == 2.0  # unparsable env falls back to WAHA's default
    assert fake.file_expiry == 60.0
    assert fake.sessions == ("a", "b")
    assert fake.port == 0
    assert fake.check_contracts is False  # off unless asked for


def test_cli_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "WHATSAPP_API_KEY",
        "WAHA_API_KEY",
        "WHATSAPP_HOOK_URL",
        "WHATSAPP_HOOK_EVENTS",
        "WHATSAPP_HOOK_HMAC_KEY",
        "WHATSAPP_FILES_LIFETIME",
    ):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    help_text = parser.format_help()
    assert "--webhook-hmac-key" in help_text
    assert "WHATSAPP_HOOK_URL" in help_text
    fake = from_args(parser.parse_args(["--engine", "NOWEB", "--check-contracts"]))
    assert fake.api_key is None
    assert fake.webhook_url is None
    assert fake.sessions == ("default",)
    assert fake.engine == "NOWEB"
    assert fake.webhook_events == DEFAULT_EVENTS
    assert fake.check_contracts is True
