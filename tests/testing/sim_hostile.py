"""Hostile request bodies, the endpoints of both fakes, and "does the fake still work" checks.

Shared by the hostile-input tests (a fixed corpus against every endpoint) and the fuzz test
(hypothesis). Requests are made with a blocking :class:`httpx.Client` from a worker thread
(``trio.to_thread.run_sync``) while the fake serves in the test's trio loop, so one fake
takes every request of a test and any state a bad request leaves behind is seen by the next.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import trio
from hypothesis import strategies as st
from waha_receiver import serve_receiver

from whatsignal.testing._signal_control import _SHORT_KEYS
from whatsignal.testing.signal_cli import FakeSignal
from whatsignal.testing.waha import FakeWaha

__all__ = [
    "ALICE",
    "BRIDGE",
    "HOSTILE",
    "SIGNAL_ENDPOINTS",
    "WAHA_ENDPOINTS",
    "Endpoint",
    "Target",
    "bodies_for",
    "check_answer",
    "send_and_check",
    "signal_still_works",
    "start_target",
    "waha_still_works",
]

BRIDGE = "+4915000000001"
ALICE = "+4917600000042"
ALICE_CHAT = "4917600000042@c.us"


def _deep(levels: int, opener: bytes, closer: bytes, inner: bytes = b"") -> bytes:
    return opener * levels + inner + closer * levels


_FIELDS = (
    b'"from":"\\ud83d","message":"\\udc00x","name":"\\ud83d","body":"\\ud83d",'
    b'"session":"\\ud83d","chatId":"\\ud83d","text":"\\ud83d","path":"/\\ud83d",'
    b'"number":"\\ud83d","recipients":["\\ud83d"],"recipient":"\\ud83d","subject":"\\ud83d",'
    b'"reaction":"\\ud83d","emoji":"\\ud83d"'
)

HOSTILE: dict[str, bytes] = {
    "deep-arrays-1k": _deep(1000, b"[", b"]"),
    "deep-arrays-100k": _deep(100_000, b"[", b"]"),
    "deep-objects-1k": _deep(1000, b'{"a":', b"}", b"1"),
    "deep-objects-100k": _deep(100_000, b'{"a":', b"}", b"1"),
    "deep-inside-a-field": b'{"message":' + _deep(1000, b"[", b"]") + b"}",
    "deep-inside-a-known-object": b'{"config":' + _deep(1000, b'{"webhooks":', b"}", b"1") + b"}",
    "integer-5000-digits": b'{"count":' + b"9" * 5000 + b',"timestamp":' + b"7" * 5000 + b"}",
    "integer-5000-digits-alone": b"9" * 5000,
    "integer-just-over-64-bits": b'{"count":9223372036854775808,"timestamp":-9223372036854775809}',
    "nan-and-infinity": b'{"count":NaN,"latency":Infinity,"seconds":-Infinity,"timestamp":NaN}',
    "exponent-overflow": b'{"count":1e400,"latency":1e999,"seconds":-1e400}',
    "invalid-utf8": b'{"from":"\xff\xfe","message":"\xc3(","text":"\xed\xa0\xbd"}',
    "lone-surrogates": b"{" + _FIELDS + b"}",
    "surrogate-key": b'{"\\ud83d":"\\udc00","\\udfff":1}',
    "duplicate-keys": b'{"from":"a","from":"b","count":1,"count":2,"chatId":"x","chatId":1}',
    "wrong-types": (
        b'{"from":1,"message":[],"count":"x","path":3,"session":5,"chatId":{},"text":1,'
        b'"number":true,"recipients":"x","status":"500","config":[],"name":{},"envelope":7}'
    ),
    "top-level-array": b"[1,2,3]",
    "top-level-null": b"null",
    "top-level-string": b'"\\ud83d"',
    "empty": b"",
    "truncated": b'{"from":"+4917',
    "byte-order-mark": b'\xef\xbb\xbf{"from":"x"}',
    "utf16": '{"from":"x"}'.encode("utf-16"),
    "nul-characters": b'{"from":"\\u0000","message":"a\\u0000b"}',
}
"""Bodies no client should send; every endpoint must answer them with a 4xx (or accept them
as the real service would), never a 500 or a dropped connection."""


@attrs.frozen
class Endpoint:
    """One route of a fake, the body fields it knows, and bodies it accepts (``valid``): the
    fuzz fills the fields with hostile values, or tweaks a valid body in one or two places so
    that hostile values get past validation into the fake's state and out again."""

    method: str
    path: str
    keys: tuple[str, ...] = ()
    valid: tuple[dict[str, Any], ...] = ()

    @property
    def control(self) -> bool:
        return self.path.startswith("/_sim")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


_FAULT_KEYS = ("path", "method", "count", "status", "body", "headers", "latency", "drop")
# The short form of POST /_sim/inbound, plus the full-envelope form.
_SHORT_INBOUND = (*sorted(_SHORT_KEYS), "envelope", "as_is")
_SEND = (
    "number",
    "recipients",
    "recipient",
    "message",
    "base64_attachments",
    "quote_timestamp",
    "quote_author",
    "quote_message",
    "quote_mentions",
    "mentions",
    "link_preview",
    "sticker",
    "view_once",
    "edit_timestamp",
    "text_mode",
    "notify_self",
)

_STAMP = 1_700_000_000_000
_FILE = {"data": "R0lGODlh", "content_type": "image/gif", "filename": "a.gif"}
_ENVELOPE = {
    "source": ALICE,
    "sourceNumber": ALICE,
    "sourceUuid": "5b8c2f0e-0000-4000-8000-00000000aa81",
    "sourceName": "Alice",
    "sourceDevice": 1,
    "timestamp": _STAMP,
    "serverReceivedTimestamp": _STAMP + 5,
    "serverDeliveredTimestamp": _STAMP + 9,
    "dataMessage": {"timestamp": _STAMP, "message": "raw", "expiresInSeconds": 0},
}

SIGNAL_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/_sim/inbound",
        _SHORT_INBOUND,
        (
            {"from": ALICE, "message": "hi", "name": "Alice"},
            {"from": ALICE, "message": "re", "quote": {"timestamp": _STAMP, "text": "q"}},
            {"from": ALICE, "reaction": {"emoji": "x", "target_timestamp": _STAMP}},
            {"from": ALICE, "message": "pic", "attachments": [_FILE], "group": "Team"},
            {"from": ALICE, "receipt": {"type": "read", "timestamps": [_STAMP]}},
            {"from": ALICE, "typing": "STARTED"},
            {"from": ALICE, "message": "edited", "edit": _STAMP},
            {"from": ALICE, "message": "mine", "sync_to": ALICE},
            {"envelope": _ENVELOPE, "account": BRIDGE},
            {"envelope": _ENVELOPE, "as_is": True},
        ),
    ),
    Endpoint("POST", "/_sim/faults", _FAULT_KEYS, ({"path": "/nowhere/*", "status": 418},)),
    Endpoint("DELETE", "/_sim/faults"),
    Endpoint(
        "POST",
        "/_sim/rate-limit",
        ("count", "delivered_anyway", "challenge_tokens"),
        ({"count": 1, "challenge_tokens": ["t"]},),
    ),
    Endpoint("POST", "/_sim/attachments"),
    Endpoint("POST", "/_sim/groups", ("name", "members"), ({"name": "Team", "members": [ALICE]},)),
    Endpoint("POST", "/_sim/reset"),
    Endpoint("GET", "/_sim/"),
    Endpoint("GET", "/_sim/sent"),
    Endpoint("GET", "/_sim/status"),
    Endpoint(
        "POST",
        "/v2/send",
        _SEND,
        (
            {"number": BRIDGE, "recipients": [ALICE], "message": "hi"},
            {"number": BRIDGE, "recipient": ALICE, "base64_attachments": ["R0lGODlh"]},
            {
                "number": BRIDGE,
                "recipients": [ALICE],
                "message": "re",
                "quote_timestamp": _STAMP,
                "quote_author": ALICE,
                "quote_message": "q",
            },
        ),
    ),
    Endpoint(
        "POST",
        f"/v1/reactions/{BRIDGE}",
        ("recipient", "reaction", "target_author", "timestamp"),
        ({"recipient": ALICE, "reaction": "x", "target_author": ALICE, "timestamp": _STAMP},),
    ),
    Endpoint(
        "DELETE",
        f"/v1/reactions/{BRIDGE}",
        ("recipient", "target_author", "timestamp"),
        ({"recipient": ALICE, "target_author": ALICE, "timestamp": _STAMP},),
    ),
    Endpoint(
        "POST",
        f"/v1/receipts/{BRIDGE}",
        ("recipient", "receipt_type", "timestamp"),
        ({"recipient": ALICE, "receipt_type": "read", "timestamp": _STAMP},),
    ),
    Endpoint("PUT", f"/v1/typing-indicator/{BRIDGE}", ("recipient",), ({"recipient": ALICE},)),
    Endpoint("DELETE", f"/v1/typing-indicator/{BRIDGE}", ("recipient",), ({"recipient": ALICE},)),
    Endpoint(
        "DELETE",
        f"/v1/remote-delete/{BRIDGE}",
        ("recipient", "timestamp"),
        ({"recipient": ALICE, "timestamp": _STAMP},),
    ),
    Endpoint(
        "POST",
        f"/v1/accounts/{BRIDGE}/rate-limit-challenge",
        ("challenge_token", "captcha"),
        ({"challenge_token": "t", "captcha": "signalcaptcha://x"},),
    ),
    Endpoint("GET", f"/v1/receive/{BRIDGE}"),
    Endpoint("GET", "/v1/about"),
    Endpoint("GET", f"/v1/groups/{BRIDGE}"),
    Endpoint("GET", f"/v1/contacts/{BRIDGE}"),
)

_WAHA_INBOUND = (
    "type",
    "session",
    "from",
    "body",
    "group",
    "replyTo",
    "fromMe",
    "notifyName",
    "event",
    "media",
    "messageId",
    "reaction",
    "ack",
    "participant",
    "payload",
)
_FILE_SEND = ("chatId", "file", "caption", "session", "reply_to", "convert", "asNote")

_MEDIA = {"mimetype": "image/png", "data": "aGk=", "filename": "a.png"}
_SEND_FILE = ({"chatId": ALICE_CHAT, "file": _MEDIA, "caption": "c", "convert": True},)
_MESSAGE_ID = f"false_{ALICE_CHAT}_757BFFE834F63380715B857FA32DCB8C"
_ACK = {
    "id": _MESSAGE_ID,
    "from": ALICE_CHAT,
    "to": "491517297149@c.us",
    "participant": None,
    "fromMe": False,
    "ack": 3,
    "ackName": "READ",
    "_data": {},
}
_HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["message"], "retries": {"attempts": 0}}

WAHA_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/_sim/inbound",
        _WAHA_INBOUND,
        (
            {"from": ALICE, "body": "hi", "notifyName": "Alice"},
            {"from": ALICE, "body": "pic", "media": {"data": "aGk=", "mimetype": "image/png"}},
            {"from": ALICE, "body": "both", "event": "both", "group": "120363@g.us"},
            {"type": "reaction", "from": ALICE, "messageId": _MESSAGE_ID, "reaction": "x"},
            {"type": "ack", "messageId": _MESSAGE_ID, "ack": 3},
            {"type": "edit", "messageId": _MESSAGE_ID, "body": "new"},
            {"type": "revoke", "messageId": _MESSAGE_ID},
            {"event": "message.ack", "session": "default", "payload": _ACK},
        ),
    ),
    Endpoint("POST", "/_sim/faults", _FAULT_KEYS, ({"path": "/nowhere/*", "status": 418},)),
    Endpoint("GET", "/_sim/faults"),
    Endpoint("DELETE", "/_sim/faults"),
    Endpoint(
        "POST",
        "/_sim/deliveries/hold",
        ("count", "session", "event", "order"),
        ({"count": 2, "order": [1, 0]},),
    ),
    Endpoint(
        "POST",
        "/_sim/deliveries/delay",
        ("seconds", "count", "session", "event"),
        ({"seconds": 0.01, "event": "message"},),
    ),
    Endpoint("POST", "/_sim/deliveries/duplicate", ("count", "session", "event"), ({"count": 1},)),
    Endpoint("POST", "/_sim/deliveries/release"),
    Endpoint("GET", "/_sim/deliveries/rules"),
    Endpoint(
        "POST",
        "/_sim/sessions",
        ("name", "status", "config", "data"),
        (
            {"name": "fuzz", "status": "WORKING", "config": {"metadata": {"a": "b"}}},
            {"name": "fuzz", "status": "FAILED", "config": {"webhooks": [_HOOK]}},
        ),
    ),
    Endpoint(
        "POST",
        "/_sim/contacts",
        ("number", "name", "pushname", "session"),
        ({"number": ALICE, "name": "Alice", "pushname": "A"},),
    ),
    Endpoint(
        "POST",
        "/_sim/groups",
        ("subject", "participants", "admins", "session", "id"),
        ({"subject": "Team", "participants": [ALICE], "admins": [ALICE]},),
    ),
    Endpoint("POST", "/_sim/reset"),
    Endpoint("GET", "/_sim/events"),
    Endpoint("GET", "/_sim/deliveries"),
    Endpoint(
        "POST",
        "/api/sendText",
        ("chatId", "text", "session", "reply_to", "linkPreview", "id"),
        ({"chatId": ALICE_CHAT, "text": "hi", "reply_to": "false_x_y"},),
    ),
    Endpoint("POST", "/api/sendImage", _FILE_SEND, _SEND_FILE),
    Endpoint("POST", "/api/sendFile", _FILE_SEND, _SEND_FILE),
    Endpoint("POST", "/api/sendVoice", _FILE_SEND, _SEND_FILE),
    Endpoint("POST", "/api/sendVideo", _FILE_SEND, _SEND_FILE),
    Endpoint(
        "PUT",
        "/api/reaction",
        ("messageId", "reaction", "session"),
        ({"messageId": _MESSAGE_ID, "reaction": "x"},),
    ),
    Endpoint(
        "POST",
        "/api/sendSeen",
        ("chatId", "messageId", "messageIds", "session"),
        ({"chatId": ALICE_CHAT, "messageIds": [_MESSAGE_ID]},),
    ),
    Endpoint("POST", "/api/startTyping", ("chatId", "session"), ({"chatId": ALICE_CHAT},)),
    Endpoint("POST", "/api/stopTyping", ("chatId", "session"), ({"chatId": ALICE_CHAT},)),
    Endpoint(
        "POST",
        "/api/sessions",
        ("name", "start", "config", "apps"),
        ({"name": "fuzzed", "start": False, "config": {"webhooks": [_HOOK]}},),
    ),
    Endpoint(
        "PUT",
        "/api/sessions/default",
        ("config", "apps"),
        ({"config": {"metadata": {"user.id": "1"}}},),
    ),
    Endpoint(
        "PUT",
        f"/api/default/chats/{ALICE_CHAT}/messages/true_x_y",
        ("text",),
        ({"text": "new"},),
    ),
    Endpoint("DELETE", f"/api/default/chats/{ALICE_CHAT}/messages/true_x_y"),
    Endpoint("POST", "/api/default/media/convert/voice", ("url", "data"), ({"data": "aGk="},)),
    Endpoint("POST", "/api/default/media/convert/video", ("url", "data"), ({"data": "aGk="},)),
    Endpoint("POST", "/api/sessions/default/restart"),
    Endpoint("GET", "/api/sessions"),
    Endpoint("GET", "/api/default/groups"),
)

# Fuzzed values -------------------------------------------------------------------------------

_NESTED_KEYS = (
    "timestamp",
    "author",
    "text",
    "emoji",
    "target_timestamp",
    "target_author",
    "remove",
    "type",
    "timestamps",
    "data",
    "content_type",
    "filename",
    "mimetype",
    "url",
    "webhooks",
    "metadata",
    "events",
    "hmac",
    "key",
    "retries",
    "attempts",
    "delaySeconds",
    "policy",
    "customHeaders",
    "value",
    "source",
    "dataMessage",
    "envelope",
)
_WORDS = (
    "",
    "default",
    BRIDGE,
    ALICE,
    ALICE_CHAT,
    "120363000000000000@g.us",
    "group.bm90IGEgZ3JvdXA=",
    "/*",
    "/v2/send",
    "/api/sendText",
    "*",
    "WORKING",
    "STOPPED",
    "FAILED",
    "message",
    "session.status",
    "reverse",
    "read",
    "STARTED",
    "image/png",
    "aGk=",
    "data:image/png;base64,aGk=",
    "signalcaptcha://x",
    "\ud83d",
    "a\udc00b",
    "\x00",
    "x" * 300,
    "exponential",
    "X-Header",
    "http://127.0.0.1:9/hook",
    "not a url",
)
_SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
_TEXT = st.one_of(
    st.sampled_from(_WORDS),
    st.text(max_size=12),
    st.text(st.one_of(st.characters(), _SURROGATE), max_size=6),
)
_NUMBER = st.one_of(
    st.integers(-5, 2000),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, 0.5, 1e308]),
)
_SCALAR = st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT)
_KEY = st.one_of(st.sampled_from(_NESTED_KEYS), _TEXT)
JSON_VALUES = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEY, inner, max_size=4)),
    max_leaves=10,
)


def _encode(value: Any) -> bytes:
    # allow_nan writes NaN/Infinity literals; ensure_ascii writes surrogates as \\udXXX.
    return json.dumps(value, allow_nan=True).encode()


def _mutate(body: bytes, how: str, n: int) -> bytes:
    if how == "wrap":  # nest the whole body n levels deep
        return b"[" * n + body + b"]" * n
    if how == "truncate":
        return body[: n % (len(body) + 1)]
    if how == "duplicate" and body.startswith(b"{"):
        rest = body[1:].lstrip()
        return b'{"dup":1,"dup":2' + (b"}" if rest.startswith(b"}") else b"," + rest)
    if how == "bad-byte":
        cut = n % (len(body) + 1)
        return body[:cut] + b"\xff" + body[cut:]
    return body


@st.composite
def _tweaked(draw: st.DrawFn, endpoint: Endpoint) -> Any:
    """A valid body of ``endpoint`` with up to two values (at any depth) replaced or added."""
    body = copy.deepcopy(draw(st.sampled_from(endpoint.valid)))
    for _ in range(draw(st.integers(0, 2))):
        node: Any = body
        while True:
            keys = sorted(node) if node is not body else sorted(set(node) | set(endpoint.keys))
            key = draw(st.sampled_from(keys or ["x"]))
            child = node.get(key)
            if isinstance(child, dict) and child and draw(st.booleans()):
                node = child
                continue
            if (
                isinstance(child, list)
                and child
                and isinstance(child[0], dict)
                and draw(st.booleans())
            ):
                node = child[0]
                continue
            node[key] = draw(st.one_of(_TEXT, _TEXT, JSON_VALUES))
            break
    return body


def bodies_for(endpoint: Endpoint) -> st.SearchStrategy[bytes]:
    """Fuzzed bodies for ``endpoint``: a valid body with hostile values in one or two places,
    its own fields with hostile values, any JSON, the hostile corpus, and any of those mangled
    (nested, cut, doubled keys, a stray byte)."""
    shaped = st.dictionaries(
        st.sampled_from(endpoint.keys or ("x",)), JSON_VALUES, max_size=len(endpoint.keys) or 1
    )
    plain = st.one_of(
        shaped.map(_encode), JSON_VALUES.map(_encode), st.sampled_from(list(HOSTILE.values()))
    )
    mangled = st.tuples(
        plain,
        st.sampled_from(["wrap", "truncate", "duplicate", "bad-byte"]),
        st.one_of(st.sampled_from([64, 65, 1000, 5000]), st.integers(1, 2000)),
    ).map(lambda t: _mutate(*t))
    if not endpoint.valid:
        return st.one_of(plain, plain, mangled)
    tweaked = _tweaked(endpoint).map(_encode)
    return st.one_of(tweaked, tweaked, tweaked, plain, mangled)


# Checks --------------------------------------------------------------------------------------


def check_answer(endpoint: Endpoint, response: httpx.Response, *, waha: bool) -> None:
    """Below 500, and a refusal in the format of whoever answers: the control API and
    signal-cli-rest-api ``{"error": ...}``, WAHA ``{"statusCode": ..., "message": ...}``
    (or its 422 ``{"error": ..., "session": ...}``)."""
    status = response.status_code
    assert status < 500, f"{endpoint} answered {status}: {response.text[:300]}"
    if status < 400:
        return
    body = response.json()
    assert isinstance(body, dict), f"{endpoint} refused without a JSON object: {body!r}"
    if waha and not endpoint.control:
        assert "statusCode" in body or "error" in body, f"{endpoint}: {body}"
        assert body.get("message") or body.get("error"), f"{endpoint}: {body}"
    else:
        assert isinstance(body.get("error"), str) and body["error"], f"{endpoint}: {body}"


def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code}: {response.text[:300]}"
    )
    return response.json() if response.content else None


def signal_still_works(client: httpx.Client, marker: str) -> None:
    """FakeSignal serves its control API, takes an injection, hands it out, sends."""
    _ok(client.delete("/_sim/faults"), 204)  # a fuzzed fault may cover the paths below
    for path in ("/_sim/", "/_sim/status", "/_sim/sent", "/v1/about"):
        _ok(client.get(path), 200)
    _ok(client.post("/_sim/inbound", json={"from": ALICE, "message": marker}), 200)
    received = _ok(client.get(f"/v1/receive/{BRIDGE}", params={"timeout": "0"}), 200)
    texts = [
        item["envelope"].get("dataMessage", {}).get("message")
        for item in received
        if isinstance(item, dict) and isinstance(item.get("envelope"), dict)
    ]
    assert marker in texts, received
    # 429: a fuzzed /_sim/rate-limit may still be answering.
    send = {"number": BRIDGE, "recipients": [ALICE], "message": marker}
    _ok(client.post("/v2/send", json=send), 201, 429)


def waha_still_works(client: httpx.Client, marker: str) -> None:
    """FakeWaha serves its control API, injects, and sends on a WORKING default session."""
    _ok(client.delete("/_sim/faults"), 200)
    _ok(client.delete("/_sim/deliveries/rules"), 200)  # held deliveries go
    for path in ("/_sim/", "/_sim/events", "/_sim/sent", "/_sim/deliveries", "/_sim/faults"):
        _ok(client.get(path), 200)
    _ok(client.get("/api/sessions", params={"all": "true"}), 200)
    _ok(client.post("/_sim/sessions", json={"name": "default", "status": "WORKING"}), 200)
    _ok(client.post("/_sim/inbound", json={"from": ALICE, "body": marker}), 200)
    _ok(client.post("/api/sendText", json={"chatId": ALICE_CHAT, "text": marker}), 201)


@attrs.frozen
class Target:
    """One fake served for a hostile-input test, with what the test needs to aim at it."""

    fake: FakeSignal | FakeWaha
    url: str
    endpoints: tuple[Endpoint, ...]
    waha: bool
    still_works: Callable[[httpx.Client, str], None]


async def start_target(nursery: trio.Nursery, which: str, *, check_contracts: bool) -> Target:
    """Serve the fake named ``which`` ("signal" or "waha") in ``nursery``, fast timings."""
    if which == "signal":
        signal = FakeSignal(receive_time_scale=0.01, check_contracts=check_contracts)
        url: str = await nursery.start(signal.run)
        return Target(signal, url, SIGNAL_ENDPOINTS, False, signal_still_works)
    receiver = await serve_receiver(nursery)
    waha = FakeWaha(
        status_step=0.01,
        not_working_wait=0.05,
        webhook_url=receiver.url,
        webhook_events=("*",),
        webhook_retry_delay=0.01,
        check_contracts=check_contracts,
    )
    url = await nursery.start(waha.run)
    return Target(waha, url, WAHA_ENDPOINTS, True, waha_still_works)


def send_and_check(target: Target, client: httpx.Client, endpoint: Endpoint, body: bytes) -> None:
    """Send ``body`` as JSON to ``endpoint`` and check the fake's answer (below 500, its format)."""
    response = client.request(
        endpoint.method, endpoint.path, content=body, headers={"Content-Type": "application/json"}
    )
    check_answer(endpoint, response, waha=target.waha)
