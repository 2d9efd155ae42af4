"""The start-up look at WAHA's sessions warns about setups that lose or double messages."""

from __future__ import annotations

import httpx
import pytest
import trio

from whatsignal.actors.preflight import check_sessions, session_warnings
from whatsignal.clients import SessionInfo, WahaClient, WebhookConfig
from whatsignal.testing import FakeWaha
from whatsignal.waha_hooks import BRIDGE_EVENTS

BRIDGE_HOOK = "http://whatsignal:8082/webhook/whatsapp"
DOUBLED = (*BRIDGE_EVENTS, "message.any")


def _session(name: str, status: str = "WORKING", *hooks: WebhookConfig) -> SessionInfo:
    return SessionInfo(name=name, status=status, webhooks=hooks)


def test_a_healthy_setup_has_nothing_to_say() -> None:
    hook = WebhookConfig(BRIDGE_HOOK, BRIDGE_EVENTS, has_hmac=True)
    assert (
        session_warnings(["a", "b"], [_session("a", "WORKING", hook), _session("b")], signed=True)
        == []
    )


@pytest.mark.parametrize(
    ("session", "expected"),
    [
        (None, "WAHA does not know it"),
        (_session("a", "SCAN_QR_CODE"), "is SCAN_QR_CODE, not WORKING"),
        (
            _session("a", "WORKING", WebhookConfig(BRIDGE_HOOK, DOUBLED, True)),
            "both 'message' and 'message.any'",
        ),
        (_session("a", "WORKING", WebhookConfig(BRIDGE_HOOK, ("*",), True)), "both 'message'"),
        (
            _session("a", "WORKING", WebhookConfig("http://elsewhere/hook", ("message",), True)),
            "none to /webhook/whatsapp",
        ),
        (
            _session("a", "WORKING", WebhookConfig(BRIDGE_HOOK, BRIDGE_EVENTS, False)),
            "without an HMAC key",
        ),
        (
            _session("a", "WORKING", WebhookConfig(BRIDGE_HOOK, ("message", "message.ack"), True)),
            "add message.reaction, message.edited, message.revoked, session.status, group.v2.update"
            " to its webhook",
        ),
    ],
)
def test_each_problem_is_named(session: SessionInfo | None, expected: str) -> None:
    warnings = session_warnings(["a"], [session] if session else [], signed=True)
    assert len(warnings) == 1
    assert expected in warnings[0]


async def test_check_sessions_against_waha(caplog: pytest.LogCaptureFixture) -> None:
    waha = FakeWaha(sessions=("default",), status_step=0.01, auto_pair=True)
    async with trio.open_nursery() as nursery:
        url: str = await nursery.start(waha.run)
        waha.create_session(
            "doubled",
            config={"webhooks": [{"url": BRIDGE_HOOK, "events": list(DOUBLED)}]},
        )
        async with httpx.AsyncClient(base_url=url) as http:
            client = WahaClient(http)
            with trio.fail_after(5):
                while (await client.get_session("doubled")).status != "WORKING":
                    await trio.sleep(0.01)
            warnings = await check_sessions(client, ["default", "doubled", "ghost"], signed=False)
        nursery.cancel_scope.cancel()
    assert len(warnings) == 2
    assert "'doubled' subscribes to both" in warnings[0]
    assert "'ghost' is configured but WAHA does not know it" in warnings[1]
    assert sum("does not know" in r.getMessage() for r in caplog.records) == 1


async def test_check_sessions_only_logs_when_waha_is_down(caplog: pytest.LogCaptureFixture) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(
        base_url="http://waha", transport=httpx.MockTransport(down)
    ) as http:
        assert await check_sessions(WahaClient(http), ["a"], signed=True) == []
    assert "could not list WAHA sessions" in caplog.text


async def test_check_sessions_gives_up_after_its_time(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Slow:
        async def list_sessions(self, *, all: bool = True) -> list[SessionInfo]:
            await trio.sleep_forever()
            raise AssertionError  # pragma: no cover

    assert await check_sessions(Slow(), ["a"], signed=True, within=15) == []  # type: ignore[arg-type]
    assert "within 15s" in caplog.text
