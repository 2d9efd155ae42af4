"""The simulators' edges: JSON as each upstream parses it, faults and configs that cannot break
a later request, request bodies a handler did not read, and lone surrogates through FakeWaha.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any

import httpx
import pytest
import trio
from waha_receiver import serve_receiver, start_fake

from whatsignal.testing._common import Fault
from whatsignal.testing._json import MAX_DEPTH, JsonError, dumps, loads, utf8
from whatsignal.testing.signal_cli import FakeSignal

BRIDGE = "+4915000000001"
ALICE = "+4917600000042"
ALICE_CHAT = "4917600000042@c.us"


def ascii_json(body: Any) -> bytes:
    """``body`` as ASCII JSON (httpx's ``json=`` cannot encode lone surrogates)."""
    return json.dumps(body).encode()


# JSON dialects ----------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["strict", "node", "go"])
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper than 64"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
        (b'{"a":' + b"9" * 5000 + b"}", "integer of 5000 digits"),
        (b"[9223372036854775808]", "out of range"),
        (b'{"a":NaN}', "NaN is not a JSON value"),
        (b"[-Infinity]", "-Infinity is not a JSON value"),
        (b"[1e400]", "out of range"),
        (b'{"a":', "Expecting value"),
        (b"", "Expecting value"),
    ],
)
def test_every_dialect_refuses_what_no_upstream_parses(
    dialect: Any, raw: bytes, reason: str
) -> None:
    with pytest.raises(JsonError, match=reason):
        loads(raw, dialect=dialect)


def test_the_dialects_differ_where_the_upstreams_do() -> None:
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads(at_limit, dialect="strict") is not None
    assert loads(b"[-9223372036854775808, 9223372036854775807]") == [-(2**63), 2**63 - 1]
    # Invalid UTF-8: refused by the control API, U+FFFD for Express and Go.
    with pytest.raises(JsonError, match="not UTF-8"):
        loads(b'{"a":"\xff"}')
    assert loads(b'{"a":"\xff"}', dialect="node") == {"a": "\ufffd"}
    assert loads(b'{"a":"\xed\xa0\xbd"}', dialect="go") == {"a": "\ufffd" * 3}
    # Lone surrogates: kept by the control API and JavaScript, U+FFFD in Go.
    assert loads(b'{"a":"\\ud83d"}') == {"a": "\ud83d"}
    assert loads(b'{"a":"\\ud83d"}', dialect="node") == {"a": "\ud83d"}
    assert loads(b'{"\\udc00":["\\ud83d"]}', dialect="go") == {"\ufffd": ["\ufffd"]}
    assert loads(b'"\\ud83d"', dialect="go") == "\ufffd"
    assert loads(b'"\\ud83d\\ude00"', dialect="go") == "\U0001f600"  # a pair is one character
    # Duplicate keys: refused by the control API, the last one wins upstream.
    with pytest.raises(JsonError, match="duplicate key 'a'"):
        loads(b'{"a":1,"a":2}')
    assert loads(b'{"a":1,"a":2}', dialect="node") == {"a": 2}
    assert loads('{"a":1}') == {"a": 1}


def test_dumps_always_encodes_and_refuses_what_is_not_json() -> None:
    text = dumps({"a": "x \ud83d ü \U0001f600", "\udc00": 1})
    assert text == '{"a":"x \\ud83d ü \U0001f600","\\udc00":1}'
    text.encode("utf-8")
    assert json.loads(text) == {"a": "x \ud83d ü \U0001f600", "\udc00": 1}
    for bad in (math.nan, math.inf, {1, 2}, object(), [[[[1]]]]):
        with pytest.raises(JsonError):
            dumps(bad, max_depth=3)
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(JsonError, match="nested too deeply"):
        dumps(deep, max_depth=None)
    assert utf8("a\ud83db") == "a\ufffdb".encode()


# Faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"path": "/v2/send", "status": 101}, "200 to 599"),
        ({"path": "/v2/send", "status": True}, "200 to 599"),
        ({"path": "/v2/send", "status": 204, "body": {"a": 1}}, "no body"),
        ({"path": "/v2/send", "status": 500, "headers": {"X-A": "a\r\nB: c"}}, "printable"),
        ({"path": "/v2/send", "status": 500, "headers": {"X A": "a"}}, "not an HTTP token"),
        ({"path": "/v2/send", "status": 500, "headers": {"X-A": 5}}, "printable"),
        ({"path": "/v2/send", "status": 500, "headers": {"X-A": "\ud83d"}}, "printable"),
        ({"path": "/v2/send", "status": 500, "headers": {"Content-Length": "0"}}, "fake itself"),
        ({"path": "/v2/send", "latency": True}, "non-negative number"),
        ({"path": "/v2/send", "status": 500, "method": 5}, "'method'"),
        ({"path": "/v2/send", "status": 500, "count": False}, "'count'"),
    ],
)
async def test_faults_that_could_not_be_served_are_refused(
    nursery: trio.Nursery, body: dict[str, Any], reason: str
) -> None:
    fake = FakeSignal()
    url: str = await nursery.start(fake.run)
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/_sim/faults", content=ascii_json(body))
        after = await client.post(
            "/v2/send", json={"number": BRIDGE, "recipients": [ALICE], "message": "x"}
        )
    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert after.status_code == 201
    with pytest.raises(ValueError, match=reason):
        Fault.from_json(body)


def test_python_faults_are_checked_too() -> None:
    for latency in (math.nan, math.inf, -1.0, 10**400):
        with pytest.raises(ValueError, match="latency"):
            Fault("/x", latency=latency)
    with pytest.raises(ValueError, match="'body' must be JSON"):
        Fault("/x", status=500, body={"a": math.nan})
    assert Fault("/x", status=500, body={"a": "\ud83d"}).body_bytes() == b'{"a":"\\ud83d"}'


async def test_a_fault_with_custom_headers_and_a_surrogate_body_is_served(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start_fake(nursery)
    async with client:
        added = await client.post(
            "/_sim/faults",
            content=ascii_json(
                {
                    "path": "/api/sendText",
                    "status": 429,
                    "headers": {"Retry-After": "1"},
                    "body": {"message": "\ud83d"},
                }
            ),
        )
        faulted = await client.post("/api/sendText", json={"chatId": ALICE_CHAT, "text": "x"})
    assert added.status_code == 201
    assert faulted.status_code == 429
    assert faulted.headers["retry-after"] == "1"
    assert faulted.json() == {"message": "\ud83d"}
    assert fake.injector.faults[0].hits == 1


# Request bodies a handler does not read --------------------------------------------------


@pytest.mark.parametrize("size", [200_000, 2_000_000, 20_000_000])
async def test_an_unread_body_does_not_break_the_connection(
    nursery: trio.Nursery, size: int
) -> None:
    signal = FakeSignal()
    signal_url: str = await nursery.start(signal.run)
    _, waha_client = await start_fake(nursery)
    async with httpx.AsyncClient(base_url=signal_url, timeout=10) as client, waha_client:
        waha_client.timeout = httpx.Timeout(10)
        for _ in range(3):  # one connection each, kept alive between the requests
            # signal-cli-rest-api: 20 MB is over the fake's 16 MB limit, answered 413.
            assert (await client.post("/_sim/reset", content=b"x" * size)).status_code == 204
            about = await client.request("GET", "/v1/about", content=b"y" * size)
            assert about.status_code in (200, 413)
            assert (await client.get("/v1/about")).status_code == 200
            assert (await waha_client.post("/_sim/reset", content=b"x" * size)).status_code == 200
            assert (await waha_client.get("/api/sessions")).status_code == 200


# FakeWaha and lone surrogates ------------------------------------------------------------


async def test_waha_delivers_lone_surrogates_json_escaped_and_signed(
    nursery: trio.Nursery,
) -> None:
    receiver = await serve_receiver(nursery)
    fake, client = await start_fake(
        nursery, webhook_url=receiver.url, webhook_hmac_key="k\ud83dey", webhook_events=("*",)
    )
    payload = fake.inject_message(from_=ALICE, body="cut \ud83d", notify_name="\udc00")
    async with client:
        short = await client.post(
            "/_sim/inbound", content=ascii_json({"from": ALICE, "body": "\udfff"})
        )
        sent = await client.post(
            "/api/sendText", content=ascii_json({"chatId": ALICE_CHAT, "text": "re \ud83d"})
        )
        events = await client.get("/_sim/events")
    assert payload["body"] == "cut \ud83d"
    assert short.status_code == 200
    assert sent.status_code == 201
    assert events.status_code == 200
    assert [e["payload"]["body"] for e in events.json()] == ["cut \ud83d", "\udfff", "re \ud83d"]
    await receiver.wait_for(3)
    for headers, raw in receiver.requests:
        raw.decode("utf-8")
        # Node reads a string key's lone surrogate as U+FFFD.
        key = "k\ufffdey".encode()
        assert headers["x-webhook-hmac"] == hmac.new(key, raw, hashlib.sha512).hexdigest()
    bodies = [raw for _, raw in receiver.requests]
    assert b'"cut \\ud83d"' in bodies[0]
    assert b'"notifyName":"\\udc00"' in bodies[0]


async def test_waha_reads_bodies_as_express_and_json_parse_do(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery)
    async with client:
        replaced = await client.post(
            "/api/sendText", content=b'{"chatId":"' + ALICE_CHAT.encode() + b'","text":"a\xffb"}'
        )
        twice = await client.post(
            "/api/sendText",
            content=ascii_json({"chatId": ALICE_CHAT, "text": "first"})[:-1] + b',"text":"last"}',
        )
        deep = await client.post(
            "/api/sendText", content=b'{"chatId":"x","text":' + b"[" * 200 + b"]" * 200 + b"}"
        )
        nan = await client.post("/api/sendText", content=b'{"chatId":"x","text":NaN}')
    assert replaced.status_code == twice.status_code == 201
    assert [r.body["text"] for r in fake.sent] == ["a\ufffdb", "last"]
    for refused in (deep, nan):
        assert refused.status_code == 400
        body = refused.json()
        assert body["statusCode"] == 400
        assert body["error"] == "Bad Request"
        assert "Unexpected token in JSON" in body["message"]


async def test_signal_reads_bodies_as_go_does(nursery: trio.Nursery) -> None:
    fake = FakeSignal()
    url: str = await nursery.start(fake.run)
    base = {"number": BRIDGE, "recipients": [ALICE]}
    async with httpx.AsyncClient(base_url=url) as client:
        lone = await client.post("/v2/send", content=ascii_json({**base, "message": "x\ud83d"}))
        invalid = await client.post(
            "/v2/send", content=ascii_json(base)[:-1] + b',"message":"a\xffb"}'
        )
        nan = await client.post("/v2/send", content=ascii_json(base)[:-1] + b',"x":NaN}')
    assert lone.status_code == invalid.status_code == 201
    assert [m.message for m in fake.messages] == ["x\ufffd", "a\ufffdb"]
    assert nan.status_code == 400
    assert nan.json() == {"error": "Couldn't process request - invalid request"}


@pytest.mark.parametrize("endpoint", ["sendText", "sendImage"])
async def test_waha_refuses_a_reply_to_that_is_not_a_string_even_unchecked(
    nursery: trio.Nursery, endpoint: str
) -> None:
    # Found by a long fuzz hunt: with contract checks off, a list crashed the echo with a 500.
    fake, client = await start_fake(nursery, check_contracts=False)
    image = {"mimetype": "image/png", "data": "aGk=", "filename": "a.png"}
    body = {"chatId": ALICE_CHAT, "text": "t", "file": image, "reply_to": [None]}
    async with client:
        refused = await client.post(f"/api/{endpoint}", json=body)
        quoted = await client.post(f"/api/{endpoint}", json={**body, "reply_to": "false_x_AB"})
    assert refused.status_code == 400
    assert refused.json()["message"] == ["reply_to must be a string"]
    assert quoted.status_code == 201
    assert [r.body["reply_to"] for r in fake.sent] == ["false_x_AB"]


async def test_signal_refuses_an_integer_written_as_a_fraction(nursery: trio.Nursery) -> None:
    # Go parses an int64 from the number's text, so 1.0 is refused as 1.5 is: a 400, never a
    # contract violation (found by a long fuzz hunt: it was a 500 with contract checks on).
    fake = FakeSignal(check_contracts=True)
    url: str = await nursery.start(fake.run)
    body = {"recipient": ALICE, "target_author": ALICE, "reaction": "👍"}
    async with httpx.AsyncClient(base_url=url) as client:
        for stamp in (b"1.0", b"1e3"):
            raw = ascii_json(body)[:-1] + b',"timestamp":' + stamp + b"}"
            answer = await client.request("DELETE", f"/v1/reactions/{BRIDGE}", content=raw)
            assert answer.status_code == 400, stamp
            assert answer.json() == {"error": "Couldn't process request - invalid request"}
        whole = await client.request(
            "DELETE", f"/v1/reactions/{BRIDGE}", content=ascii_json({**body, "timestamp": 1})
        )
    assert whole.status_code == 204
    assert fake.violations == []


async def test_signal_refuses_a_recipient_alias_that_is_not_a_string(
    nursery: trio.Nursery,
) -> None:
    # The hidden ``recipient`` alias is a Go string too (a long fuzz hunt found a 500 here).
    fake = FakeSignal()
    url: str = await nursery.start(fake.run)
    base = {"number": BRIDGE, "recipients": [ALICE], "message": "hi"}
    async with httpx.AsyncClient(base_url=url) as client:
        for alias in (True, [ALICE], {"a": 1}):
            answer = await client.post("/v2/send", json={**base, "recipient": alias})
            assert answer.status_code == 400, alias
            assert answer.json() == {"error": "Couldn't process request - invalid request"}
        alone = await client.post("/v2/send", json={**base, "recipients": [], "recipient": ALICE})
    assert alone.status_code == 201
    assert [m.recipients for m in fake.messages] == [(ALICE,)]


async def test_signal_reads_nulls_and_empty_enums_as_go_does(nursery: trio.Nursery) -> None:
    # A null inside a []string is "" to Go (a long fuzz hunt found a 500 here).
    fake = FakeSignal()
    url: str = await nursery.start(fake.run)
    base = {"number": BRIDGE, "recipients": [ALICE], "message": "hi"}
    async with httpx.AsyncClient(base_url=url) as client:
        empty_file = await client.post("/v2/send", json={**base, "base64_attachments": [None]})
        no_one = await client.post("/v2/send", json={**base, "recipients": [None]})
        unset_mode = await client.post("/v2/send", json={**base, "text_mode": ""})
    assert empty_file.status_code == 201
    assert [len(a.data) for a in fake.messages[0].attachments] == [0]
    # "" is a username to upstream's recipient rules; what matters here is no 500.
    assert no_one.status_code < 500
    assert unset_mode.status_code == 201  # "" is Go's zero value: the default mode
    assert fake.violations == []


async def test_waha_names_with_surrogates_get_an_account_and_a_group(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start_fake(nursery)
    async with client:
        made = await client.post(
            "/_sim/sessions", content=ascii_json({"name": "s\ud83d", "status": "WORKING"})
        )
        listed = await client.get("/api/sessions")
        group = await client.post("/_sim/groups", content=ascii_json({"subject": "\ud83d"}))
    assert made.status_code == listed.status_code == 200
    assert "s\ud83d" in [s["name"] for s in listed.json()]
    assert fake.me("s\ud83d")["id"].endswith("@c.us")
    assert group.status_code == 201


async def test_waha_refuses_events_that_are_not_json(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery)
    with pytest.raises(ValueError, match="not JSON"):
        fake.inject_event("message.ack", "default", {"ack": math.nan})
    deep: Any = {}
    for _ in range(MAX_DEPTH):
        deep = {"a": deep}
    with pytest.raises(ValueError, match="nested deeper"):
        fake.inject_event("message.ack", "default", deep)
    async with client:
        events = await client.get("/_sim/events")
    assert events.json() == []


# Session configs that could not be served -------------------------------------------------


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ("x", "config must be an object"),
        ({"metadata": 5}, "config.metadata must be an object"),
        ({"webhooks": {}}, "config.webhooks must be an array"),
        ({"webhooks": [5]}, "config.webhooks.0 must be an object"),
        ({"webhooks": [{"url": "nope", "events": []}]}, "url must be a URL address"),
        ({"webhooks": [{"url": "http://", "events": []}]}, "url must be a URL address"),
        ({"webhooks": [{"url": "http://h/\ud83d", "events": []}]}, "url must be a URL address"),
        ({"webhooks": [{"url": "http://h", "events": "message"}]}, "events must be an array"),
        ({"webhooks": [{"url": "http://h", "events": [], "hmac": 5}]}, "hmac must be"),
        (
            {"webhooks": [{"url": "http://h", "events": [], "retries": {"attempts": -1}}]},
            "retries.attempts must be a non-negative number",
        ),
        (
            {"webhooks": [{"url": "http://h", "events": [], "retries": {"policy": "x"}}]},
            "retries.policy must be one of",
        ),
        (
            {"webhooks": [{"url": "http://h", "events": [], "retries": []}]},
            "retries must be an object",
        ),
        (
            {
                "webhooks": [
                    {"url": "http://h", "events": [], "customHeaders": [{"name": "A", "value": 1}]}
                ]
            },
            "customHeaders.0 header A must be a string",
        ),
        (
            {"webhooks": [{"url": "http://h", "events": [], "customHeaders": ["x"]}]},
            "customHeaders.0 must be {name, value}",
        ),
        (
            {"webhooks": [{"url": "http://h", "events": [], "customHeaders": {}}]},
            "customHeaders must be an array",
        ),
    ],
)
@pytest.mark.parametrize("check_contracts", [True, False])
async def test_configs_that_could_not_deliver_are_refused(
    nursery: trio.Nursery, config: Any, reason: str, check_contracts: bool
) -> None:
    fake, client = await start_fake(nursery, check_contracts=check_contracts)
    async with client:
        created = await client.post(
            "/api/sessions", content=ascii_json({"name": "new", "config": config})
        )
        updated = await client.put("/api/sessions/default", content=ascii_json({"config": config}))
        forced = await client.post(
            "/_sim/sessions", content=ascii_json({"name": "default", "config": config})
        )
    assert created.status_code == updated.status_code == forced.status_code == 400
    for answer in (created, updated):
        body = answer.json()
        assert (body["statusCode"], body["error"]) == (400, "Bad Request")
        if not check_contracts:  # with them, the spec's check may word it first
            assert any(reason in message for message in body["message"]), body
    assert reason in forced.json()["error"]
    assert fake.session_names() == ["default"]
    assert fake.session("default").config == {}
    with pytest.raises(ValueError, match=reason.split(".")[-1]):
        fake.create_session("py", config=config)


async def test_media_urls_that_cannot_be_fetched_are_refused(nursery: trio.Nursery) -> None:
    _, client = await start_fake(nursery)
    async with client:
        answers = [
            await client.post("/api/default/media/convert/voice", content=ascii_json({"url": u}))
            for u in ("not a url", "ftp://h/x", "http://h/\ud83d", "http://127.0.0.1:9/x")
        ]
    assert [a.status_code for a in answers] == [400] * 4
    assert answers[0].json()["message"] == ["url must be a URL address"]
    assert answers[3].json()["message"][0].startswith("url could not be fetched: ")


async def test_a_waha_204_fault_is_answered_without_a_body(nursery: trio.Nursery) -> None:
    _, client = await start_fake(nursery)
    async with client:
        added = await client.post("/_sim/faults", json={"path": "/api/sendSeen", "status": 204})
        faulted = await client.post("/api/sendSeen", json={"chatId": ALICE_CHAT})
        after = await client.get("/api/sessions")
    assert added.status_code == 201
    assert (faulted.status_code, faulted.content) == (204, b"")
    assert after.status_code == 200


async def test_bodies_over_the_size_limit_are_refused_in_each_format(
    nursery: trio.Nursery,
) -> None:
    signal = FakeSignal()
    signal_url: str = await nursery.start(signal.run)
    _, waha_client = await start_fake(nursery)
    async with httpx.AsyncClient(base_url=signal_url, timeout=30) as client, waha_client:
        waha_client.timeout = httpx.Timeout(30)
        sent = await client.post("/v2/send", content=b"x" * 17_000_000)
        injected = await client.post("/_sim/inbound", content=b"x" * 17_000_000)
        text = await waha_client.post("/api/sendText", content=b"x" * 68_000_000)
        control = await waha_client.post("/_sim/inbound", content=b"x" * 68_000_000)
        after = await waha_client.get("/api/sessions")
    assert sent.status_code == injected.status_code == 413
    assert "16 MB" in sent.json()["error"]
    assert "16 MB" in injected.json()["error"]
    assert (text.status_code, text.json()["statusCode"]) == (413, 413)
    assert text.json()["message"] == "request entity too large"
    assert (control.status_code, after.status_code) == (413, 200)
    assert "size limit" in control.json()["error"]
