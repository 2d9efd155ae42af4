"""FakeSignal over real HTTP: the upstream API a bridge uses, and its traps."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from whatsignal.testing._signal_envelopes import strip_nulls
from whatsignal.testing.contract import signal_contract
from whatsignal.testing.signal_cli import FakeSignal, SentMessage

BRIDGE = "+4915000000001"
ALICE = "+4917600000042"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


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
    client = httpx.AsyncClient(base_url=url)
    return fake, client


def ws_url(client: httpx.AsyncClient, number: str = BRIDGE) -> str:
    return str(client.base_url).replace("http://", "ws://") + "/v1/receive/" + number


async def test_starts_from_a_nursery_and_reports_itself(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, mode="native", version="0.99")
    async with client:
        about = (await client.get("/v1/about")).json()
        health = await client.get("/v1/health")
        accounts = (await client.get("/v1/accounts")).json()
    assert about == {
        "versions": ["v1", "v2"],
        "build": 2,
        "mode": "native",
        "version": "0.99",
        "capabilities": {"v2/send": ["quotes", "mentions"]},
    }
    assert health.status_code == 204
    assert health.content == b""
    assert accounts == [BRIDGE]
    assert fake.url == str(client.base_url).rstrip("/")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"number": BRIDGE, "message": "hi"}, "please provide at least one recipient"),
        ({"number": BRIDGE, "message": "hi", "recipients": []}, "at least one recipient"),
        ({"message": "hi", "recipients": [ALICE]}, "please provide a valid number"),
        ({"number": BRIDGE, "recipients": [ALICE], "message": 5}, "invalid request"),
        (
            {"number": BRIDGE, "recipients": [ALICE], "message": "x", "sticker": "nocolon"},
            "please provide valid sticker delimiter",
        ),
    ],
)
async def test_send_validation_answers_upstream_texts(
    nursery: trio.Nursery, body: dict[str, Any], error: str
) -> None:
    fake, client = await start(nursery)
    async with client:
        response = await client.post("/v2/send", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Couldn't process request - ")
    assert response.json()["error"].endswith(error)
    assert fake.sent == []


async def test_send_refuses_unknown_number_and_empty_message_as_signal_cli(
    nursery: trio.Nursery,
) -> None:
    _normal, normal = await start(nursery)
    _rpc, rpc = await start(nursery, mode="json-rpc")
    stranger = {"number": "+4930000000", "recipients": [ALICE], "message": "hi"}
    empty = {"number": BRIDGE, "recipients": [ALICE]}
    async with normal, rpc:
        assert (await normal.post("/v2/send", json=stranger)).json() == {
            "error": "User +4930000000 is not registered.\n"
        }
        assert (await rpc.post("/v2/send", json=stranger)).json() == {
            "error": "Specified account does not exist"
        }
        answer = await rpc.post("/v2/send", json=empty)
        bad_json = await rpc.post("/v2/send", content=b"{nope")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("Sending empty message is not allowed")
    assert bad_json.json() == {"error": "Couldn't process request - invalid request"}


@pytest.mark.parametrize(
    ("recipients", "error"),
    [
        ([ALICE, "group." + base64.b64encode(b"x" * 44).decode()], "Invalid Signal group size"),
        (["group.bm90LWEtZ3JvdXAtaWQtYXQtYWxs!"], "Invalid identifier"),
        ([ALICE, "alice.01"], "phone numbers and usernames cannot be specified together"),
    ],
)
async def test_send_recipient_rules(
    nursery: trio.Nursery, recipients: list[str], error: str
) -> None:
    _fake, client = await start(nursery)
    async with client:
        response = await client.post(
            "/v2/send", json={"number": BRIDGE, "recipients": recipients, "message": "hi"}
        )
    assert response.status_code == 400
    assert error in response.json()["error"]


async def test_send_response_shapes_and_increasing_timestamps(nursery: trio.Nursery) -> None:
    fake_obj, obj = await start(nursery)
    _fake_arr, arr = await start(nursery, send_response="array")
    body = {"number": BRIDGE, "recipients": [ALICE], "message": "hello"}
    async with obj, arr:
        first = await obj.post("/v2/send", json=body)
        second = await obj.post("/v2/send", json=body)
        listed = await arr.post("/v2/send", json=body)
    assert first.status_code == second.status_code == listed.status_code == 201
    assert set(first.json()) == {"timestamp"}
    assert isinstance(first.json()["timestamp"], str)
    assert int(second.json()["timestamp"]) > int(first.json()["timestamp"])
    assert isinstance(listed.json(), list)
    assert len(listed.json()) == 1
    assert listed.json()[0]["timestamp"].isdigit()
    assert [m.message for m in fake_obj.messages] == ["hello", "hello"]
    assert fake_obj.messages[1].timestamp == int(second.json()["timestamp"])
    assert [r.path for r in fake_obj.sent] == ["/v2/send", "/v2/send"]


@pytest.mark.parametrize(
    ("form", "mime", "filename"),
    [
        ("{b64}", "image/png", None),
        ("data:image/png;base64,{b64}", "image/png", None),
        ("data:image/png;filename=cat.png;base64,{b64}", "image/png", "cat.png"),
    ],
)
async def test_attachments_in_all_three_forms_round_trip(
    nursery: trio.Nursery, form: str, mime: str, filename: str | None
) -> None:
    fake, client = await start(nursery)
    entry = form.format(b64=base64.b64encode(PNG).decode())
    async with client:
        sent = await client.post(
            "/v2/send",
            json={
                "number": BRIDGE,
                "recipients": [ALICE],
                "message": "",
                "base64_attachments": [entry],
            },
        )
        assert sent.status_code == 201
        (attachment,) = fake.messages[0].attachments
        assert (attachment.data, attachment.content_type, attachment.filename) == (
            PNG,
            mime,
            filename,
        )
        # Alice sends the picture back: the bridge fetches it by id.
        item = fake.inject_envelope(ALICE, attachments=[(attachment.data, mime, filename)])
        (listed,) = item["envelope"]["dataMessage"]["attachments"]
        assert listed["size"] == len(PNG)
        assert listed["filename"] == filename
        fetched = await client.get(f"/v1/attachments/{listed['id']}")
        assert fetched.content == PNG
        assert fetched.headers["content-type"] == "image/png"
        assert (await client.get("/v1/attachments")).json() == [listed["id"]]
        assert (await client.delete(f"/v1/attachments/{listed['id']}")).status_code == 204
        gone = await client.get(f"/v1/attachments/{listed['id']}")
        assert gone.status_code == 404
        assert gone.json() == {"error": "No attachment with that name found"}
        assert (await client.delete(f"/v1/attachments/{listed['id']}")).status_code == 404


async def test_bad_base64_attachment_is_refused_with_go_text(nursery: trio.Nursery) -> None:
    _fake, client = await start(nursery)
    async with client:
        response = await client.post(
            "/v2/send",
            json={"number": BRIDGE, "recipients": [ALICE], "base64_attachments": ["ab$d"]},
        )
    assert response.json() == {"error": "illegal base64 data at input byte 2"}


async def test_normal_receive_consumes_and_honours_timeout(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, receive_time_scale=0.05)
    fake.inject_envelope(ALICE, message="one")
    fake.inject_envelope(ALICE, message="two")
    async with client:
        first = await client.get(f"/v1/receive/{BRIDGE}", params={"timeout": "1"})
        started = trio.current_time()
        second = await client.get(f"/v1/receive/{BRIDGE}", params={"timeout": "2"})
        waited = trio.current_time() - started
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    texts = [item["envelope"]["dataMessage"]["message"] for item in json.loads(first.text)]
    assert texts == ["one", "two"]
    assert all(item["account"] == BRIDGE for item in json.loads(first.text))
    assert json.loads(second.text) == []
    assert 0.09 <= waited < 1.0  # 2 upstream seconds scaled by 0.05


async def test_normal_receive_wakes_on_arrival_and_respects_max_messages(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery, receive_time_scale=1.0)

    async def later() -> None:
        await trio.sleep(0.05)
        fake.inject_envelope(ALICE, message="late")
        fake.inject_envelope(ALICE, message="later")

    nursery.start_soon(later)
    async with client:
        started = trio.current_time()
        got = await client.get(
            f"/v1/receive/{BRIDGE}", params={"timeout": "5", "max_messages": "1"}
        )
        took = trio.current_time() - started
        rest = await client.get(f"/v1/receive/{BRIDGE}", params={"timeout": "0"})
    assert took < 2.0
    assert [i["envelope"]["dataMessage"]["message"] for i in got.json()] == ["late"]
    assert [i["envelope"]["dataMessage"]["message"] for i in rest.json()] == ["later"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"timeout": "0.5"}, "timeout needs to be numeric!"),
        ({"max_messages": "x"}, "max_messages needs to be numeric!"),
        ({"ignore_attachments": "yes"}, "ignore_attachments parameter needs to be either"),
    ],
)
async def test_receive_query_validation(
    nursery: trio.Nursery, params: dict[str, str], error: str
) -> None:
    _fake, client = await start(nursery)
    async with client:
        response = await client.get(f"/v1/receive/{BRIDGE}", params=params)
    assert response.status_code == 400
    assert error in response.json()["error"]


async def test_jsonrpc_pushes_frames_and_drops_without_socket(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, mode="json-rpc")
    dropped = fake.inject_envelope(ALICE, message="nobody listens")
    assert fake.dropped == 1
    async with client, open_websocket_url(ws_url(client, "%2B" + BRIDGE[1:])) as socket:
        await wait_until(lambda: bool(fake.sockets()))
        sent = fake.inject_envelope(ALICE, message="hello")
        frame = json.loads(await socket.get_message())
        plain = await client.get(f"/v1/receive/{BRIDGE}")
    assert frame == sent
    assert set(frame) == {"envelope", "account"}
    assert frame["envelope"]["timestamp"] != dropped["envelope"]["timestamp"]
    assert fake.dropped == 1
    assert plain.status_code == 400
    assert plain.text.startswith("Bad Request\n")
    assert "not using the websocket protocol" in plain.text


async def test_jsonrpc_fans_out_to_every_socket_of_the_account(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, mode="json-rpc", numbers=(BRIDGE, "+4915000000002"))
    async with (
        client,
        open_websocket_url(ws_url(client)) as one,
        open_websocket_url(ws_url(client)) as two,
        open_websocket_url(ws_url(client, "+4915000000002")) as other,
    ):
        await wait_until(lambda: fake.sockets() == {BRIDGE: 2, "+4915000000002": 1})
        fake.inject_envelope(ALICE, message="to both")
        assert (
            json.loads(await one.get_message())["envelope"]["dataMessage"]["message"] == "to both"
        )
        assert (
            json.loads(await two.get_message())["envelope"]["dataMessage"]["message"] == "to both"
        )
        # Frames reach a socket in the order they were injected: if "to both" had gone to the
        # other account too, it would come before this one.
        fake.inject_envelope(ALICE, message="to other", account="+4915000000002")
        first_on_other = json.loads(await other.get_message())
    assert first_on_other["account"] == "+4915000000002"
    assert first_on_other["envelope"]["dataMessage"]["message"] == "to other"
    assert fake.dropped == 0


async def test_jsonrpc_socket_closed_on_oversized_client_frame(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, mode="json-rpc")
    async with client, open_websocket_url(ws_url(client)) as socket:
        await socket.send_message("x" * 600)
        with pytest.raises(ConnectionClosed):
            await socket.get_message()
    await wait_until(lambda: not fake.sockets())
    fake.inject_envelope(ALICE, message="lost")
    assert fake.dropped == 1


@pytest.mark.parametrize("status", [200, 500])
async def test_receive_webhook_gets_the_jsonrpc_line_once(
    nursery: trio.Nursery, status: int
) -> None:
    from quart import request
    from quart_trio import QuartTrio

    from whatsignal._serve import base_url, serve_app

    got: list[Any] = []
    sink = QuartTrio("sink")

    @sink.post("/hook")
    async def hook() -> tuple[str, int]:
        got.append((request.headers.get("content-type"), await request.get_json()))
        return "", status  # upstream does not retry, whatever the answer

    binds: list[str] = await nursery.start(
        lambda task_status: serve_app(sink, host="127.0.0.1", port=0, task_status=task_status)
    )
    fake, client = await start(
        nursery, mode="json-rpc", receive_webhook_url=base_url(binds) + "/hook"
    )
    item = fake.inject_envelope(ALICE, message="pushed")
    # A push records its result as the last thing it does: once recorded, it is over.
    await wait_until(lambda: len(fake.webhook_results) == 1)
    # The next POST the sink sees is the next envelope, not a second try of the first.
    later = fake.inject_envelope(ALICE, message="next")
    await wait_until(lambda: len(fake.webhook_results) == 2)
    await client.aclose()
    assert got == [
        ("application/json", {"jsonrpc": "2.0", "method": "receive", "params": item}),
        ("application/json", {"jsonrpc": "2.0", "method": "receive", "params": later}),
    ]
    assert fake.webhook_results == [status, status]


async def test_receive_webhook_failure_is_recorded_not_retried(nursery: trio.Nursery) -> None:
    fake, client = await start(
        nursery, mode="json-rpc", receive_webhook_url="http://127.0.0.1:9/nothing"
    )
    fake.inject_envelope(ALICE, message="x")
    await wait_until(lambda: len(fake.webhook_results) == 1)
    fake.inject_envelope(ALICE, message="y")
    await wait_until(lambda: len(fake.webhook_results) == 2)
    await client.aclose()
    # One failure per envelope: each push was tried once and recorded when it ended.
    assert len(fake.webhook_results) == 2
    assert all(isinstance(result, str) for result in fake.webhook_results)


def test_webhook_url_needs_jsonrpc_mode() -> None:
    with pytest.raises(ValueError, match="json-rpc"):
        FakeSignal(receive_webhook_url="http://x/")
    with pytest.raises(ValueError, match="mode"):
        FakeSignal(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="number"):
        FakeSignal(numbers=())


async def test_contract_check_catches_a_bad_body(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    lax, lax_client = await start(nursery, check_contracts=False)
    body = {
        "number": BRIDGE,
        "recipients": [ALICE],
        "message": "hi @A",
        "mentions": [{"start": 3, "length": 2}],  # swagger requires the author
    }
    async with client, lax_client:
        strict = await client.post("/v2/send", json=body)
        relaxed = await lax_client.post("/v2/send", json=body)
        styled = await client.post("/v2/send", json={**body, "mentions": [], "text_mode": "bold"})
    assert strict.status_code == 500
    assert "mentions/0" in strict.json()["error"]
    assert relaxed.status_code == 201
    assert styled.status_code == 500
    assert len(fake.violations) == 2
    assert fake.sent == []
    assert lax.violations == []


async def test_rate_limit_answers_429_with_challenge_tokens(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    body = {"number": BRIDGE, "recipients": [ALICE], "message": "spam?"}
    fake.rate_limit(challenge_tokens=["tok-1"])
    async with client:
        limited = await client.post("/v2/send", json=body)
        assert fake.sent == []
        assert (
            await client.post(
                "/_sim/rate-limit", json={"delivered_anyway": True, "challenge_tokens": [""]}
            )
        ).status_code == 204
        delivered = await client.post("/v2/send", json=body)
        after = await client.post("/v2/send", json=body)
    assert limited.status_code == 429
    assert limited.json() == {
        "error": "Failed to send message due to rate limiting. Use the attached challenge tokens "
        "to lift the rate limit restrictions via the "
        "'/v1/accounts/{number}/rate-limit-challenge' endpoint.",
        "challenge_tokens": ["tok-1"],
        "account": BRIDGE,
    }
    assert delivered.status_code == 429
    assert delivered.json()["challenge_tokens"] == [""]
    assert after.status_code == 201
    assert [m.message for m in fake.messages] == ["spam?", "spam?"]  # #881 and the retry
    assert [status for status, _ in fake.responses] == [429, 201]


async def test_faults_via_sim_api(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    body = {"number": BRIDGE, "recipients": [ALICE], "message": "hi"}
    async with client:
        bad = await client.post("/_sim/faults", json={"status": 500})
        added = await client.post(
            "/_sim/faults", json={"path": "/v2/send", "status": 500, "body": {"error": "boom"}}
        )
        failed = await client.post("/v2/send", json=body)
        ok = await client.post("/v2/send", json=body)
        await client.post("/_sim/faults", json={"path": "/v2/send", "status": 503, "count": None})
        assert (await client.delete("/_sim/faults")).status_code == 204
        again = await client.post("/v2/send", json=body)
    assert bad.status_code == 400
    assert "path" in bad.json()["error"]
    assert added.status_code == 201
    assert (failed.status_code, failed.json()) == (500, {"error": "boom"})
    assert ok.status_code == again.status_code == 201
    assert len(fake.sent) == 2


async def test_fault_added_before_start_applies(nursery: trio.Nursery) -> None:
    from whatsignal.testing._common import Fault

    fake = FakeSignal()
    fake.add_fault(Fault(path="/v1/about", status=503))
    url: str = await nursery.start(fake.run)
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/v1/about")).status_code == 503
        assert (await client.get("/v1/about")).status_code == 200


def _valid(item: dict[str, Any]) -> dict[str, Any]:
    signal_contract().check_definition("data.Message", strip_nulls(item))
    envelope: dict[str, Any] = item["envelope"]
    return envelope


async def test_envelopes_match_receive_schemas() -> None:
    fake = FakeSignal()
    fake.messages.append(
        SentMessage(timestamp=1700000000000, number=BRIDGE, recipients=(ALICE,), message="Bob: hi")
    )
    quote = _valid(fake.inject_envelope(ALICE, message="reply", quote_timestamp=1700000000000))
    assert quote["dataMessage"]["quote"] == {
        "id": 1700000000000,
        "author": BRIDGE,
        "authorNumber": BRIDGE,
        "authorUuid": fake.uuid_of(BRIDGE),
        "text": "Bob: hi",
        "attachments": [],
    }
    assert quote["sourceUuid"] == fake.uuid_of(ALICE)
    assert quote["timestamp"] == quote["dataMessage"]["timestamp"]
    react = _valid(fake.inject_envelope(ALICE, reaction="👍", reaction_target=1700000000000))
    assert react["dataMessage"]["reaction"]["targetSentTimestamp"] == 1700000000000
    assert react["dataMessage"]["reaction"]["isRemove"] is False
    assert react["dataMessage"]["message"] is None
    group = _valid(fake.inject_envelope(ALICE, message="all", group_id="Family"))
    info = group["dataMessage"]["groupInfo"]
    assert fake.groups[info["groupId"]].name == "Family"
    assert info["type"] == "DELIVER"
    receipt = _valid(fake.inject_envelope(ALICE, receipt="read"))
    assert receipt["receiptMessage"]["isRead"] is True
    assert receipt["receiptMessage"]["timestamps"] == [1700000000000]
    edit = _valid(fake.inject_envelope(ALICE, message="fixed", edit=1700000000001))
    assert edit["editMessage"]["targetSentTimestamp"] == 1700000000001
    assert edit["editMessage"]["dataMessage"]["message"] == "fixed"
    deleted = _valid(fake.inject_envelope(ALICE, remote_delete=1700000000001))
    assert deleted["dataMessage"]["remoteDelete"] == {"timestamp": 1700000000001}
    typing = _valid(fake.inject_envelope(ALICE, typing="STARTED"))
    assert typing["typingMessage"]["action"] == "STARTED"
    sync = _valid(fake.inject_envelope(ALICE, sync_to=ALICE, message="from my phone"))
    assert sync["source"] == BRIDGE
    assert sync["syncMessage"]["sentMessage"]["destinationNumber"] == ALICE
    hidden = _valid(fake.inject_envelope(ALICE, message="psst", number_hidden=True))
    assert hidden["sourceNumber"] is None
    assert hidden["source"] == fake.uuid_of(ALICE)
    stamps = [quote, react, group, receipt, edit, deleted, typing, sync, hidden]
    assert [e["timestamp"] for e in stamps] == sorted({e["timestamp"] for e in stamps})


def test_inject_envelope_refuses_nonsense() -> None:
    fake = FakeSignal()
    with pytest.raises(ValueError, match="registered"):
        fake.inject_envelope(ALICE, message="x", account="+1999")
    with pytest.raises(ValueError, match="nothing to send"):
        fake.inject_envelope(ALICE)
    with pytest.raises(ValueError, match="reaction_target"):
        fake.inject_envelope(ALICE, reaction="x")
    with pytest.raises(ValueError, match="receipt_timestamps"):
        fake.inject_envelope(ALICE, receipt="read")
    with pytest.raises(ValueError, match="receipt must be"):
        fake.inject_envelope(ALICE, receipt="seen", receipt_timestamps=[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="typing must be"):
        fake.inject_envelope(ALICE, typing="MAYBE")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quote is"):
        fake.inject_envelope(ALICE, message="x", quote={"id": 1})
    with pytest.raises(ValueError, match="group id"):
        fake.inject_envelope(ALICE, message="x", group_id="group.nope")
    with pytest.raises(ValueError, match="number or a uuid"):
        fake.add_contact(None)


async def test_drop_sockets_closes_the_account_s_sockets_and_later_frames_are_dropped(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery, mode="json-rpc", numbers=(BRIDGE, "+4915000000002"))
    async with (
        client,
        open_websocket_url(ws_url(client)) as mine,
        open_websocket_url(ws_url(client, "+4915000000002")) as other,
    ):
        await wait_until(lambda: fake.sockets() == {BRIDGE: 1, "+4915000000002": 1})
        assert fake.socket_connects == 2
        assert fake.drop_sockets(BRIDGE) == 1
        fake.inject_envelope(ALICE, message="lost at once")  # the socket is gone already
        assert fake.dropped == 1
        with pytest.raises(ConnectionClosed):
            await mine.get_message()
        await wait_until(lambda: fake.sockets() == {"+4915000000002": 1})
        fake.inject_envelope(ALICE, message="lost")
        assert fake.dropped == 2
        fake.inject_envelope(ALICE, message="kept", account="+4915000000002")
        assert json.loads(await other.get_message())["envelope"]["dataMessage"]["message"] == "kept"
        assert fake.drop_sockets() == 1
        with pytest.raises(ConnectionClosed):
            await other.get_message()
    await wait_until(lambda: not fake.sockets())


async def test_a_frame_for_a_socket_that_is_closing_is_dropped(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, mode="json-rpc")
    async with client:
        with fake.subscribe(BRIDGE) as frames:
            frames.close()  # the socket's reader is gone; its entry is not removed yet
            fake.inject_envelope(ALICE, message="nowhere")
    assert fake.dropped == 1
