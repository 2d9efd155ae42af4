"""The HTTP edge on its own: status codes and reasons for every kind of bad input.

The app is driven through quart's test client with stub dependencies, so each answer can be
forced (a journal that fails, an admin token, a skew window) without running the bridge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from quart_trio import QuartTrio

from whatsignal.errors import PayloadError, StorageError
from whatsignal.intake import Outcome
from whatsignal.models.waha import WahaEvent
from whatsignal.web.app import Readiness, WebSettings, create_app, signature_ok

SECRET = "k" * 40
TOKEN = "t" * 40
ADMIN = "a" * 40


@attrs.define
class StubIntake:
    """Records what reached the intake; fails on demand; knows ``journaled`` event ids."""

    fail: Exception | None = None
    journaled: set[str] = attrs.Factory(set)
    seen: list[str] = attrs.Factory(list)
    pushed: list[Any] = attrs.Factory(list)

    async def whatsapp(self, event: WahaEvent, raw: bytes) -> Outcome:
        if self.fail is not None:
            raise self.fail
        self.seen.append(event.event)
        return Outcome.ACCEPTED

    async def signal(self, raw_items: Sequence[Any], *, via: str) -> list[Outcome]:
        if self.fail is not None:
            raise self.fail
        self.pushed.extend(raw_items)
        return [Outcome.ACCEPTED for _ in raw_items]

    async def already_journaled(self, event: WahaEvent, raw: bytes) -> bool:
        return event.id in self.journaled


class StubAdmin:
    """Canned answers of the admin operations."""

    async def readiness(self) -> Readiness:
        return Readiness(False, {"whatsapp": "ok", "signal": "unavailable: TransportError"})

    async def status(self) -> dict[str, Any]:
        return {"workers": {}}

    async def dead_letters(self) -> list[dict[str, Any]]:
        return [{"id": 7}]

    async def retry_dead_letter(self, row_id: int) -> bool:
        return row_id == 7

    async def solve_rate_limit(self, captcha: str, number: str | None) -> dict[str, Any]:
        if number == "+nobody":
            return {"solved": [], "failed": {}}
        if captcha.endswith("bad"):
            return {"solved": [], "failed": {"****0001": "invalid captcha"}}
        return {"solved": ["****0001"], "failed": {}}

    async def metrics(self) -> tuple[bytes, str]:
        return b"# metrics\n", "text/plain; version=0.0.4"


def _app(intake: StubIntake, **overrides: Any) -> QuartTrio:
    options: dict[str, Any] = {
        "version": "9.9",
        "webhook_secret": SECRET,
        "max_body_bytes": 2048,
        "signal_webhook_token": TOKEN,
        "admin_token": ADMIN,
        "clock": lambda: 1_000.0,
    }
    options.update(overrides)
    return create_app(WebSettings(**options), intake, StubAdmin())


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    return {"X-Webhook-Hmac": digest, "X-Webhook-Hmac-Algorithm": "sha512"}


EVENT = json.dumps(
    {"id": "evt_1", "event": "message", "session": "default", "payload": {}}
).encode()


def test_signature_is_hex_hmac_sha512_of_the_raw_body() -> None:
    # The test vector of WAHA's documentation.
    body = b'{"event":"message","session":"default","engine":"WEBJS"}'
    expected = (
        "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8"
        "097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"
    )
    assert signature_ok("my-secret-key", body, expected)
    assert signature_ok("my-secret-key", body, expected.upper())
    assert not signature_ok("my-secret-key", body + b" ", expected)
    assert not signature_ok("my-secret-key", body, None)


async def test_health_liveness_and_readiness() -> None:
    app = _app(StubIntake())
    client = app.test_client()
    live = await client.get("/healthz")
    assert live.status_code == 200
    assert (await live.get_json()) == {"status": "alive", "version": "9.9"}
    for path in ("/health", "/readyz"):
        ready = await client.get(path)
        assert ready.status_code == 503
        assert (await ready.get_json())["checks"]["signal"].startswith("unavailable")
    assert live.headers["X-Content-Type-Options"] == "nosniff"


async def test_whatsapp_webhook_answers() -> None:
    intake = StubIntake()
    client = _app(intake).test_client()
    ok = await client.post("/webhook/whatsapp", data=EVENT, headers=_signed(EVENT))
    assert ok.status_code == 200
    assert (await ok.get_json()) == {"status": "accepted"}
    assert intake.seen == ["message"]

    wrong = await client.post("/webhook/whatsapp", data=EVENT, headers=_signed(EVENT, "x" * 40))
    assert wrong.status_code == 401
    unsigned = await client.post("/webhook/whatsapp", data=EVENT)
    assert unsigned.status_code == 401

    broken = b'{"event": "message", "session": '
    bad = await client.post("/webhook/whatsapp", data=broken, headers=_signed(broken))
    assert bad.status_code == 400
    assert "invalid JSON" in (await bad.get_json())["error"]

    huge = b"{" + b" " * 4096 + b"}"
    too_big = await client.post("/webhook/whatsapp", data=huge, headers=_signed(huge))
    assert too_big.status_code == 413
    assert "2048" in (await too_big.get_json())["error"]
    assert intake.seen == ["message"]  # nothing else got through


async def test_journal_failure_is_503_so_waha_retries() -> None:
    intake = StubIntake(fail=StorageError("disk full"))
    client = _app(intake).test_client()
    answer = await client.post("/webhook/whatsapp", data=EVENT, headers=_signed(EVENT))
    assert answer.status_code == 503
    malformed = StubIntake(fail=PayloadError("message payload: id missing"))
    client = _app(malformed).test_client()
    answer = await client.post("/webhook/whatsapp", data=EVENT, headers=_signed(EVENT))
    assert answer.status_code == 400
    assert (await answer.get_json())["error"] == "message payload: id missing"


async def test_skew_window_never_rejects_a_journaled_event() -> None:
    journaled: set[str] = set()
    client = _app(StubIntake(journaled=journaled), max_skew_sec=60.0).test_client()
    fresh = {**_signed(EVENT), "X-Webhook-Timestamp": "1000000"}
    stale = {**_signed(EVENT), "X-Webhook-Timestamp": "1"}
    missing = _signed(EVENT)
    assert (await client.post("/webhook/whatsapp", data=EVENT, headers=fresh)).status_code == 200
    assert (await client.post("/webhook/whatsapp", data=EVENT, headers=stale)).status_code == 401
    assert (await client.post("/webhook/whatsapp", data=EVENT, headers=missing)).status_code == 401
    journaled.add("evt_1")
    # A late WAHA retry of an event already journaled: harmless, answered 200.
    assert (await client.post("/webhook/whatsapp", data=EVENT, headers=stale)).status_code == 200


async def test_without_a_secret_webhooks_are_not_checked() -> None:
    client = _app(StubIntake(), webhook_secret=None).test_client()
    assert (await client.post("/webhook/whatsapp", data=EVENT)).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (
            {"jsonrpc": "2.0", "method": "receive", "params": {"envelope": {}, "account": "+1"}},
            200,
            None,
        ),
        ([{"method": "receive", "params": {"envelope": {}, "account": "+1"}}], 200, None),
        ({"jsonrpc": "2.0", "method": "other", "params": {}}, 200, None),
        ({"jsonrpc": "2.0", "method": "receive", "params": {}}, 400, "no params.envelope"),
        (["not an object"], 400, "expected a JSON-RPC object"),
    ],
)
async def test_signal_push_path(body: Any, status: int, reason: str | None) -> None:
    intake = StubIntake()
    client = _app(intake).test_client()
    answer = await client.post(f"/webhook/signal?token={TOKEN}", json=body)
    assert answer.status_code == status
    if reason:
        assert reason in (await answer.get_json())["error"]


async def test_signal_push_path_tokens_and_failures() -> None:
    body = {"method": "receive", "params": {"envelope": {}, "account": "+1"}}
    client = _app(StubIntake()).test_client()
    assert (await client.post("/webhook/signal", json=body)).status_code == 401
    assert (await client.post("/webhook/signal?token=nope", json=body)).status_code == 401
    disabled = _app(StubIntake(), signal_webhook_token=None).test_client()
    answer = await disabled.post(f"/webhook/signal?token={TOKEN}", json=body)
    assert answer.status_code == 401
    assert "signal.webhookToken" in (await answer.get_json())["error"]
    failing = _app(StubIntake(fail=StorageError("x"))).test_client()
    assert (await failing.post(f"/webhook/signal?token={TOKEN}", json=body)).status_code == 503


async def test_admin_endpoints_need_the_token() -> None:
    client = _app(StubIntake()).test_client()
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    for path in ("/metrics", "/session/status", "/admin/dead-letters"):
        denied = await client.get(path)
        assert denied.status_code == 401
        assert denied.headers["WWW-Authenticate"].startswith("Bearer")
        assert (
            await client.get(path, headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        assert (await client.get(path, headers=bearer)).status_code == 200
    metrics = await client.get("/metrics", headers=bearer)
    assert await metrics.get_data() == b"# metrics\n"
    assert (await (await client.get("/admin/dead-letters", headers=bearer)).get_json()) == {
        "dead_letters": [{"id": 7}]
    }
    retried = await client.post("/admin/dead-letters/7/retry", headers=bearer)
    assert retried.status_code == 200
    missing = await client.post("/admin/dead-letters/8/retry", headers=bearer)
    assert missing.status_code == 404
    assert (await client.post("/admin/dead-letters/7/retry")).status_code == 401


async def test_admin_is_open_only_in_development_without_a_token() -> None:
    open_app = _app(StubIntake(), admin_token=None, admin_open=True).test_client()
    assert (await open_app.get("/session/status")).status_code == 200
    closed = _app(StubIntake(), admin_token=None, admin_open=False).test_client()
    assert (await closed.get("/session/status")).status_code == 401


async def test_unknown_paths_and_methods_answer_json() -> None:
    client = _app(StubIntake()).test_client()
    missing = await client.get("/nope")
    assert missing.status_code == 404
    assert (await missing.get_json()) == {"error": "not found"}
    wrong_method = await client.get("/webhook/whatsapp")
    assert wrong_method.status_code == 405


async def test_rate_limit_challenge_endpoint() -> None:
    client = _app(StubIntake()).test_client()
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    url = "/admin/signal/rate-limit-challenge"
    assert (await client.post(url, json={"captcha": "signalcaptcha://x"})).status_code == 401
    ok = await client.post(url, json={"captcha": "signalcaptcha://x"}, headers=bearer)
    assert ok.status_code == 200
    assert (await ok.get_json())["solved"] == ["****0001"]
    bad = await client.post(url, json={"captcha": "signalcaptcha://bad"}, headers=bearer)
    assert bad.status_code == 502
    none = await client.post(
        url, json={"captcha": "signalcaptcha://x", "number": "+nobody"}, headers=bearer
    )
    assert none.status_code == 404
    for body in (
        {"captcha": "not-a-captcha"},
        ["x"],
        {"captcha": "signalcaptcha://x", "number": 5},
    ):
        answer = await client.post(url, json=body, headers=bearer)
        assert answer.status_code == 400
    garbage = await client.post(url, data=b"{", headers=bearer)
    assert garbage.status_code == 400
