"""Bounded parsing at the edge: every body a webhook can be sent is answered 4xx with a reason
(or 2xx and ignored), never 500.

``parse_json`` is checked on its own first (depth, numbers, constants, encodings, duplicate
keys), then through the app with the real intake and store, on both webhooks and the admin
body, and last the metric label an invented event name gets.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import trio
from edge_world import (
    ADMIN,
    TOKEN,
    data_message,
    envelope,
    message,
    push,
    signed,
    start_edge,
)

from whatsignal.errors import PayloadError
from whatsignal.serde import MAX_DEPTH, MAX_NUMBER_CHARS, WAHA_EVENTS, parse_json


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def _objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


DIGITS = b"9" * 5000


def _splice(body: bytes, raw: bytes) -> bytes:
    """``body`` with its ``"HERE"`` string replaced by raw JSON text (json.dumps cannot write
    a 5,000-digit integer: Python refuses to convert it)."""
    return body.replace(b'"HERE"', raw)


# parse_json on its own -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        _nested(MAX_DEPTH),
        _objects(MAX_DEPTH),
        # brackets inside strings are text, escaped quotes included
        json.dumps({"text": "[" * 5000 + '\\"{' * 100}),
        "9" * MAX_NUMBER_CHARS,
        "-1.5e300",
        json.dumps({"emoji": "\U0001f600"}),  # a surrogate pair in an escape is fine
        ' \n{"a": [1, 2.5, true, null, "x"]} \t',
    ],
)
def test_parse_json_accepts_what_is_within_bounds(text: str) -> None:
    assert parse_json(text.encode(), "body") == json.loads(text)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_nested(MAX_DEPTH + 1).encode(), f"nested deeper than {MAX_DEPTH} levels"),
        (_objects(1000).encode(), "nested deeper than 64 levels"),
        (b"[" * 100_000, "nested deeper than 64 levels"),  # unbalanced too
        (b"9" * 5000, "a number of 5000 characters (at most 100)"),
        (b"[" + b"1" * 4400 + b".5]", "a number of 4402 characters"),
        (b'{"n": NaN}', "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b"[1e400]", "a number out of range"),
        (b'{"a": "\xff"}', "body is not UTF-8 (byte 7)"),
        ('{"a": 1}'.encode("utf-16"), "body is not UTF-8 (byte 0)"),
        (b'{"a": 1, "b": 2, "a": 3}', "duplicate key 'a'"),
        (b'{"a": ', "invalid JSON (Expecting value at line 1 column 7)"),
        (b"", "invalid JSON"),
    ],
)
def test_parse_json_refuses_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(f"body: {reason}")):
        parse_json(raw, "body")


def test_parse_json_never_quotes_the_body() -> None:
    private = "meet me at 5, the usual place"
    for raw in (
        json.dumps({private: 1, "x": float("nan")}).encode(),
        json.dumps({"a": [private, 1e400]}).encode(),
        f'{{"{private}": 1, "{private}": 2}}'.encode(),
        f'{{"{private}": 1, "{private}" 2}}'.encode(),
    ):
        with pytest.raises(PayloadError) as caught:
            parse_json(raw, "body")
        assert private not in str(caught.value)


def test_known_events_are_wahas_documented_enum() -> None:
    from importlib.resources import files

    spec = json.loads(files("whatsignal.testing").joinpath("specs/waha.openapi.json").read_text())
    schema = spec["components"]["schemas"]["WAHAWebhookMessage"]["properties"]["event"]
    assert set(schema["enum"]) == WAHA_EVENTS


# Through the app -----------------------------------------------------------------------------


def _deep_payload(depth: int) -> bytes:
    """A signed-looking message whose raw engine data (``_data``) nests ``depth`` levels."""
    return _splice(envelope("message", {**message("A"), "_data": "HERE"}), _objects(depth).encode())


BAD_WEBHOOKS: list[tuple[str, bytes, str]] = [
    ("980 levels", _deep_payload(980), "nested deeper than 64 levels"),
    ("1,000 levels", _deep_payload(1000), "nested deeper"),
    ("100,000 levels", b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested deeper"),
    ("5,000 digits", _splice(envelope("message", {"id": "HERE"}), DIGITS),
     "a number of 5000 characters"),
    ("NaN", envelope("message", {"id": "x", "n": float("nan")}), "NaN is not a JSON number"),
    ("Infinity", envelope("message", {"t": float("inf")}), "Infinity is not a JSON number"),
    ("not UTF-8", envelope("message", message("A", "caf\u00e9")).replace(b"\\u00e9", b"\xe9"),
     "not UTF-8"),
    ("duplicate keys", b'{"event": "message", "event": "x", "session": "s", "payload": {}}',
     "duplicate key 'event'"),
    ("an array", b"[]", "expected a JSON object, got list"),
    ("a string", b'"message"', "expected a JSON object, got str"),
    ("event is a number", b'{"event": 5, "session": "default", "payload": {}}', "$.event"),
    ("no session", b'{"event": "message", "payload": {}}', "session"),
    ("payload is a list", b'{"event": "message", "session": "default", "payload": []}',
     "$.payload"),
    ("id is a number", envelope("message", {**message("A"), "id": 7}), "id"),
    ("fromMe is a string", envelope("message", {**message("A"), "fromMe": "false"}), "fromMe"),
    ("ack is text", envelope("message.ack", {"id": "A", "ack": "3"}), "ack"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "reason"),
    [pytest.param(body, reason, id=name) for name, body, reason in BAD_WEBHOOKS],
)
async def test_whatsapp_webhook_answers_bad_bodies_400(
    nursery: trio.Nursery, body: bytes, reason: str
) -> None:
    edge = await start_edge(nursery, max_body_bytes=1024 * 1024)
    client = edge.app.test_client()
    answer = await client.post("/webhook/whatsapp", data=body, headers=signed(body))
    assert answer.status_code == 400
    assert reason in (await answer.get_json())["error"]
    assert await edge.store.pending_count() == 0


BAD_PUSHES: list[tuple[str, bytes, str]] = [
    ("1,000 levels", b'{"params": ' + _objects(1000).encode() + b"}", "nested deeper"),
    ("100,000 levels", b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    (
        "5,000 digits",
        _splice(push({**data_message(1), "timestamp": "HERE"}), DIGITS),
        "a number of 5000 characters",
    ),
    ("NaN", b'{"method": "receive", "params": {"envelope": {}, "t": NaN}}', "NaN"),
    ("not UTF-8", b'{"method": "receive", "x": "\xc3"}', "not UTF-8"),
    ("duplicate keys", b'{"params": {"envelope": {}}, "params": 1}', "duplicate key 'params'"),
    ("a number", b"5", "expected a JSON-RPC object"),
    ("params is a list", b'{"method": "receive", "params": []}', "no params.envelope"),
]


@pytest.mark.parametrize(
    ("body", "reason"),
    [pytest.param(body, reason, id=name) for name, body, reason in BAD_PUSHES],
)
async def test_signal_push_answers_bad_bodies_400(
    nursery: trio.Nursery, body: bytes, reason: str
) -> None:
    edge = await start_edge(nursery, max_body_bytes=1024 * 1024)
    client = edge.app.test_client()
    answer = await client.post(f"/webhook/signal?token={TOKEN}", data=body)
    assert answer.status_code == 400
    assert reason in (await answer.get_json())["error"]
    assert await edge.store.pending_count() == 0


@pytest.mark.parametrize(
    "item",
    [
        {"account": "+4915100000001", "envelope": {"timestamp": "soon"}},
        {"account": 5, "envelope": {}},
        {"account": "+4915100000001", "envelope": {"dataMessage": {"timestamp": [1]}}},
        {"envelope": {"source": {"a": 1}}},
    ],
)
async def test_a_malformed_envelope_costs_only_itself(
    nursery: trio.Nursery, item: dict[str, Any]
) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    good = {"account": "+4915100000001", "envelope": data_message(1_700_000_000_001)}
    body = [{"method": "receive", "params": p} for p in (item, good)]
    answer = await client.post(f"/webhook/signal?token={TOKEN}", json=body)
    assert answer.status_code == 200
    assert (await answer.get_json())["status"] == ["ignored", "accepted"]
    assert await edge.store.pending_count() == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"captcha": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested deeper"),
        (b'{"captcha": "signalcaptcha://x", "number": ' + b"1" * 5000 + b"}", "a number of"),
        (b'{"captcha": "signalcaptcha://x", "captcha": "x"}', "duplicate key 'captcha'"),
        (b"\xff", "not UTF-8"),
    ],
)
async def test_rate_limit_challenge_body_is_bounded_too(
    nursery: trio.Nursery, body: bytes, reason: str
) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    answer = await client.post(
        "/admin/signal/rate-limit-challenge",
        data=body,
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert answer.status_code == 400
    assert reason in (await answer.get_json())["error"]


# Metric labels -------------------------------------------------------------------------------


async def test_invented_event_names_are_counted_as_other(nursery: trio.Nursery) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    for n in range(200):
        body = envelope(f"invented.{n}", {}, id=f"evt_{n}")
        answer = await client.post("/webhook/whatsapp", data=body, headers=signed(body))
        assert answer.status_code == 200
        assert (await answer.get_json()) == {"status": "ignored"}
    known = envelope("chat.archive", {}, id="evt_archive")
    assert (await client.post("/webhook/whatsapp", data=known, headers=signed(known))).is_json

    page = await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    text = (await page.get_data()).decode()
    assert "invented" not in text
    counted = 'whatsignal_webhook_events_total{event="other",result="ignored",source="whatsapp"}'
    assert f"{counted} 200.0" in text
    assert 'event="chat.archive"' in text  # a documented event keeps its name
    assert len(text) < 20_000


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (b'{"a": "\\ud800"}', {"a": "\ufffd"}),
        (b'{"\\udfff": 1}', {"\ufffd": 1}),
        (b'{"a": "ok \\ud83d\\ude00 half \\ud83d"}', {"a": "ok \U0001f600 half \ufffd"}),
    ],
)
def test_a_lone_surrogate_becomes_a_replacement_character_not_a_refusal(
    raw: bytes, parsed: object
) -> None:
    assert parse_json(raw, "body") == parsed
