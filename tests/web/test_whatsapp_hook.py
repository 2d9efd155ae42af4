"""The raw ASGI route for WAHA's webhooks: which requests it answers itself, and how."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import trio

from whatsignal.errors import StorageError
from whatsignal.intake import Outcome
from whatsignal.models.waha import WahaEvent
from whatsignal.web.app import WebSettings
from whatsignal.web.auth_limit import AuthLimiter, parse_networks
from whatsignal.web.signal_push import SignalPush
from whatsignal.web.whatsapp_hook import FastWebhook, WhatsAppHook

SECRET = "s" * 40
EVENT = json.dumps({"id": "e1", "event": "message", "session": "default", "payload": {}}).encode()


class Intake:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def whatsapp(self, event: WahaEvent, raw: bytes) -> Outcome:
        self.seen.append(raw)
        return Outcome.ACCEPTED

    async def signal(self, raw_items: Any, *, via: str) -> list[Outcome]:
        raise AssertionError("not on this route")

    async def already_journaled(self, event: WahaEvent, raw: bytes) -> bool:
        return False


class Inner:
    """The quart app behind the fast route: records what was passed on."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])


def _route(
    intake: Intake, inner: Inner, push: SignalPush | None = None, **overrides: Any
) -> FastWebhook:
    options: dict[str, Any] = {"version": "1", "clock": lambda: 0.0, "webhook_secret": SECRET}
    options |= {"max_body_bytes": 1024, **overrides}
    settings = WebSettings(**options)
    limiter = AuthLimiter(
        per_minute=settings.rate_limit_per_minute,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        cleanup_sec=60,
        now=lambda: 0.0,
    )
    hook = WhatsAppHook(settings=settings, intake=intake, limiter=limiter)
    return FastWebhook(inner, hook, push)  # type: ignore[arg-type]


async def _call(
    route: FastWebhook,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes | None],
    *,
    method: str = "POST",
    path: str = "/webhook/whatsapp",
    query: bytes = b"",
) -> list[dict[str, Any]]:
    """Run one request; a None chunk is a disconnect. Returns what was sent."""
    sent: list[dict[str, Any]] = []
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    scope["query_string"] = query
    scope["client"] = ("10.0.0.1", 5000)
    await route(scope, receive, send)  # type: ignore[arg-type]
    return sent


def _signed(body: bytes, secret: str = SECRET) -> list[tuple[bytes, bytes]]:
    digest = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest().encode()
    return [(b"content-length", str(len(body)).encode()), (b"X-Webhook-Hmac", digest)]


async def test_a_signed_webhook_is_answered_without_quart() -> None:
    intake, inner = Intake(), Inner()
    route = _route(intake, inner)
    sent = await _call(route, _signed(EVENT), [EVENT[:10], EVENT[10:]])
    assert inner.paths == [] and intake.seen == [EVENT]
    start, body = sent
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"content-length"] == str(len(body["body"])).encode()
    assert json.loads(body["body"]) == {"status": "accepted"}


async def test_a_wrong_signature_is_401_then_429_per_address() -> None:
    intake, inner = Intake(), Inner()
    route = _route(intake, inner, rate_limit_per_minute=1)
    wrong = _signed(EVENT, "x" * 40)
    first = await _call(route, wrong, [EVENT])
    assert first[0]["status"] == 401 and intake.seen == []
    second = await _call(route, wrong, [EVENT])
    assert second[0]["status"] == 429
    assert (b"retry-after", b"60") in second[0]["headers"]


async def test_what_must_be_answered_before_the_body_goes_to_quart() -> None:
    intake, inner = Intake(), Inner()
    route = _route(intake, inner)
    big = [(b"content-length", b"4096"), *_signed(EVENT)[1:]]
    chunked = [(b"transfer-encoding", b"chunked"), *_signed(EVENT)[1:]]
    unsigned = [(b"content-length", str(len(EVENT)).encode())]
    for headers in (big, chunked, unsigned):
        assert await _call(route, headers, [EVENT]) == []
    assert await _call(route, _signed(EVENT), [EVENT], method="GET") == []
    assert await _call(route, _signed(EVENT), [EVENT], path="/healthz") == []
    assert inner.paths == ["/webhook/whatsapp"] * 4 + ["/healthz"]
    assert intake.seen == []


async def test_a_client_gone_mid_body_gets_no_answer_and_nothing_is_journaled() -> None:
    intake, inner = Intake(), Inner()
    assert await _call(_route(intake, inner), _signed(EVENT), [EVENT[:5], None]) == []
    assert intake.seen == [] and inner.paths == []


async def test_forwarded_for_is_read_for_the_limiter() -> None:
    intake, inner = Intake(), Inner()
    route = _route(intake, inner, rate_limit_per_minute=1, trusted_proxies=("10.0.0.0/8",))
    wrong = _signed(EVENT, "x" * 40)
    a = await _call(route, [*wrong, (b"x-forwarded-for", b"192.0.2.1")], [EVENT])
    b = await _call(route, [*wrong, (b"x-forwarded-for", b"192.0.2.2")], [EVENT])
    assert a[0]["status"] == b[0]["status"] == 401  # two clients behind one proxy
    await trio.lowlevel.checkpoint()


# signal-cli's push path -------------------------------------------------------------------------

PUSH_TOKEN = "p" * 40
PUSHED = json.dumps(
    [
        {"jsonrpc": "2.0", "method": "receive", "params": {"envelope": {"timestamp": 1}}},
        {"jsonrpc": "2.0", "method": "other"},
    ]
).encode()


class PushIntake:
    def __init__(self, fail: Exception | None = None) -> None:
        self.items: list[Any] = []
        self.fail = fail

    async def signal(self, raw_items: Any, *, via: str) -> list[Outcome]:
        if self.fail is not None:
            raise self.fail
        assert via == "push"
        self.items += raw_items
        return [Outcome.ACCEPTED] * len(raw_items)


def _push_route(intake: PushIntake, inner: Inner) -> FastWebhook:
    push = SignalPush(token=PUSH_TOKEN, intake=intake)  # type: ignore[arg-type]
    return _route(Intake(), inner, push)


def _length(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(len(body)).encode())]


async def _push(route: FastWebhook, body: bytes, token: str = PUSH_TOKEN) -> list[dict[str, Any]]:
    query = f"token={token}".encode()
    return await _call(route, _length(body), [body], path="/webhook/signal", query=query)


async def test_a_push_with_the_right_token_is_journaled_without_quart() -> None:
    intake, inner = PushIntake(), Inner()
    start, body = await _push(_push_route(intake, inner), PUSHED)
    assert start["status"] == 200 and inner.paths == []
    assert json.loads(body["body"]) == {"status": ["accepted"]}
    assert intake.items == [{"envelope": {"timestamp": 1}}]
    assert (b"x-content-type-options", b"nosniff") in start["headers"]


async def test_a_push_that_is_not_json_rpc_is_400_and_a_failing_journal_503() -> None:
    inner = Inner()
    start, body = await _push(_push_route(PushIntake(), inner), b'{"params": {}}')
    assert start["status"] == 400
    assert "no params.envelope" in json.loads(body["body"])["error"]
    start, _ = await _push(_push_route(PushIntake(), inner), b"[1]")
    assert start["status"] == 400
    failing = PushIntake(fail=StorageError("disk full"))
    start, body = await _push(_push_route(failing, inner), PUSHED)
    assert start["status"] == 503
    assert inner.paths == []


async def test_a_push_the_fast_path_cannot_take_goes_to_quart() -> None:
    intake, inner = PushIntake(), Inner()
    route = _push_route(intake, inner)
    assert await _push(route, PUSHED, token="wrong") == []
    assert await _push(route, PUSHED, token="") == []
    chunked = [(b"transfer-encoding", b"chunked")]
    query = f"token={PUSH_TOKEN}".encode()
    assert await _call(route, chunked, [PUSHED], path="/webhook/signal", query=query) == []
    big = [(b"content-length", b"4096")]
    assert await _call(route, big, [PUSHED], path="/webhook/signal", query=query) == []
    # Without a push path configured, quart answers (its 401 says the path is off).
    off = _route(Intake(), inner, SignalPush(token=None, intake=intake))  # type: ignore[arg-type]
    assert await _push(off, PUSHED) == []
    assert await _push(_route(Intake(), inner), PUSHED) == []
    assert inner.paths == ["/webhook/signal"] * 6
    assert intake.items == []
