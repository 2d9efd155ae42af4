"""FakeSignal: the /_sim/ control API, the smaller endpoints, the CLI and the pure helpers."""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from whatsignal.testing._signal_envelopes import group_id_of, internal_group_id
from whatsignal.testing._signal_send import (
    RequestError,
    classify_recipients,
    decode_attachment,
    sniff_mime,
)
from whatsignal.testing.signal_cli import FakeSignal, add_arguments, from_args

BRIDGE = "+4915000000001"
ALICE = "+4917600000042"


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a condition the fake changes from another task (bounded: fails after 5 s)."""
    with trio.fail_after(5):
        while True:
            if predicate():
                return
            await trio.sleep(0.01)


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeSignal, httpx.AsyncClient]:
    fake = FakeSignal(**kwargs)
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


async def test_sim_index_lists_every_control_route(nursery: trio.Nursery) -> None:
    _fake, client = await start(nursery)
    async with client:
        routes = (await client.get("/_sim/")).json()
    listed = {(r["method"], r["path"]) for r in routes}
    assert {
        ("POST", "/_sim/inbound"),
        ("GET", "/_sim/sent"),
        ("POST", "/_sim/faults"),
        ("DELETE", "/_sim/faults"),
        ("POST", "/_sim/reset"),
        ("POST", "/_sim/attachments"),
        ("POST", "/_sim/rate-limit"),
    } <= listed
    assert all(r["description"] for r in routes)


async def test_sim_inbound_short_form_is_received(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    short = {
        "from": ALICE,
        "name": "Alice",
        "message": "see picture",
        "quote": {"timestamp": 1700000000000, "text": "Bob: hi"},
        "group": "Family",
        "attachments": [
            {"data": base64.b64encode(b"GIF89a...").decode(), "content_type": "image/gif"}
        ],
    }
    async with client:
        answer = await client.post("/_sim/inbound", json=short)
        received = (await client.get(f"/v1/receive/{BRIDGE}", params={"timeout": "0"})).json()
        (item,) = received
        data = item["envelope"]["dataMessage"]
        picture = await client.get(f"/v1/attachments/{data['attachments'][0]['id']}")
        contacts = (await client.get(f"/v1/contacts/{BRIDGE}")).json()
        groups = (await client.get(f"/v1/groups/{BRIDGE}")).json()
    assert answer.status_code == 200
    assert answer.json() == {"message": item, "dropped": False}
    assert item["envelope"]["sourceName"] == "Alice"
    assert data["quote"]["text"] == "Bob: hi"
    assert data["quote"]["author"] == BRIDGE
    assert data["groupInfo"]["groupName"] == "Family"
    assert picture.content == b"GIF89a..."
    assert picture.headers["content-type"] == "image/gif"
    assert [(c["number"], c["uuid"], c["profile_name"]) for c in contacts] == [
        (ALICE, fake.uuid_of(ALICE), "Alice")
    ]
    assert [g["internal_id"] for g in groups] == [data["groupInfo"]["groupId"]]


async def test_sim_inbound_more_short_forms(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, mode="json-rpc")
    forms = [
        {"from": ALICE, "reaction": {"emoji": "❤", "target_timestamp": 5, "remove": True}},
        {"from": ALICE, "receipt": {"type": "delivery", "timestamps": [5]}},
        {"from": ALICE, "typing": "STOPPED", "account": BRIDGE},
        {"from": ALICE, "remote_delete": 5, "timestamp": 99, "number_hidden": True},
        {
            "from": ALICE,
            "edit": 5,
            "message": "new",
            "uuid": "0b7e5d1e-8c7f-4e0a-9d1b-2d7c0c0a1f00",
        },
        {"from": ALICE, "sync_to": "+4917600000099", "message": "mine"},
    ]
    async with client:
        answers = [await client.post("/_sim/inbound", json=f) for f in forms]
        status = (await client.get("/_sim/status")).json()
    assert [a.status_code for a in answers] == [200] * len(forms)
    assert all(a.json()["dropped"] for a in answers)
    assert answers[0].json()["message"]["envelope"]["dataMessage"]["reaction"]["isRemove"]
    assert answers[3].json()["message"]["envelope"]["timestamp"] == 99
    assert answers[4].json()["message"]["envelope"]["sourceUuid"].startswith("0b7e5d1e")
    assert status["dropped"] == fake.dropped == len(forms)
    assert status["mode"] == "json-rpc"


async def test_sim_inbound_full_form_and_bad_input(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    full = {
        "envelope": {
            "source": ALICE,
            "sourceNumber": ALICE,
            "timestamp": 7,
            "serverReceivedTimestamp": 8,
            "serverDeliveredTimestamp": 9,
            "dataMessage": {"timestamp": 7, "message": "raw"},
        },
        "account": BRIDGE,
    }
    bad_bodies: list[Any] = [
        [],
        {"message": "no sender"},
        {"from": ALICE, "colour": "red"},
        {"from": ALICE, "message": 3},
        {"from": ALICE, "number_hidden": "yes"},
        {"from": ALICE, "remote_delete": "5"},
        {"from": ALICE, "quote": {"timestamp": 1, "who": "x"}},
        {"from": ALICE, "quote": "x"},
        {"from": ALICE, "reaction": {"target_timestamp": 1}},
        {"from": ALICE, "receipt": {"type": "read", "timestamps": 5}},
        {"from": ALICE, "attachments": "x"},
        {"from": ALICE, "attachments": [{"data": "$$$"}]},
        {"envelope": "x"},
        {"envelope": {"timestamp": 5}, "account": BRIDGE},
        {"envelope": {"timestamp": "soon"}, "account": BRIDGE},
        {"from": ALICE},
    ]
    async with client:
        ok = await client.post("/_sim/inbound", json=full)
        not_json = await client.post("/_sim/inbound", content=b"{")
        bad = [await client.post("/_sim/inbound", json=b) for b in bad_bodies]
    assert ok.status_code == 200
    assert fake.queued() == {BRIDGE: 1}
    assert not_json.status_code == 400
    assert [b.status_code for b in bad] == [400] * len(bad_bodies)
    assert all(b.json()["error"] for b in bad)
    assert "spec" in bad[-3].json()["error"]  # no server timestamps: the swagger requires them
    assert "signal-cli never prints" in bad[-2].json()["error"]


async def test_sim_sent_attachments_groups_rate_limit_and_reset(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    async with client:
        group = (await client.post("/_sim/groups", json={"name": "Team"})).json()
        bad_group = await client.post("/_sim/groups", json={"name": ""})
        bad_members = await client.post("/_sim/groups", json={"name": "x", "members": [1]})
        sent = await client.post(
            "/v2/send", json={"number": BRIDGE, "recipients": [group["id"]], "message": "hi all"}
        )
        one = (await client.get(f"/v1/groups/{BRIDGE}/{group['id']}")).json()
        missing = await client.get(f"/v1/groups/{BRIDGE}/{group_id_of(internal_group_id('x'))}")
        invalid = await client.get(f"/v1/groups/{BRIDGE}/nonsense")
        stored = await client.post(
            "/_sim/attachments",
            content=b"%PDF-1.4",
            headers={"Content-Type": "application/pdf"},
            params={"filename": "a.pdf"},
        )
        empty = await client.post("/_sim/attachments", content=b"")
        limit_bad = [
            await client.post("/_sim/rate-limit", json={"count": "2"}),
            await client.post("/_sim/rate-limit", json={"challenge_tokens": [1]}),
            await client.post("/_sim/rate-limit", json={"count": 0}),
        ]
        log = (await client.get("/_sim/sent")).json()
        newer = (await client.get("/_sim/sent", params={"since": len(log) - 1})).json()
        none_new = (await client.get("/_sim/sent", params={"since": len(log)})).json()
        reset = await client.post("/_sim/reset")
        after = (await client.get("/_sim/sent")).json()
    assert newer == log[-1:]
    assert none_new == []
    assert group["id"].startswith("group.")
    assert bad_group.status_code == bad_members.status_code == 400
    assert sent.status_code == 201
    assert one["name"] == "Team"
    assert one["members"] == [BRIDGE]
    # 0.100 writes the nil entry of an unknown group: 200 null (later versions: 404).
    assert missing.status_code == 200
    assert missing.json() is None
    assert invalid.status_code == 400
    assert stored.status_code == 201
    assert stored.json()["id"].endswith(".pdf")
    assert empty.status_code == 400
    assert [r.status_code for r in limit_bad] == [400, 400, 400]
    assert [(e["path"], e["status"], e["body"]["message"]) for e in log] == [
        ("/v2/send", 201, "hi all")
    ]
    assert log[0]["response"] == sent.json()
    assert reset.status_code == 204
    assert after == []
    assert fake.attachments == {}
    assert fake.groups == {}


async def test_send_to_unknown_group_and_quote_without_author(nursery: trio.Nursery) -> None:
    _fake, client = await start(nursery)
    unknown = group_id_of(internal_group_id("nobody"))
    async with client:
        no_group = await client.post(
            "/v2/send", json={"number": BRIDGE, "recipients": [unknown], "message": "x"}
        )
        no_author = await client.post(
            "/v2/send",
            json={"number": BRIDGE, "recipients": [ALICE], "message": "x", "quote_timestamp": 5},
        )
        view_once = await client.post(
            "/v2/send",
            json={"number": BRIDGE, "recipients": [ALICE], "message": "x", "view_once": True},
        )
    assert no_group.json()["error"].startswith("Group not found: ")
    assert no_author.json() == {"error": "Quote author parameter is missing"}
    assert view_once.json() == {"error": "'view_once' can only be set for image attachments!"}


@pytest.mark.parametrize(
    ("preview", "error"),
    [
        ({"url": "", "title": "t"}, "Please provide a valid Link Preview URL"),
        ({"url": "http://a.example", "title": "t"}, "Link Preview URL must start with https://.."),
        ({"url": "https://a.example", "title": ""}, "Please provide a valid Link Preview Title"),
        ({"url": "https://b.example", "title": "t"}, "Link Preview URL is missing in the message!"),
    ],
)
async def test_link_preview_checks(
    nursery: trio.Nursery, preview: dict[str, str], error: str
) -> None:
    _fake, client = await start(nursery)
    async with client:
        answer = await client.post(
            "/v2/send",
            json={
                "number": BRIDGE,
                "recipients": [ALICE],
                "message": "look https://a.example",
                "link_preview": {**preview, "description": "", "base64_thumbnail": ""},
            },
        )
    assert answer.json() == {"error": error}


async def test_quote_edit_and_link_preview_are_recorded(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, send_response="array")
    async with client:
        answer = await client.post(
            "/v2/send",
            json={
                "number": BRIDGE,
                "recipients": [ALICE],
                "message": "fixed https://a.example",
                "quote_timestamp": 5,
                "quote_author": ALICE,
                "quote_message": "orig",
                "edit_timestamp": 6,
                "text_mode": "styled",
                "link_preview": {
                    "url": "https://a.example",
                    "title": "A",
                    "description": "",
                    "base64_thumbnail": "",
                },
            },
        )
    assert answer.status_code == 201
    (sent,) = fake.messages
    assert (sent.quote_timestamp, sent.quote_author, sent.quote_message) == (5, ALICE, "orig")
    assert sent.edit_timestamp == 6


async def test_reactions_receipts_typing_remote_delete(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    group = fake.add_group("Team")
    base = f"/v1/reactions/{BRIDGE}"
    react = {"recipient": ALICE, "reaction": "👍", "target_author": ALICE, "timestamp": 5}
    async with client:
        results = {
            "react": await client.post(base, json=react),
            "unreact": await client.request(
                "DELETE", base, json={k: v for k, v in react.items() if k != "reaction"}
            ),
            "receipt": await client.post(
                f"/v1/receipts/{BRIDGE}",
                json={"recipient": ALICE, "receipt_type": "read", "timestamp": 5},
            ),
            "type": await client.put(
                f"/v1/typing-indicator/{BRIDGE}", json={"recipient": group.id}
            ),
            "untype": await client.request(
                "DELETE", f"/v1/typing-indicator/{BRIDGE}", json={"recipient": ALICE}
            ),
            "delete": await client.request(
                "DELETE", f"/v1/remote-delete/{BRIDGE}", json={"recipient": ALICE, "timestamp": 5}
            ),
        }
    assert [r.status_code for r in results.values()] == [204, 204, 204, 204, 204, 201]
    assert results["delete"].json()["timestamp"].isdigit()
    assert [(r.method, r.path) for r in fake.sent] == [
        ("POST", base),
        ("DELETE", base),
        ("POST", f"/v1/receipts/{BRIDGE}"),
        ("PUT", f"/v1/typing-indicator/{BRIDGE}"),
        ("DELETE", f"/v1/typing-indicator/{BRIDGE}"),
        ("DELETE", f"/v1/remote-delete/{BRIDGE}"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        (
            "POST",
            "/v1/reactions/{n}",
            {"reaction": "x", "target_author": ALICE, "timestamp": 1},
            "recipient missing",
        ),
        (
            "POST",
            "/v1/reactions/{n}",
            {"recipient": ALICE, "target_author": ALICE, "timestamp": 1},
            "reaction missing",
        ),
        (
            "POST",
            "/v1/reactions/{n}",
            {"recipient": ALICE, "reaction": "x", "timestamp": 1},
            "target_author missing",
        ),
        (
            "DELETE",
            "/v1/reactions/{n}",
            {"recipient": ALICE, "target_author": ALICE},
            "timestamp missing",
        ),
        (
            "POST",
            "/v1/reactions/{n}",
            {"recipient": "group.abc", "reaction": "x", "target_author": ALICE, "timestamp": 1},
            "Invalid group id",
        ),
        ("POST", "/v1/receipts/{n}", {"receipt_type": "read", "timestamp": 1}, "recipient missing"),
        (
            "POST",
            "/v1/receipts/{n}",
            {"recipient": ALICE, "receipt_type": "seen", "timestamp": 1},
            "receipt type must be read or viewed",
        ),
        (
            "POST",
            "/v1/receipts/{n}",
            {"recipient": ALICE, "receipt_type": "read"},
            "timestamp missing",
        ),
        ("PUT", "/v1/typing-indicator/{n}", {}, "No recipients given\n"),
        ("DELETE", "/v1/remote-delete/{n}", {"timestamp": 1}, "recipient missing"),
        ("DELETE", "/v1/remote-delete/{n}", {"recipient": ALICE}, "timestamp missing"),
        (
            "POST",
            "/v1/reactions/+4930000000",
            {"recipient": ALICE, "reaction": "x", "target_author": ALICE, "timestamp": 1},
            "User +4930000000 is not registered.\n",
        ),
        ("POST", "/v1/receipts/{n}", [], "Couldn't process request - invalid request"),
    ],
)
async def test_small_endpoint_errors(
    nursery: trio.Nursery, method: str, path: str, body: Any, error: str
) -> None:
    fake, client = await start(nursery)
    async with client:
        answer = await client.request(method, path.format(n=BRIDGE), json=body)
    assert answer.status_code == 400
    assert answer.json()["error"].endswith(error)
    assert fake.sent == []


async def test_unknown_account_on_listing_and_receive(nursery: trio.Nursery) -> None:
    _fake, client = await start(nursery)
    async with client:
        answers = [
            await client.get("/v1/groups/+4930000000"),
            await client.get("/v1/contacts/+4930000000"),
            await client.get("/v1/receive/+4930000000", params={"timeout": "0"}),
        ]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all("is not registered" in a.json()["error"] for a in answers)


def test_cli_options_build_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODE", "json-rpc")
    monkeypatch.setenv("RECEIVE_WEBHOOK_URL", "http://127.0.0.1:9999/webhook/signal")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--number",
            "+4915000000009",
            "--ping-interval",
            "0",
            "--send-response",
            "array",
            "--no-contract-checks",
        ]
    )
    fake = from_args(args)
    assert (fake.mode, fake.port, fake.numbers) == ("json-rpc", 0, ("+4915000000009",))
    assert fake.receive_webhook_url == "http://127.0.0.1:9999/webhook/signal"
    assert fake.ping_interval is None
    assert fake.websocket_ping_interval is None
    assert fake.send_response == "array"
    assert fake.check_contracts is False
    help_text = parser.format_help()
    for option in (
        "--mode",
        "--number",
        "--receive-webhook-url",
        "--send-response",
        "--ping-interval",
        "--port",
        "--host",
    ):
        assert option in help_text
    monkeypatch.delenv("MODE")
    monkeypatch.delenv("RECEIVE_WEBHOOK_URL")
    defaults = argparse.ArgumentParser()
    add_arguments(defaults)
    plain = from_args(defaults.parse_args([]))
    assert (plain.mode, plain.port, plain.numbers) == ("normal", 8080, (BRIDGE,))
    assert plain.receive_webhook_url is None


def test_classify_recipients_rules() -> None:
    group = group_id_of(internal_group_id("g"))
    assert classify_recipients([ALICE, "0b7e5d1e-8c7f-4e0a-9d1b-2d7c0c0a1f00"]) == (
        [],
        [ALICE, "0b7e5d1e-8c7f-4e0a-9d1b-2d7c0c0a1f00"],
        [],
    )
    assert classify_recipients(["alice.01", "group.bob"]) == ([], [], ["alice.01", "group.bob"])
    assert classify_recipients([group]) == ([group], [], [])
    for bad, text in [
        ([group, "alice.01"], "Groups and usernames"),
        ([group, group_id_of(internal_group_id("h"))], "more than one group"),
        (["group." + base64.b64encode(b"not base64 at all").decode()], "Invalid identifier"),
    ]:
        with pytest.raises(RequestError, match=text):
            classify_recipients(bad)
    with pytest.raises(RequestError, match="Groups and phone numbers"):
        classify_recipients([group, ALICE])


def test_attachment_forms_and_sniffing() -> None:
    jpeg = b"\xff\xd8\xff\xe0rest"
    b64 = base64.b64encode(jpeg).decode()
    assert decode_attachment(b64).content_type == "image/jpeg"
    assert decode_attachment(f"data:;filename=x.bin;base64,{b64}").filename == "x.bin"
    assert decode_attachment(f"data:;filename=x.bin;base64,{b64}").content_type == "image/jpeg"
    with pytest.raises(RequestError, match="illegal base64 data at input byte"):
        decode_attachment("abc")
    assert sniff_mime(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_mime(b"\0\0\0\x18ftypmp42") == "video/mp4"
    assert sniff_mime(b"OggS\0") == "audio/ogg"
    assert sniff_mime("héllo\n".encode()) == "text/plain; charset=utf-8"
    assert sniff_mime(b"\x00\x01\x02") == "application/octet-stream"
    assert sniff_mime(b"\xc3\x28") == "application/octet-stream"


async def test_send_without_message_but_with_attachment_and_recipient_alias(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery)
    picture = "data:image/gif;base64," + base64.b64encode(b"GIF89a").decode()
    async with client:
        answer = await client.post(
            "/v2/send",
            json={"number": BRIDGE, "recipient": ALICE, "base64_attachments": [picture]},
        )
        typed = await client.post(
            "/v2/send",
            json={"number": BRIDGE, "recipients": [ALICE], "message": "x", "view_once": 1},
        )
    assert answer.status_code == 201  # `message` is "required" in the swagger, not upstream
    assert fake.messages[0].recipients == (ALICE,)
    assert fake.messages[0].message == ""
    assert typed.json() == {"error": "Couldn't process request - invalid request"}


async def test_unchecked_fake_still_answers_both_shapes_and_limits(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, check_contracts=False, send_response="array")
    fake.rate_limit(2)
    body = {"number": BRIDGE, "recipients": [ALICE], "message": "x"}
    async with client:
        codes = [(await client.post("/v2/send", json=body)).status_code for _ in range(3)]
    assert codes == [429, 429, 201]
    with pytest.raises(ValueError, match="at least 1"):
        fake.rate_limit(0)
    # Without contract checks the swagger's required fields are not enforced...
    raw = fake.inject_envelope(ALICE, raw={"timestamp": 5})
    assert raw["envelope"] == {"timestamp": 5}
    # ...but an envelope signal-cli could never print needs as_is, checks or not.
    with pytest.raises(ValueError, match="signal-cli never prints"):
        fake.inject_envelope(ALICE, raw={"timestamp": "not checked"})
    raw = fake.inject_envelope(ALICE, raw={"timestamp": "not checked"}, as_is=True)
    assert raw["envelope"] == {"timestamp": "not checked"}


async def test_busy_socket_misses_frames_and_small_client_frames_are_ignored(
    nursery: trio.Nursery,
) -> None:
    from trio_websocket import open_websocket_url

    fake, client = await start(nursery, mode="json-rpc", socket_buffer=0)
    url = str(client.base_url).replace("http://", "ws://") + f"/v1/receive/{BRIDGE}"
    async with client, open_websocket_url(url) as socket:
        await socket.send_message("ping from client")
        await wait_until(lambda: bool(fake.sockets()))
        await trio.testing.wait_all_tasks_blocked(0.05)
        fake.inject_envelope(ALICE, message="first")
        fake.inject_envelope(ALICE, message="second")  # the socket task is still busy
        first = await socket.get_message()
        # Once the socket task waits for frames again, the next envelope gets through; it is
        # the next frame the client sees, so "second" was missed, not merely late.
        await trio.testing.wait_all_tasks_blocked(0.05)
        fake.inject_envelope(ALICE, message="third")
        after = await socket.get_message()
    assert '"first"' in first
    assert '"third"' in after
    assert fake.dropped == 1


def test_people_groups_and_mentions() -> None:
    fake = FakeSignal()
    hidden = "0b7e5d1e-8c7f-4e0a-9d1b-2d7c0c0a1f00"
    by_uuid = fake.inject_envelope(hidden, message="no number", sender_name="Ghost")
    assert by_uuid["envelope"]["source"] == hidden
    assert by_uuid["envelope"]["sourceNumber"] is None
    assert by_uuid["envelope"]["sourceName"] == "Ghost"
    again = fake.inject_envelope(hidden, message="again")
    assert again["envelope"]["sourceName"] == "Ghost"
    group = fake.add_group("Crew", [ALICE, BRIDGE])
    assert fake.group(group.id) is group
    assert fake.group("Crew") is group
    assert fake.group(group.internal_id) is group
    react = fake.inject_envelope(
        ALICE, reaction="🎉", reaction_target=3, reaction_author=hidden, group_id=group.id
    )
    reaction = react["envelope"]["dataMessage"]["reaction"]
    assert (reaction["targetAuthor"], reaction["targetAuthorNumber"]) == (hidden, None)
    third = "1c8f6e2f-9d80-4f1b-8e2c-3e8d1d1b2a11"
    other = fake.inject_envelope(ALICE, reaction="x", reaction_target=3, reaction_author=third)
    assert other["envelope"]["dataMessage"]["reaction"]["targetAuthorUuid"] == third
    typing = fake.inject_envelope(ALICE, typing="STARTED", group_id="Crew")
    assert typing["envelope"]["typingMessage"]["groupId"] == group.internal_id
    sync = fake.inject_envelope(ALICE, sync_to=ALICE, message="hi crew", group_id="Crew")
    assert sync["envelope"]["syncMessage"]["sentMessage"]["groupInfo"]["groupName"] == "Crew"
    mention = {
        "start": 0,
        "length": 1,
        "uuid": fake.uuid_of(BRIDGE),
        "number": BRIDGE,
        "name": "Bridge",
    }
    mentioned = fake.inject_envelope(ALICE, message="\ufffc hi", mentions=[mention])
    assert mentioned["envelope"]["dataMessage"]["mentions"] == [mention]
    assert fake.uuid_of("+4930000001") == FakeSignal().uuid_of("+4930000001")


def test_go_decoding_rules() -> None:
    from whatsignal.testing._signal_send import go_type_errors, go_zero_fill
    from whatsignal.testing.contract import signal_contract

    contract = signal_contract()
    schema = contract.schema("definitions/api.SendReactionRequest")

    def resolve(ref: str) -> Any:
        return contract.schema(ref.removeprefix("#/"))

    assert go_type_errors(schema, {"timestamp": 5, "recipient": None}, resolve) == []
    # encoding/json parses an int64 from the number's text: "5.0" is refused like "5.5".
    assert go_type_errors(schema, {"timestamp": 5.0}, resolve) == [
        "timestamp: expected integer, got float"
    ]
    assert go_type_errors(schema, {"timestamp": True}, resolve) != []
    assert go_type_errors(schema, {"timestamp": 5.5}, resolve) != []
    send = contract.schema("definitions/api.SendMessageV2")
    assert go_type_errors(send, {"recipients": ["+1", 2]}, resolve) == [
        "recipients: [1]: expected string, got int"
    ]
    assert go_type_errors(send, {"link_preview": {"title": 1}}, resolve) != []
    filled = go_zero_fill(schema, {"recipient": "+1", "reaction": None}, resolve)
    assert filled == {"recipient": "+1", "reaction": "", "target_author": "", "timestamp": 0}
    linked = go_zero_fill(
        {"required": ["p"], "properties": {"p": {"$ref": "#/definitions/api.Error"}}}, {}, resolve
    )
    assert linked == {}
