"""``server.rateLimitPerMinute`` at the edge: failed authentication is limited per client
address (401, then 429 with ``Retry-After`` and a JSON reason), on every authenticated
endpoint; a correctly authenticated request is never refused, whatever its address did; and
``server.trustedProxies`` decides when ``X-Forwarded-For`` names the client.
"""

from __future__ import annotations

from typing import Any

import trio
from edge_world import ADMIN, TOKEN, data_message, envelope, message, push, signed, start_edge
from quart.typing import TestClientProtocol as AppClient

from whatsignal.config import config_from_mapping
from whatsignal.wiring import web_settings

ATTACKER = {"client": ("198.51.100.66", 40000)}
WAHA = {"client": ("198.51.100.10", 40000)}


class Requests:
    """One kind of request, failing or authenticated, from an address."""

    def __init__(self, client: AppClient) -> None:
        self.client = client
        self.n = 0

    def _body(self) -> bytes:
        self.n += 1
        return envelope("message", message(f"false_1@c.us_{self.n}"), id=f"evt_{self.n}")

    async def bad_hmac(self, scope: dict[str, Any] = ATTACKER, **headers: str) -> Any:
        body = self._body()
        return await self.client.post(
            "/webhook/whatsapp",
            data=body,
            headers={**signed(body, "wrong" * 8), **headers},
            scope_base=scope,
        )

    async def good_hmac(self, scope: dict[str, Any] = ATTACKER) -> Any:
        body = self._body()
        return await self.client.post(
            "/webhook/whatsapp", data=body, headers=signed(body), scope_base=scope
        )


async def test_failed_authentication_is_limited_per_address(nursery: trio.Nursery) -> None:
    now = [100.0]
    edge = await start_edge(nursery, rate_limit_per_minute=3, monotonic=lambda: now[0])
    requests = Requests(edge.app.test_client())
    assert [(await requests.bad_hmac()).status_code for _ in range(3)] == [401] * 3
    limited = await requests.bad_hmac()
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "20"
    assert (await limited.get_json()) == {
        "error": "too many failed authentications from this address; retry in 20 s",
        "retry_after": 20,
    }
    # Missing signatures count too (they are refused without reading the body).
    body = envelope("message", message("x"))
    missing = await edge.app.test_client().post("/webhook/whatsapp", data=body, scope_base=ATTACKER)
    assert missing.status_code == 429

    # A correctly signed webhook from the same address is never refused, and is journaled.
    assert (await requests.good_hmac()).status_code == 200
    assert await edge.store.pending_count() == 1
    # Another address is not affected.
    assert (await requests.bad_hmac(WAHA)).status_code == 401

    now[0] += 20.0  # one failure's worth refilled
    assert (await requests.bad_hmac()).status_code == 401
    assert (await requests.bad_hmac()).status_code == 429


async def test_every_authenticated_endpoint_shares_the_limit(nursery: trio.Nursery) -> None:
    edge = await start_edge(nursery, rate_limit_per_minute=4)
    client = edge.app.test_client()
    wrong_admin = {"Authorization": "Bearer wrong"}
    right_admin = {"Authorization": f"Bearer {ADMIN}"}
    answers = [
        await client.get("/metrics", headers=wrong_admin, scope_base=ATTACKER),
        await client.get("/session/status", headers=wrong_admin, scope_base=ATTACKER),
        await client.post("/webhook/signal?token=wrong", json={}, scope_base=ATTACKER),
        await client.post("/admin/dead-letters/1/retry", scope_base=ATTACKER),
    ]
    assert [a.status_code for a in answers] == [401] * 4
    assert answers[0].headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/metrics", "/session/status", "/admin/dead-letters"):
        refused = await client.get(path, headers=wrong_admin, scope_base=ATTACKER)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) == 15
        # ... while the right token from the same address still gets in.
        assert (await client.get(path, headers=right_admin, scope_base=ATTACKER)).status_code == 200
    assert (await client.post("/webhook/signal", json={}, scope_base=ATTACKER)).status_code == 429
    pushed = await client.post(
        f"/webhook/signal?token={TOKEN}",
        data=push(data_message(1_700_000_000_001)),
        scope_base=ATTACKER,
    )
    assert pushed.status_code == 200
    assert (await pushed.get_json())["status"] == ["accepted"]


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    nursery: trio.Nursery,
) -> None:
    proxy = {"client": ("10.1.2.3", 40000)}
    edge = await start_edge(nursery, rate_limit_per_minute=2, trusted_proxies=("10.0.0.0/8",))
    requests = Requests(edge.app.test_client())
    for _ in range(2):
        await requests.bad_hmac(proxy, **{"X-Forwarded-For": "203.0.113.5"})
    assert (await requests.bad_hmac(proxy, **{"X-Forwarded-For": "203.0.113.5"})).status_code == 429
    # Another client behind the same proxy has its own bucket; inventing an address left of
    # the proxy's entry does not buy a new one.
    other = await requests.bad_hmac(proxy, **{"X-Forwarded-For": "203.0.113.6"})
    assert other.status_code == 401
    spoofed = await requests.bad_hmac(proxy, **{"X-Forwarded-For": "192.0.2.1, 203.0.113.5"})
    assert spoofed.status_code == 429

    # Not from a trusted proxy: the header is ignored, the peer is counted.
    for n in range(2):
        await requests.bad_hmac(ATTACKER, **{"X-Forwarded-For": f"192.0.2.{n}"})
    blocked = await requests.bad_hmac(ATTACKER, **{"X-Forwarded-For": "192.0.2.99"})
    assert blocked.status_code == 429


async def test_admin_is_not_limited_in_open_development_mode(nursery: trio.Nursery) -> None:
    edge = await start_edge(nursery, admin_token=None, admin_open=True, rate_limit_per_minute=1)
    client = edge.app.test_client()
    for _ in range(5):
        assert (await client.get("/session/status", scope_base=ATTACKER)).status_code == 200


def test_web_settings_take_the_server_keys() -> None:
    config = config_from_mapping(
        {
            "whatsapp": {"api_base_url": "http://localhost:3000"},
            "signal": {
                "rpc_url": "http://localhost:8080",
                "intermediaryPhoneNumber": "+4915112345678",
            },
            "channels": [
                {"whatsappSessionName": "default", "signalDestinationPhoneNumber": "+491701234567"}
            ],
            "database": {"path": "whatsignal.db"},
            "server": {
                "rateLimitPerMinute": 30,
                "rateLimitCleanupMinutes": 2,
                "trustedProxies": ["10.0.0.0/8", "fd00::/8"],
            },
        },
        env={"WHATSIGNAL_ENV": "development"},
    )
    assert not any("rateLimit" in w or "trustedProxies" in w for w in config.warnings)
    settings = web_settings(config, "1.0", lambda: 0.0)
    assert settings.rate_limit_per_minute == 30
    assert settings.rate_limit_cleanup_sec == 120.0
    assert settings.trusted_proxies == ("10.0.0.0/8", "fd00::/8")
