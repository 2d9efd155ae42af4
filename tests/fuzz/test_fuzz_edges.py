"""Property-based fuzzing of the two webhooks, against the app with the real Intake over a real
in-memory store.

WAHA envelopes are signed correctly, so the fuzz reaches past the HMAC check into parsing,
structuring and journaling; Signal push bodies carry the right token. Each example sends one
to four bodies: well-formed messages with any text (which get journaled), and WAHA's and
signal-cli's shapes with any field replaced by any JSON value (NaN, infinities, lone surrogates
included), some of them cut short, given a stray byte, a duplicate key, nesting 63 to 100,000
levels deep, or a number of 100 to 5,000 digits. The properties: every answer is below 500 (a
4xx says why), nothing is logged as an error, and afterwards a valid webhook is still answered
200 and journaled.

Reproducible and bounded for CI: ``derandomize=True`` (the examples are a function of the test
and Hypothesis's version), no example database, ``max_examples=200`` per test, no deadline.
Both tests take about 6 s together. Against the code before the edge hardening, both fail
(a 500 for a deeply nested or huge-number body).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsignal.channels import ChannelMap, Route
from whatsignal.intake import Intake
from whatsignal.metrics import Metrics
from whatsignal.storage import InboundEvent, SqliteStore
from whatsignal.web.app import Readiness, WebSettings, create_app

SECRET = "f" * 40
TOKEN = "t" * 40
BRIDGE = "+4915100000001"
ME = "+4915100000002"
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,  # nothing to remember: the examples are the same every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Bells:
    def ring(self, queue: str) -> None:
        pass

    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None:
        pass


class _Admin:
    async def readiness(self) -> Readiness:
        return Readiness(True, {})

    async def status(self) -> dict[str, Any]:
        return {}

    async def dead_letters(self) -> list[dict[str, Any]]:
        return []

    async def retry_dead_letter(self, row_id: int) -> bool:
        return False

    async def solve_rate_limit(self, captcha: str, number: str | None) -> dict[str, Any]:
        return {"solved": [], "failed": {}}

    async def metrics(self) -> tuple[bytes, str]:
        return b"", "text/plain"


class _Errors(logging.Handler):
    """Collects what the app logs at ERROR (quart logs an unhandled exception there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# Strategies -----------------------------------------------------------------------------------

texts = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinities: json.dumps writes them, the edge must refuse them
    | texts
    | st.sampled_from(["", "default", "false_1@c.us_A", BRIDGE, ME, "491701234567@c.us"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def mostly(kind: st.SearchStrategy[Any], one_in: int = 16) -> st.SearchStrategy[Any]:
    """``kind``, or once in ``one_in`` times any JSON value instead."""
    return st.integers(1, one_in).flatmap(lambda n: json_values if n == 1 else kind)


def obj(
    required: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """An object of this shape: every field mostly of its kind, the optional ones sometimes."""
    return st.fixed_dictionaries(
        {key: mostly(kind) for key, kind in required.items()},
        optional={key: mostly(kind) for key, kind in (optional or {}).items()},
    )


stamps = st.integers(0, 2**42)
wa_ids = st.sampled_from(["false_1@c.us_A", "true_1@c.us_B", "A55C8FEA", ""]) | texts
chats = st.sampled_from(
    ["491701234567@c.us"] * 3 + ["123@g.us", "status@broadcast", "1@newsletter"]
)
wa_payload = obj(
    {"id": wa_ids, "from": chats, "body": st.text(min_size=1, max_size=30)},
    {
        "timestamp": stamps | st.floats(0, 2e9),
        "fromMe": st.sampled_from([False] * 4 + [True]),
        "to": chats,
        "participant": chats,
        "hasMedia": st.booleans(),
        "media": obj({"url": st.just("http://waha/api/files/x.jpg")}, {"mimetype": texts}),
        "replyTo": obj({"id": wa_ids}, {"participant": chats, "body": texts}),
        "location": obj({"latitude": st.floats(-90, 90), "longitude": st.just("13.4")}),
        "vCards": st.lists(texts, max_size=2),
        "editedMessageId": wa_ids,
        "ack": st.integers(-1, 4),
        "ackName": st.sampled_from(["READ", "DEVICE", "nonsense"]),
        "reaction": obj({"text": st.sampled_from(["", "👍"]), "messageId": wa_ids}),
        "revokedMessageId": wa_ids,
        "after": obj({"from": chats}, {"fromMe": st.booleans()}),
        "name": st.just("default"),
        "status": st.sampled_from(["WORKING", "STOPPED", "FAILED", "SCAN_QR_CODE"]),
        "statuses": st.lists(obj({"status": st.just("WORKING"), "timestamp": stamps}), max_size=3),
        "_data": json_values,
    },
)
events = st.sampled_from(
    [
        *("message", "message", "message", "message.any", "message.ack", "message.ack.group"),
        "message.reaction",
        *("message.revoked", "message.edited", "session.status", "poll.vote", "engine.event"),
        "invented.event",
    ]
)
# Well-formed messages with any text in them, which the intake journals: so the fuzz reaches
# the store and the natural keys, not only the parser.
wa_clean = st.fixed_dictionaries(
    {
        "id": st.text(max_size=10),
        "event": st.sampled_from(["message", "message.any"]),
        "session": st.just("default"),
        "payload": st.fixed_dictionaries(
            {
                "id": wa_ids,
                "from": st.sampled_from(["491701234567@c.us", "123@g.us"]),
                "fromMe": st.just(False),
                "body": st.text(st.characters(exclude_categories=()), min_size=1, max_size=40),
            },
            optional={"participant": chats, "replyTo": obj({"id": wa_ids}), "_data": json_values},
        ),
    }
)
waha_envelopes = wa_clean | mostly(
    one_in=8,
    kind=obj(
        {
            "event": events,
            "session": st.sampled_from(["default"] * 4 + ["other"]),
            "payload": wa_payload,
        },
        {
            "id": st.text(max_size=10),
            "timestamp": stamps,
            "engine": st.sampled_from(["WEBJS", "NOWEB", "GOWS"]),
        },
    ),
)

sig_data = obj(
    {"timestamp": stamps},
    {
        "message": st.text(max_size=30),
        "quote": obj({"id": stamps}, {"author": st.just(BRIDGE)}),
        "reaction": obj({"emoji": st.just("👍"), "targetSentTimestamp": stamps}),
        "attachments": st.lists(obj({"id": texts}, {"contentType": texts}), max_size=2),
        "groupInfo": obj({"groupId": texts}),
        "remoteDelete": obj({"timestamp": stamps}),
        "textStyles": st.lists(
            obj({"start": st.integers(-1, 9), "length": st.integers(-1, 9)}), max_size=2
        ),
    },
)
sig_envelopes = obj(
    {
        "timestamp": stamps,
        "source": st.sampled_from([ME, "5d1c8a0e-7f62-4c1b-9a43-2f0e6b8d1a11"]),
        "dataMessage": sig_data,
    },
    {
        "sourceNumber": st.just(ME),
        "sourceUuid": texts,
        "sourceDevice": st.integers(0, 5),
        "editMessage": obj({"targetSentTimestamp": stamps, "dataMessage": sig_data}),
        "receiptMessage": obj({"isRead": st.booleans(), "timestamps": st.just([1])}),
        "typingMessage": obj({"action": st.just("STARTED")}),
    },
)
sig_notifications = obj(
    {
        "method": st.sampled_from(["receive"] * 5 + ["other"]),
        "params": obj(
            {"account": st.sampled_from([BRIDGE, BRIDGE, ME]), "envelope": sig_envelopes}
        ),
    },
    {"jsonrpc": st.just("2.0")},
)
sig_clean = st.builds(
    lambda stamp, text, styles: {
        "jsonrpc": "2.0",
        "method": "receive",
        "params": {
            "account": BRIDGE,
            "envelope": {
                "source": ME,
                "sourceNumber": ME,
                "timestamp": stamp,
                "dataMessage": {"timestamp": stamp, "message": text, "textStyles": styles},
            },
        },
    },
    stamps,
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.lists(
        st.fixed_dictionaries(
            {"start": st.integers(0, 50), "length": st.integers(0, 50), "style": texts}
        ),
        max_size=2,
    ),
)
sig_bodies = (
    sig_clean
    | st.lists(sig_clean | sig_notifications, min_size=1, max_size=3)
    | mostly(sig_notifications, one_in=8)
)


def _with_member(raw: bytes, member: bytes) -> bytes:
    """``raw`` with ``member`` (``"key": value``) put first, or beside it in an array."""
    if raw.startswith(b"{") and raw != b"{}":
        return b"{" + member + b", " + raw[1:]
    return b"[" + member.partition(b": ")[2] + b", " + raw + b"]"


@st.composite
def raw_bodies(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    """A value as JSON, or that JSON damaged in one of the ways a body can be damaged."""
    value = draw(values)
    raw = json.dumps(value).encode()  # allow_nan: NaN/Infinity are written as such
    damage = draw(st.sampled_from(["none"] * 6 + ["cut", "byte", "deep", "number", "dup"]))
    if damage == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if damage == "byte":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at:]
    if damage == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 1000, 100_000]))
        return _with_member(raw, b'"deep": ' + b"[" * depth + b"1" + b"]" * depth)
    if damage == "number":
        digits = b"9" * draw(st.sampled_from([100, 101, 4300, 4301, 5000]))
        number = draw(st.sampled_from([digits, b"-" + digits, b"0." + digits, b"1e999", b"NaN"]))
        return _with_member(raw, b'"n": ' + number)
    if damage == "dup" and isinstance(value, dict) and value:
        return _with_member(raw, json.dumps(next(iter(value))).encode() + b": null")
    return raw


# The properties -------------------------------------------------------------------------------

AFTER: dict[str, Any] = {
    "id": "evt_after",
    "event": "message",
    "session": "default",
    "payload": {"id": "false_1@c.us_AFTER", "from": "491701234567@c.us", "body": "still here"},
}


def _signed(body: bytes) -> dict[str, str]:
    return {"X-Webhook-Hmac": hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()}


async def _check(bodies: list[bytes], *, path: str, sign: bool) -> None:
    """Post ``bodies`` to ``path`` of a fresh edge, then a valid webhook (see the module doc)."""
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        async with trio.open_nursery() as nursery:
            store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
            intake = Intake(
                store=store,
                channels=ChannelMap({"default": Route("default", ME, BRIDGE)}),
                doorbells=_Bells(),
                metrics=Metrics(),
                clock=lambda: 1_700_000_000.0,
            )
            settings_ = WebSettings(
                version="fuzz",
                clock=lambda: 1_700_000_000.0,
                webhook_secret=SECRET,
                signal_webhook_token=TOKEN,
                admin_token="a" * 40,
            )
            client = create_app(settings_, intake, _Admin()).test_client()
            for body in bodies:
                headers = _signed(body) if sign else {}
                answer = await client.post(path, data=body, headers=headers)
                assert answer.status_code < 500, (answer.status_code, await answer.get_data())
                if answer.status_code >= 400:
                    assert "error" in await answer.get_json()

            valid = json.dumps(AFTER).encode()
            after = await client.post("/webhook/whatsapp", data=valid, headers=_signed(valid))
            assert after.status_code == 200
            assert (await after.get_json())["status"] in ("accepted", "duplicate")
            assert await store.has_key("wa:default:msg:false_1@c.us_AFTER")
            nursery.cancel_scope.cancel()
    finally:
        logging.getLogger().removeHandler(errors)
    assert not errors.records, [r.getMessage() for r in errors.records]


@FUZZ
@given(st.lists(raw_bodies(waha_envelopes), min_size=1, max_size=4))
async def test_waha_webhooks_never_get_a_5xx(bodies: list[bytes]) -> None:
    await _check(bodies, path="/webhook/whatsapp", sign=True)


@FUZZ
@given(st.lists(raw_bodies(sig_bodies), min_size=1, max_size=4))
async def test_signal_pushes_never_get_a_5xx(bodies: list[bytes]) -> None:
    await _check(bodies, path=f"/webhook/signal?token={TOKEN}", sign=False)
