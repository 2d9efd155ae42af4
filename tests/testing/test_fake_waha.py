"""FakeWaha's WAHA API over real HTTP: auth, validation, sessions, sends, files, listings."""

from __future__ import annotations

import argparse
import base64
import math
import re
from typing import Any

import httpx
import pytest
import trio

from whatsignal.testing.waha import FakeWaha, add_arguments, from_args

KEY = "test-key"


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeWaha, httpx.AsyncClient]:
    kwargs.setdefault("status_step", 0.01)
    kwargs.setdefault("webhook_retry_delay", 0.01)
    kwargs.setdefault("not_working_wait", 0.2)
    fake = FakeWaha(**kwargs)
    url: str = await nursery.start(fake.run)
    headers = {"X-Api-Key": kwargs["api_key"]} if kwargs.get("api_key") else {}
    return fake, httpx.AsyncClient(base_url=url, headers=headers)


def text(chat: str = "491711234567@c.us", **extra: Any) -> dict[str, Any]:
    return {"session": "default", "chatId": chat, "text": "hello", **extra}


# Start, auth, validation ------------------------------------------------------------------


async def test_starts_in_a_nursery_and_reports_its_url(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
    version = (await client.get("/api/server/version")).json()
    assert version["engine"] == "WEBJS"
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", version["version"])
    assert (await client.get("/api/version")).json() == version
    assert (await client.get("/ping")).json() == {"message": "pong"}
    assert (await client.get("/health")).status_code == 200


async def test_api_key_is_required_when_set(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, api_key=KEY)
    bare = httpx.AsyncClient(base_url=fake.url)
    missing = await bare.get("/api/sessions")
    assert missing.status_code == 401
    assert missing.json() == {"message": "Unauthorized", "statusCode": 401}
    wrong = await bare.get("/api/sessions", headers={"X-Api-Key": "nope"})
    assert wrong.status_code == 401
    assert (await bare.get("/api/sessions", params={"x-api-key": KEY})).status_code == 200
    # the header wins over the query parameter
    both = await bare.get("/api/sessions", params={"x-api-key": KEY}, headers={"X-Api-Key": "x"})
    assert both.status_code == 401
    assert (await client.get("/api/sessions")).status_code == 200
    assert (await bare.get("/_sim/")).status_code == 200  # control routes are not WAHA's
    assert (await bare.post("/api/sendText", json=text())).status_code == 401
    assert fake.sent == []


@pytest.mark.parametrize("check_contracts", [True, False])
async def test_missing_required_field_gets_nest_validation_error(
    nursery: trio.Nursery, check_contracts: bool
) -> None:
    fake, client = await start(nursery, check_contracts=check_contracts)
    response = await client.post("/api/sendText", json={"text": "no chat"})
    assert response.status_code == 400
    assert response.json() == {
        "message": ["chatId should not be empty"],
        "error": "Bad Request",
        "statusCode": 400,
    }
    reaction = await client.put("/api/reaction", json={"reaction": "👍"})
    assert reaction.status_code == 400
    assert reaction.json()["message"] == ["messageId should not be empty"]
    assert fake.sent == []


async def test_wrong_types_and_bad_json_get_400(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    wrong = await client.post("/api/sendText", json=text(linkPreview="yes"))
    assert wrong.status_code == 400
    assert wrong.json()["message"] == ["linkPreview must be a boolean"]
    no_file = await client.post("/api/sendImage", json={"chatId": "1@c.us", "file": {"x": 1}})
    assert no_file.status_code == 400
    assert no_file.json()["message"] == ["file must match one of the accepted shapes"]
    garbage = await client.post(
        "/api/sendText", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "Bad Request"
    array = await client.post("/api/sendText", json=[1])
    assert array.status_code == 400


# Sends ------------------------------------------------------------------------------------


async def test_send_text_returns_webjs_id_and_is_recorded(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, webhook_events=("message.any",))
    body = text(reply_to="false_491711234567@c.us_ABCDEF", linkPreview=False)
    response = await client.post("/api/sendText", json=body)
    assert response.status_code == 201
    sent = response.json()
    serialized = sent["id"]["_serialized"]
    assert re.fullmatch(r"true_491711234567@c\.us_[0-9A-F]{32}", serialized)
    assert sent["id"]["fromMe"] is True
    assert sent["hasQuotedMsg"] is True
    assert [(r.method, r.path, r.body) for r in fake.sent] == [("POST", "/api/sendText", body)]
    # WAHA announces API sends as message.any with source "api"
    echo = fake.events[-1]
    assert echo["event"] == "message.any"
    assert echo["payload"]["id"] == serialized
    assert echo["payload"]["source"] == "api"
    assert echo["payload"]["replyTo"]["id"] == "ABCDEF"


async def test_session_defaults_to_default(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    response = await client.post("/api/sendText", json={"chatId": "1@c.us", "text": "x"})
    assert response.status_code == 201
    assert fake.sent[0].body["session"] == "default"


@pytest.mark.parametrize(
    ("engine", "pattern"),
    [
        ("NOWEB", r"3EB0[0-9A-F]{18}"),
        ("GOWS", r"true_1@c\.us_3EB0[0-9A-F]{18}"),
        ("WPP", r"true_1@c\.us_[0-9A-F]{32}"),
    ],
)
async def test_send_response_is_engine_native(
    nursery: trio.Nursery, engine: str, pattern: str
) -> None:
    _, client = await start(nursery, engine=engine)
    sent = (await client.post("/api/sendText", json=text("1@c.us"))).json()
    if engine == "NOWEB":
        assert sent["key"]["remoteJid"] == "1@s.whatsapp.net"
        assert sent["status"] == "PENDING"
        assert re.fullmatch(pattern, sent["key"]["id"])
    else:
        assert re.fullmatch(pattern, sent["id"])


async def test_media_sends_reactions_seen_typing_edit_delete_are_recorded_in_order(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery, engine="NOWEB")
    data = base64.b64encode(b"\xff\xd8jpeg").decode()
    chat = "491711234567@c.us"
    calls = [
        (
            "POST",
            "/api/sendImage",
            {"chatId": chat, "file": {"mimetype": "image/jpeg", "data": data}, "caption": "c"},
        ),
        (
            "POST",
            "/api/sendFile",
            {
                "chatId": chat,
                "file": {
                    "mimetype": "application/pdf",
                    "url": "http://x/a.pdf",
                    "filename": "a.pdf",
                },
            },
        ),
        (
            "POST",
            "/api/sendVoice",
            {
                "chatId": chat,
                "convert": True,
                "file": {"mimetype": "audio/mpeg", "url": "http://x/v"},
            },
        ),
        (
            "POST",
            "/api/sendVideo",
            {
                "chatId": chat,
                "convert": False,
                "asNote": False,
                "file": {"mimetype": "video/mp4", "filename": "v.mp4", "url": "http://x/v.mp4"},
            },
        ),
        ("PUT", "/api/reaction", {"messageId": f"false_{chat}_AAAA", "reaction": "👍"}),
        ("POST", "/api/sendSeen", {"chatId": chat, "messageIds": [f"false_{chat}_AAAA"]}),
        ("POST", "/api/startTyping", {"chatId": chat}),
        ("POST", "/api/stopTyping", {"chatId": chat}),
        ("PUT", f"/api/default/chats/{chat}/messages/true_{chat}_BBBB", {"text": "edited"}),
        ("DELETE", f"/api/default/chats/{chat}/messages/true_{chat}_BBBB", None),
    ]
    statuses = []
    for method, path, body in calls:
        response = await client.request(method, path, json=body)
        statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 201, 200, 201, 201, 201, 200, 200]
    assert [(r.method, r.path) for r in fake.sent] == [(m, p) for m, p, _ in calls]
    # the image sent as base64 is downloadable like any WAHA file
    echo = next(e for e in fake.events if e["payload"].get("hasMedia"))
    image = await client.get(echo["payload"]["media"]["url"])
    assert image.content == b"\xff\xd8jpeg"
    assert image.headers["content-type"] == "image/jpeg"
    bad = await client.post(
        "/api/sendImage", json={"chatId": chat, "file": {"mimetype": "image/jpeg", "data": "%%"}}
    )
    assert bad.status_code == 400


async def test_edit_updates_a_known_message(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    sent = (await client.post("/api/sendText", json=text())).json()["id"]["_serialized"]
    chat = "491711234567@c.us"
    response = await client.put(f"/api/default/chats/{chat}/messages/{sent}", json={"text": "v2"})
    assert response.status_code == 200
    message = fake.message(sent)
    assert message is not None
    assert message["body"] == "v2"
    missing = await client.put(f"/api/default/chats/{chat}/messages/{sent}", json={})
    assert missing.status_code == 400


# Session states ---------------------------------------------------------------------------


async def test_send_on_stopped_session_is_422_with_waha_body(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    await client.post("/api/sessions/default/stop")
    response = await client.post("/api/sendText", json=text())
    assert response.status_code == 422
    assert response.json() == {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": "default",
        "status": "STOPPED",
        "expected": ["WORKING"],
    }
    assert fake.sent == []
    unknown = await client.post("/api/sendText", json=text(session="nope"))
    assert unknown.status_code == 404


async def test_send_waits_for_a_starting_session(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, status_step=0.05, not_working_wait=2.0)
    await client.post("/api/sessions/default/stop")
    await client.post("/api/sessions/default/start")
    response = await client.post("/api/sendText", json=text())
    assert response.status_code == 201
    assert fake.session("default").status == "WORKING"


async def test_send_gives_up_after_not_working_wait(nursery: trio.Nursery) -> None:
    _, client = await start(nursery, status_step=5.0, not_working_wait=0.05)
    await client.post("/api/sessions/default/restart")
    response = await client.post("/api/sendText", json=text())
    assert response.status_code == 422
    assert response.json()["status"] == "STARTING"


async def test_sessions_api(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, sessions=("default", "other"))
    listed = await client.get("/api/sessions")
    assert [s["name"] for s in listed.json()] == ["default", "other"]
    assert (await client.get("/api/sessions/")).json() == listed.json()
    await client.post("/api/sessions/other/stop")
    assert [s["name"] for s in (await client.get("/api/sessions")).json()] == ["default"]
    everything = (await client.get("/api/sessions", params={"all": "true"})).json()
    assert {s["name"]: s["status"] for s in everything} == {
        "default": "WORKING",
        "other": "STOPPED",
    }

    created = await client.post("/api/sessions", json={"name": "new", "start": True})
    assert created.status_code == 201
    assert created.json()["status"] == "STARTING"
    with trio.fail_after(2):
        await fake.wait_for_status("new", "SCAN_QR_CODE")
    again = await client.post("/api/sessions", json={"name": "new"})
    assert again.status_code == 422
    assert again.json()["message"] == "Session 'new' already exists. Use PUT to update it."
    unnamed = await client.post("/api/sessions", json={"start": False})
    assert unnamed.json()["name"].startswith("session_")
    assert unnamed.json()["status"] == "STOPPED"

    me = await client.get("/api/sessions/default/me")
    assert me.json()["id"].endswith("@c.us")
    assert (await client.get("/api/sessions/new/me")).content == b""
    info = (await client.get("/api/sessions/default")).json()
    assert info["status"] == "WORKING"
    assert info["me"] == me.json()
    assert (await client.get("/api/sessions/ghost")).status_code == 404
    assert (await client.post("/api/sessions/ghost/start")).status_code == 404
    assert (await client.post("/api/sessions/default/explode")).status_code == 404

    updated = await client.put("/api/sessions/default", json={"config": {"debug": True}})
    assert updated.json()["config"] == {"debug": True}
    assert updated.json()["status"] == "STARTING"  # a PUT restarts a running session
    assert (await client.delete("/api/sessions/other")).status_code == 200
    assert (await client.delete("/api/sessions/other")).status_code == 200
    assert not fake.has_session("other")


async def test_auto_pair_makes_new_sessions_work(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, auto_pair=True)
    created = await client.post("/api/sessions", json={"name": "paired"})
    assert created.json()["status"] == "STARTING"
    with trio.fail_after(2):
        await fake.wait_for_status("paired", "WORKING")
    assert fake.session("paired").paired
    assert fake.session("paired").me == fake.me("paired")
    assert (await client.post("/api/sendText", json=text(session="paired"))).status_code == 201


# Files ------------------------------------------------------------------------------------


async def test_received_media_is_served_with_the_key_and_expires(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, api_key=KEY, file_expiry=0.3)
    payload = fake.inject_message(
        from_="491711234567",
        body="photo",
        media=b"JPEGDATA",
        mimetype="image/jpeg",
        filename=None,
    )
    url = payload["media"]["url"]
    assert re.fullmatch(
        re.escape(fake.url) + r"/api/files/default/false_491711234567@c\.us_[0-9A-F]{32}\.jpeg",
        url,
    )
    assert payload["hasMedia"] is True
    assert payload["mediaUrl"] == url
    assert payload["_data"]["type"] == "image"
    assert (await httpx.AsyncClient().get(url)).status_code == 401
    first = await client.get(url)
    assert first.status_code == 200
    assert first.content == b"JPEGDATA"
    stored = fake.get_file("default", url.rsplit("/", 1)[1])
    assert stored is not None
    # Wait for the file's own deadline (set from file_expiry), not for a guessed duration.
    await trio.sleep_until(stored.expires)
    expired = await client.get(url)
    assert expired.status_code == 404
    assert expired.json()["error"]["key"] == "FILE_NOT_FOUND"
    assert fake.get_file("default", url.rsplit("/", 1)[1]) is None


async def test_file_expiry_zero_keeps_files(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, file_expiry=0)
    payload = fake.inject_message(from_="1", media=b"x", mimetype="audio/ogg; codecs=opus")
    assert payload["media"]["url"].endswith(".oga")
    assert payload["_data"]["type"] == "ptt"
    stored = fake.get_file("default", payload["media"]["url"].rsplit("/", 1)[1])
    assert stored is not None
    assert stored.expires == math.inf  # no deadline: no wait can make it expire
    kept = await client.get(payload["media"]["url"])
    assert kept.status_code == 200
    assert kept.content == b"x"


async def test_public_url_is_written_into_media_urls_and_the_fake_still_serves_them(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery, api_key=KEY, public_url="http://localhost:3000/")
    payload = fake.inject_message(from_="491711234567", media=b"JPEG", mimetype="image/jpeg")
    url = payload["media"]["url"]
    assert re.fullmatch(r"http://localhost:3000/api/files/default/false_[^/]+\.jpeg", url)
    assert payload["mediaUrl"] == url
    served = await client.get(httpx.URL(url).path)  # at the fake's own address
    assert (served.status_code, served.content) == (200, b"JPEG")


def test_public_url_comes_from_the_command_line_or_waha_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WAHA_BASE_URL", raising=False)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_args(parser.parse_args([])).public_url is None
    given = parser.parse_args(["--public-url", "http://localhost:3000"])
    assert from_args(given).public_url == "http://localhost:3000"
    monkeypatch.setenv("WAHA_BASE_URL", "https://waha.example.org")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_args(parser.parse_args([])).public_url == "https://waha.example.org"


# Conversion, contacts, groups -------------------------------------------------------------


async def test_media_convert_returns_json_or_binary(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    data = base64.b64encode(b"mp3bytes").decode()
    as_json = await client.post(
        "/api/default/media/convert/voice",
        json={"data": data},
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 201
    assert as_json.json() == {"mimetype": "audio/ogg; codecs=opus", "data": data}
    stored = fake.inject_message(from_="1", media=b"movie", mimetype="video/mp4")
    binary = await client.post(
        "/api/default/media/convert/video", json={"url": stored["media"]["url"]}
    )
    assert binary.headers["content-type"] == "video/mp4"
    assert binary.content == b"movie"
    assert (await client.post("/api/default/media/convert/voice", json={})).status_code == 400
    bad = await client.post("/api/default/media/convert/voice", json={"data": "%%"})
    assert bad.status_code == 400
    assert (await client.post("/api/default/media/convert/gif", json={})).status_code == 404


async def test_contacts_and_groups_listing(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    fake.add_contact(
        "+49 171 1234567", name="Alice Example", pushname="ali", picture_url="http://pic"
    )
    contacts = (await client.get("/api/contacts/all", params={"session": "default"})).json()
    assert contacts == [
        {
            "id": "491711234567@c.us",
            "number": "491711234567",
            "name": "Alice Example",
            "pushname": "ali",
            "shortName": "Alice",
            "isMe": False,
            "isGroup": False,
            "isWAContact": True,
            "isMyContact": True,
            "isBlocked": False,
        }
    ]
    one = await client.get("/api/contacts", params={"contactId": "491711234567@c.us"})
    assert one.json() == contacts[0]
    stranger = await client.get("/api/contacts", params={"contactId": "4930123"})
    assert stranger.json()["isMyContact"] is False
    assert stranger.json()["name"] is None
    picture = await client.get(
        "/api/contacts/profile-picture", params={"contactId": "491711234567"}
    )
    assert picture.json() == {"profilePictureURL": "http://pic"}
    assert (await client.get("/api/contacts")).status_code == 400
    assert (await client.get("/api/contacts/profile-picture")).status_code == 400

    gid = fake.add_group("Family", participants=["491711234567"], admins=["491711234567"])
    groups = (await client.get("/api/default/groups")).json()
    assert [g["id"]["_serialized"] for g in groups] == [gid]
    assert groups[0]["name"] == "Family"
    members = groups[0]["groupMetadata"]["participants"]
    assert {m["id"]["_serialized"] for m in members} == {
        fake.me("default")["id"],
        "491711234567@c.us",
    }
    assert (await client.get(f"/api/default/groups/{gid}")).json() == groups[0]
    assert (await client.get("/api/default/groups/0@g.us")).status_code == 404


async def test_groups_on_noweb_are_keyed_by_id(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, engine="NOWEB")
    gid = fake.add_group("Team", group_id="120363000000000009", participants=["4915"])
    assert gid == "120363000000000009@g.us"
    groups = (await client.get("/api/default/groups")).json()
    assert list(groups) == [gid]
    roles = {p["id"]: p["admin"] for p in groups[gid]["participants"]}
    assert roles["4915@s.whatsapp.net"] is None
    assert "superadmin" in roles.values()


# Contract checks on what the fake answers -------------------------------------------------


async def test_a_response_breaking_the_spec_is_a_500_and_a_recorded_violation(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery)
    fake.session("default").status = "ASLEEP"  # not a WAHA status: the 200 body is invalid
    response = await client.get("/api/sessions")
    assert response.status_code == 500
    assert "simulator contract violation" in response.json()["message"]
    assert fake.violations
    assert "status" in fake.violations[0]


async def test_checks_off_still_validates_required_fields_but_not_types(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery, check_contracts=False)
    fake.session("default").status = "ASLEEP"
    assert (await client.get("/api/sessions")).status_code == 200  # nothing checks responses
    fake.session("default").status = "WORKING"
    loose = await client.post("/api/sendText", json=text(linkPreview="yes"))
    assert loose.status_code == 201
    assert fake.checker is None


async def test_session_config_validation_messages(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    webhook = {
        "url": "http://x",
        "events": ["message"],
        "hmac": None,
        "retries": None,
        "customHeaders": None,
    }
    ok = await client.post("/api/sessions", json={"name": "a", "config": {"webhooks": [webhook]}})
    assert ok.status_code == 201  # nulls as in WAHA's own examples
    policy = {**webhook, "retries": {"policy": "random"}}
    bad = await client.post("/api/sessions", json={"name": "b", "config": {"webhooks": [policy]}})
    assert bad.status_code == 400
    assert bad.json()["message"] == [
        "config.webhooks.0.retries.policy must be one of the following values: "
        "linear, exponential, constant"
    ]
    no_url = await client.post(
        "/api/sessions", json={"name": "c", "config": {"webhooks": [{"events": ["message"]}]}}
    )
    assert no_url.json()["message"] == ["config.webhooks.0.url should not be empty"]
    empty = await client.put("/api/sessions/a", content=b"")
    assert empty.status_code == 200
    assert empty.json()["config"] == {}


async def test_session_operations_are_idempotent(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    assert (await client.post("/api/sessions/default/start")).json()["status"] == "WORKING"
    assert [e for e in fake.events if e["event"] == "session.status"] == []
    await client.post("/api/sessions/default/stop")
    await client.post("/api/sessions/default/stop")
    await client.post("/api/sessions/default/logout")  # stopped: stays STOPPED, loses pairing
    assert fake.session("default").status == "STOPPED"
    await client.put("/api/sessions/default", json={"config": {}})  # stopped: no restart
    assert fake.session("default").status == "STOPPED"
    await client.post("/api/sessions/default/start")
    with trio.fail_after(2):
        await fake.wait_for_status("default", "SCAN_QR_CODE")
    statuses = [e["payload"]["status"] for e in fake.events if e["event"] == "session.status"]
    assert statuses == ["STOPPED", "STARTING", "SCAN_QR_CODE"]
    fake.set_session_status("default", "SCAN_QR_CODE")
    assert fake.session("default").me is None


async def test_revoking_an_unknown_message_has_before_null(nursery: trio.Nursery) -> None:
    fake, _ = await start(nursery)
    payload = fake.inject_revoke(message_id="false_4917111@c.us_0123ABCD")
    assert payload["before"] is None
    assert payload["revokedMessageId"] == "0123ABCD"
    assert fake.events[-1]["event"] == "message.revoked"


# Pure helpers -----------------------------------------------------------------------------


def test_payload_helpers() -> None:
    from whatsignal.testing._waha_payloads import (
        bare_key,
        error_for_status,
        file_extension,
        new_ulid,
    )

    assert bare_key("true_1@c.us_ABC_2@c.us") == "ABC"
    assert bare_key("ABC") == "ABC"
    assert file_extension("image/jpeg") == "jpeg"
    assert file_extension("text/plain") == "txt"
    assert file_extension("application/x-never-heard-of") == "bin"
    assert error_for_status(429) == {"message": "Too Many Requests", "statusCode": 429}
    assert error_for_status(502)["statusCode"] == 502
    assert new_ulid(0).startswith("0000000000")  # the time part leads, so ids sort by time
    assert new_ulid(1) < new_ulid(2)


def test_checker_messages_and_operations_without_bodies() -> None:
    from jsonschema import Draft202012Validator

    from whatsignal.testing._waha_contract import WahaChecker, _nest_messages

    checker = WahaChecker()
    assert checker.request_problems("POST", "/api/sessions/{session}/start", {}) == []
    assert checker.check_response("DELETE", "/api/sessions/{session}", 200, None) == set()
    errors = list(Draft202012Validator({"minimum": 1}).iter_errors(0))
    assert _nest_messages(errors) == ["body: 0 is less than the minimum of 1"]


async def test_chat_history_lists_a_sessions_messages_newest_first() -> None:
    import httpx as _httpx

    fake = FakeWaha(sessions=("default", "other"))
    async with trio.open_nursery() as nursery:
        url: str = await nursery.start(fake.run)
        first = fake.inject_message("default", from_="+4917000000001", body="one")
        fake.inject_message("default", from_="+4917000000002", body="elsewhere")
        fake.inject_message("other", from_="+4917000000001", body="other session")
        second = fake.inject_message("default", from_="+4917000000001", body="two")
        chat = first["from"]
        async with _httpx.AsyncClient(base_url=url) as client:
            listed = await client.get(f"/api/default/chats/{chat}/messages", params={"limit": 10})
            assert listed.status_code == 200
            assert [m["body"] for m in listed.json()] == ["two", "one"]
            since = await client.get(
                f"/api/default/chats/{chat}/messages",
                params={"limit": 10, "filter.timestamp.gte": second["timestamp"] + 1},
            )
            assert since.json() == []
            paged = await client.get(
                f"/api/default/chats/{chat}/messages",
                params={
                    "limit": 1,
                    "offset": 1,
                    "filter.fromMe": "false",
                    "filter.timestamp.lte": "",
                },
            )
            assert [m["body"] for m in paged.json()] == ["one"]
            mine = await client.get(
                f"/api/default/chats/{chat}/messages", params={"limit": 5, "filter.fromMe": "true"}
            )
            assert mine.json() == []
            missing = await client.get(f"/api/default/chats/{chat}/messages")
            assert missing.status_code == 400
        nursery.cancel_scope.cancel()
