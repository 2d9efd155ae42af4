"""SignalClient against a scripted signal-cli-rest-api: both /v2/send shapes, errors, receive."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from client_helpers import Upstream, attachment, check_signal

from whatsignal.clients import About, OutboundAttachment, SignalClient, open_http_client
from whatsignal.errors import ApiError, TransportError
from whatsignal.testing.contract import signal_contract

BASE = "http://signal:8080"
BRIDGE = "+4915100000001"
ME = "+4915100000002"


@pytest.fixture
async def signal(upstream: Upstream) -> AsyncIterator[SignalClient]:
    async with open_http_client(BASE, timeout=5, transport=upstream.transport()) as http:
        yield SignalClient(http)


async def test_no_api_key_header_without_a_key(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(204))
    assert await signal.health() is True
    assert "X-Api-Key" not in upstream.last.headers
    assert upstream.last.url.path == "/v1/health"


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(503, text="down"), httpx.ConnectError("refused")],
)
async def test_health_reports_instead_of_raising(
    signal: SignalClient, upstream: Upstream, answer: Any
) -> None:
    upstream.answer(answer)
    assert await signal.health() is False


async def test_about(signal: SignalClient, upstream: Upstream) -> None:
    answer = {
        "versions": ["v1", "v2"],
        "build": 2,
        "mode": "json-rpc",
        "version": "0.100",
        "capabilities": {"v2/send": ["quotes", "mentions"]},
    }
    signal_contract().check_definition("client.About", answer)
    upstream.answer(httpx.Response(200, json=answer))
    about = await signal.about()
    assert about == About(
        mode="json-rpc",
        version="0.100",
        build=2,
        capabilities={"v2/send": ["quotes", "mentions"]},
        versions=("v1", "v2"),
    )
    assert about.json_rpc


async def test_about_tolerates_missing_extras(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json={"mode": "normal", "version": "0.90", "build": "x"}))
    about = await signal.about()
    assert about == About(mode="normal", version="0.90")
    assert not about.json_rpc


async def test_about_without_mode_is_malformed(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json={"version": "0.90"}))
    with pytest.raises(ApiError, match="mode and version"):
        await signal.about()


# /v2/send --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"timestamp": "1722868115744"}, id="0.100-object-string"),
        pytest.param({"timestamp": 1722868115744}, id="object-int"),
        pytest.param([{"timestamp": "1722868115744"}], id="master-array"),
        pytest.param(
            [
                {"timestamp": "1722868115744"},
                {"timestamp": "1722868115745", "errors": {"recipients": []}},
            ],
            id="master-array-several",
        ),
    ],
)
async def test_send_returns_the_timestamp_from_both_shapes(
    signal: SignalClient, upstream: Upstream, answer: Any
) -> None:
    upstream.answer(httpx.Response(201, json=answer))
    assert await signal.send(BRIDGE, [ME], "Alice: hi") == 1722868115744
    body = upstream.body()
    check_signal("POST", "/v2/send", body)
    assert upstream.last.url.path == "/v2/send"
    assert body == {"number": BRIDGE, "recipients": [ME], "message": "Alice: hi"}


async def test_send_with_everything(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={"timestamp": "5"}))
    photo = OutboundAttachment(b"\xff\xd8\xff", "image/jpeg; charset=binary", "a;b,c.jpg")
    note = OutboundAttachment(b"%PDF", "", None)
    stamp = await signal.send(
        BRIDGE,
        ["group.abc"],
        "",
        quote_timestamp=1700000000000,
        quote_author=ME,
        quote_message="Bob: earlier",
        attachments=[photo, note],
        edit_timestamp=1700000000001,
        text_mode="styled",
    )
    assert stamp == 5
    body = upstream.body()
    check_signal("POST", "/v2/send", body)
    assert body == {
        "number": BRIDGE,
        "recipients": ["group.abc"],
        "message": "",
        "quote_timestamp": 1700000000000,
        "quote_author": ME,
        "quote_message": "Bob: earlier",
        "base64_attachments": [
            "data:image/jpeg;filename=a_b_c.jpg;base64,"
            + base64.b64encode(b"\xff\xd8\xff").decode(),
            "data:application/octet-stream;base64," + base64.b64encode(b"%PDF").decode(),
        ],
        "edit_timestamp": 1700000000001,
        "text_mode": "styled",
    }


def test_attachment_repr_hides_the_bytes() -> None:
    assert "secret" not in repr(OutboundAttachment(b"secret", "text/plain", "x.txt"))


async def test_send_quote_without_text(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={"timestamp": "5"}))
    await signal.send(BRIDGE, [ME], "reply", quote_timestamp=4, quote_author=ME)
    body = upstream.body()
    check_signal("POST", "/v2/send", body)
    assert (body["quote_timestamp"], body["quote_author"]) == (4, ME)
    assert "quote_message" not in body


async def test_send_validates_its_arguments(signal: SignalClient, upstream: Upstream) -> None:
    with pytest.raises(ValueError, match="recipient"):
        await signal.send(BRIDGE, [], "x")
    with pytest.raises(ValueError, match="quote_author"):
        await signal.send(BRIDGE, [ME], "x", quote_timestamp=1)
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"timestamp": ""}, "no usable timestamp"),
        ({"timestamp": "0"}, "no usable timestamp"),
        ({"timestamp": True}, "no usable timestamp"),
        ({}, "no usable timestamp"),
        ([], "an empty array"),
        (["1"], "expected an object"),
        ("1722868115744", "expected an object"),
    ],
)
async def test_send_malformed_answers(
    signal: SignalClient, upstream: Upstream, answer: Any, problem: str
) -> None:
    upstream.answer(httpx.Response(201, json=answer))
    with pytest.raises(ApiError, match=problem) as caught:
        await signal.send(BRIDGE, [ME], "x")
    assert caught.value.status == 201


async def test_send_that_reached_nobody_is_an_error_with_the_reasons(
    signal: SignalClient, upstream: Upstream
) -> None:
    answer = [
        {
            "timestamp": "1722868115744",
            "errors": {
                "recipients": [
                    {"number": ME, "uuid": "u-1", "username": "", "reason": "NETWORK_FAILURE"}
                ]
            },
        }
    ]
    upstream.answer(httpx.Response(201, json=answer))
    with pytest.raises(ApiError, match="failed for every recipient: NETWORK_FAILURE") as caught:
        await signal.send(BRIDGE, [ME], "x")
    assert caught.value.status == 201
    assert ME not in caught.value.body


async def test_send_partly_delivered_returns_the_timestamp(
    signal: SignalClient, upstream: Upstream
) -> None:
    failed = {"recipients": [{"number": ME, "reason": "UNREGISTERED_FAILURE"}, {"bad": 1}, "x"]}
    upstream.answer(
        httpx.Response(201, json=[{"timestamp": "7", "errors": failed}]),
        httpx.Response(201, json=[{"timestamp": "8", "errors": {"recipients": [{}]}}]),
    )
    # Three failure entries but four recipients: someone got it.
    assert await signal.send(BRIDGE, [ME, "+1", "+2", "+3"], "x") == 7
    # In a group some members failing is normal.
    assert await signal.send(BRIDGE, ["group.abc"], "x") == 8


async def test_send_rate_limited_429(signal: SignalClient, upstream: Upstream) -> None:
    body = {
        "error": "Failed to send message due to rate limiting. Use the attached challenge"
        " tokens to lift the rate limit restrictions via the"
        " '/v1/accounts/{number}/rate-limit-challenge' endpoint.",
        "challenge_tokens": ["1b2c3d4e-0000-4000-8000-123456789012"],
        "account": BRIDGE,
    }
    signal_contract().check_definition("api.SendMessageError", body)
    upstream.answer(httpx.Response(429, json=body))
    with pytest.raises(ApiError) as caught:
        await signal.send(BRIDGE, [ME], "x")
    error = caught.value
    assert error.status == 429
    assert str(error).startswith("signal-cli send failed: HTTP 429: Failed to send message due")
    assert "1b2c3d4e-0000-4000-8000-123456789012" in error.body
    assert BRIDGE not in error.body
    assert "+***0001" in error.body


async def test_send_400_with_numbers_is_masked(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(
        httpx.Response(
            400,
            json={"error": 'Failed to send (some) messages:\nUnregistered user "+4915112345678"'},
        )
    )
    with pytest.raises(ApiError) as caught:
        await signal.send(BRIDGE, ["+4915112345678"], "secret")
    assert str(caught.value) == (
        "signal-cli send failed: HTTP 400: Failed to send (some) messages:"
        ' Unregistered user "+***5678"'
    )
    assert "4915112345678" not in caught.value.body


# Other sends -----------------------------------------------------------------------------


async def test_react_and_unreact(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(204), httpx.Response(204))
    await signal.react(BRIDGE, ME, "👍", target_author=ME, target_timestamp=17)
    await signal.react(BRIDGE, ME, "👍", target_author=ME, target_timestamp=17, remove=True)
    assert [r.method for r in upstream.requests] == ["POST", "DELETE"]
    assert upstream.last.url.raw_path == b"/v1/reactions/%2B4915100000001"
    expected = {"recipient": ME, "reaction": "👍", "target_author": ME, "timestamp": 17}
    for index, method in ((0, "POST"), (1, "DELETE")):
        check_signal(method, "/v1/reactions/{number}", upstream.body(index))
        assert upstream.body(index) == expected


async def test_receipt(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(204), httpx.Response(204))
    await signal.receipt(BRIDGE, ME, timestamp=42)
    await signal.receipt(BRIDGE, ME, timestamp=43, receipt_type="viewed")
    check_signal("POST", "/v1/receipts/{number}", upstream.body(0))
    assert upstream.body(0) == {"recipient": ME, "receipt_type": "read", "timestamp": 42}
    assert upstream.body(1)["receipt_type"] == "viewed"
    assert upstream.last.url.raw_path == b"/v1/receipts/%2B4915100000001"


async def test_typing_on_and_off(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(204), httpx.Response(204))
    await signal.typing(BRIDGE, ME, on=True)
    await signal.typing(BRIDGE, ME, on=False)
    assert [r.method for r in upstream.requests] == ["PUT", "DELETE"]
    for index, method in ((0, "PUT"), (1, "DELETE")):
        check_signal(method, "/v1/typing-indicator/{number}", upstream.body(index))
        assert upstream.body(index) == {"recipient": ME}


async def test_remote_delete(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(201, json={"timestamp": "99"}))
    await signal.remote_delete(BRIDGE, ME, timestamp=98)
    assert upstream.last.method == "DELETE"
    check_signal("DELETE", "/v1/remote-delete/{number}", upstream.body())
    assert upstream.body() == {"recipient": ME, "timestamp": 98}


async def test_rate_limit_challenge(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(204))
    await signal.rate_limit_challenge(
        BRIDGE, challenge_token="1b2c3d4e-0000-4000-8000-123456789012", captcha="signalcaptcha://x"
    )
    assert upstream.last.method == "POST"
    assert upstream.last.url.raw_path == b"/v1/accounts/%2B4915100000001/rate-limit-challenge"
    check_signal("POST", "/v1/accounts/{number}/rate-limit-challenge", upstream.body())
    assert upstream.body() == {
        "challenge_token": "1b2c3d4e-0000-4000-8000-123456789012",
        "captcha": "signalcaptcha://x",
    }


# Receiving -------------------------------------------------------------------------------

ENVELOPE: dict[str, Any] = {
    "envelope": {
        "source": ME,
        "sourceNumber": ME,
        "sourceUuid": "5e2a0000-0000-4000-8000-000000000001",
        "timestamp": 1722868115744,
        "dataMessage": {"timestamp": 1722868115744, "message": "hi"},
    },
    "account": BRIDGE,
}


async def test_receive_long_poll(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(
        httpx.Response(
            200,
            text=json.dumps([ENVELOPE, "junk"]),
            headers={"content-type": "text/plain; charset=utf-8"},
        )
    )
    assert await signal.receive(BRIDGE, timeout=9.2) == [ENVELOPE]
    request = upstream.last
    assert request.url.raw_path.startswith(b"/v1/receive/%2B4915100000001")
    assert request.url.params["timeout"] == "10"
    assert request.extensions["timeout"]["read"] == 15  # the client's 5 s plus the poll


async def test_receive_without_a_read_timeout_stays_without() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="[]")

    async with httpx.AsyncClient(
        base_url=BASE, timeout=None, transport=httpx.MockTransport(handler)
    ) as http:
        assert await SignalClient(http).receive(BRIDGE, timeout=0) == []
    assert seen[0].extensions["timeout"]["read"] is None
    assert seen[0].url.params["timeout"] == "0"


async def test_receive_empty_body(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, text=""))
    assert await signal.receive(BRIDGE, timeout=1) == []


async def test_receive_recovers_envelopes_from_a_broken_array(
    signal: SignalClient, upstream: Upstream
) -> None:
    second = {**ENVELOPE, "envelope": {**ENVELOPE["envelope"], "timestamp": 2}}
    text = (
        "["
        + json.dumps(ENVELOPE)
        + ",\njava.lang.NullPointerException {at x}\n\tat y(z.java:1)\n,"
        + json.dumps(second)
        + ',{"account": "x"}]'
    )
    upstream.answer(httpx.Response(200, text=text))
    assert await signal.receive(BRIDGE, timeout=1) == [ENVELOPE, second]


async def test_receive_unreadable_is_an_error(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, text="Exception in thread main {oops"))
    with pytest.raises(ApiError, match="not JSON"):
        await signal.receive(BRIDGE, timeout=1)
    upstream.answer(httpx.Response(200, json={"envelope": {}}))
    with pytest.raises(ApiError, match="expected an array"):
        await signal.receive(BRIDGE, timeout=1)


async def test_receive_in_json_rpc_mode_is_a_400(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(
        httpx.Response(
            400,
            json={
                "error": "websocket: the client is not using the websocket protocol:"
                " 'upgrade' token not found in 'Connection' header"
            },
        )
    )
    with pytest.raises(ApiError, match="HTTP 400: websocket: the client is not using"):
        await signal.receive(BRIDGE, timeout=1)


async def test_receive_refuses_a_negative_timeout(signal: SignalClient) -> None:
    with pytest.raises(ValueError, match="negative"):
        await signal.receive(BRIDGE, timeout=-1)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://signal:8080", "ws://signal:8080/v1/receive/%2B4915100000001"),
        ("https://signal.example/api/", "wss://signal.example/api/v1/receive/%2B4915100000001"),
    ],
)
async def test_receive_websocket_url(base: str, url: str) -> None:
    async with open_http_client(base, timeout=1) as http:
        assert SignalClient(http).receive_websocket_url(BRIDGE) == url


async def test_attachment_download_and_cap(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(
        httpx.Response(200, content=b"\x89PNG", headers={"content-type": "image/png"}),
        httpx.Response(200, content=b"x" * 11),
        httpx.Response(404, json={"error": "No attachment with that name found"}),
    )
    assert await attachment(signal, "Jq2fJ0qYs7KZbmUfNKXf.png", max_bytes=10) == b"\x89PNG"
    assert upstream.last.url.raw_path == b"/v1/attachments/Jq2fJ0qYs7KZbmUfNKXf.png"
    with pytest.raises(ApiError, match="larger than the limit"):
        await attachment(signal, "big", max_bytes=10)
    with pytest.raises(ApiError, match="HTTP 404: No attachment with that name found"):
        await attachment(signal, "gone", max_bytes=10)


async def test_contacts_and_groups(signal: SignalClient, upstream: Upstream) -> None:
    contact = {"number": ME, "uuid": "u-1", "name": "Me", "profile_name": "Me"}
    group = {"id": "group.abc", "internal_id": "abc", "name": "G", "members": [ME]}
    upstream.answer(httpx.Response(200, json=[contact, 3]), httpx.Response(200, json=[group]))
    assert await signal.contacts(BRIDGE) == [contact]
    assert upstream.last.url.raw_path == b"/v1/contacts/%2B4915100000001"
    assert await signal.groups(BRIDGE) == [group]
    assert upstream.last.url.raw_path == b"/v1/groups/%2B4915100000001"


async def test_transport_error_while_streaming(signal: SignalClient, upstream: Upstream) -> None:
    upstream.answer(httpx.ReadError("connection reset by peer"))
    with pytest.raises(TransportError, match="signal-cli attachment: no answer \\(ReadError"):
        await attachment(signal, "a", max_bytes=10)
