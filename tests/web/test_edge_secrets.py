"""The secrets a request supplies: compared as bytes in constant time, and a wrong one (of any
length, any bytes) is simply wrong.

Pinned here: a non-ASCII ``X-Webhook-Hmac``, bearer token or push token is a 401 (not a 500 with a
traceback: ``hmac.compare_digest`` refuses a non-ASCII ``str``); every comparison goes through
``hmac.compare_digest``; the admin endpoints stay closed to a missing token, a prefix of the right
one, a longer one and one of the wrong scheme.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import pytest
import trio
from edge_world import ADMIN, SECRET, TOKEN, envelope, message, signed, start_edge

from whatsignal.web.app import same_secret, signature_ok

BODY = envelope("message", message("false_1@c.us_A"))


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "header",
    [
        "é" * 128,  # latin-1 in the header: a non-ASCII str for the app
        "\u00ff" + signed(BODY)["X-Webhook-Hmac"][1:],
        signed(BODY)["X-Webhook-Hmac"] + "\u00e9",
        "\x7f" * 128,
    ],
)
async def test_a_non_ascii_signature_is_a_401(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, header: str
) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    answer = await client.post("/webhook/whatsapp", data=BODY, headers={"X-Webhook-Hmac": header})
    assert answer.status_code == 401
    assert "X-Webhook-Hmac" in (await answer.get_json())["error"]
    _no_tracebacks(caplog)
    assert await edge.store.pending_count() == 0


@pytest.mark.parametrize("token", ["é" * 40, ADMIN[:-1] + "é", "Ā" * 40])
async def test_a_non_ascii_admin_token_is_a_401(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, token: str
) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    for path in ("/metrics", "/session/status", "/admin/dead-letters"):
        answer = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
    _no_tracebacks(caplog)


@pytest.mark.parametrize("token", ["%C3%A9" * 40, "%ED%A0%80", "%FF%FE", TOKEN[:-1] + "%E2%82%AC"])
async def test_a_non_ascii_push_token_is_a_401(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture, token: str
) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    answer = await client.post(f"/webhook/signal?token={token}", json={"params": {}})
    assert answer.status_code == 401
    _no_tracebacks(caplog)


def test_same_secret_is_total_over_any_text() -> None:
    assert same_secret(ADMIN, ADMIN)
    for supplied in ("", ADMIN[:-1], ADMIN + "a", "é" * 40, "\ud800", "\x00" * 40):
        assert not same_secret(supplied, ADMIN)
    assert same_secret("é", "é")
    assert not signature_ok(SECRET, BODY, "\ud800" * 128)


async def test_every_secret_is_compared_with_compare_digest(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    await client.post("/webhook/whatsapp", data=BODY, headers=signed(BODY, "x" * 40))
    await client.post("/webhook/signal?token=nope", json={})
    await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    # The push token twice: the raw fast path passes a wrong one on to the quart route, which
    # compares it again before it counts the failure.
    assert len(compared) == 4
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compared)
    assert {b for _, b in compared} >= {TOKEN.encode(), ADMIN.encode()}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {ADMIN[:1]}",
        f"Bearer {ADMIN[:-1]}",  # a prefix of the right token
        f"Bearer {ADMIN}x",  # longer
        f"Bearer {ADMIN * 2}",
        f"Basic {ADMIN}",  # the right token under the wrong scheme
        ADMIN,
        f"Bearer {ADMIN.upper()}",
    ],
)
async def test_admin_endpoints_stay_closed(
    nursery: trio.Nursery, authorization: str | None
) -> None:
    edge = await start_edge(nursery)
    client = edge.app.test_client()
    headers = {} if authorization is None else {"Authorization": authorization}
    for path in ("/metrics", "/session/status", "/admin/dead-letters"):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/admin/dead-letters/1/retry", "/admin/signal/rate-limit-challenge"):
        answer = await client.post(path, headers=headers, json={"captcha": "signalcaptcha://x"})
        assert answer.status_code == 401, path
    ok = await client.get("/session/status", headers={"Authorization": f"bearer  {ADMIN} "})
    assert ok.status_code == 200
