"""Session discovery and health, over a scripted WAHA (autojump clock, no sockets)."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from whatsignal.actors.session_monitor import SessionMonitor, StatusChange, status_channel
from whatsignal.channels import ChannelMap, Route
from whatsignal.clients import SessionInfo
from whatsignal.errors import TransportError

ME = "+15550000002"
BRIDGE = "+15550000001"


@attrs.define
class ScriptedWaha:
    """WAHA whose session list the test sets; records restarts."""

    sessions: dict[str, str] = attrs.Factory(dict)
    down: bool = False
    restarts: list[tuple[float, str]] = attrs.Factory(list)
    fail_restart: bool = False

    async def list_sessions(self, *, all: bool = True) -> list[SessionInfo]:
        assert all  # stopped sessions must be listed too
        if self.down:
            raise TransportError("WAHA down")
        return [SessionInfo(name, status) for name, status in self.sessions.items()]

    async def restart_session(self, name: str) -> None:
        if self.fail_restart:
            raise TransportError("no answer")
        self.restarts.append((trio.current_time(), name))
        self.sessions[name] = "STARTING"


@attrs.define
class Workers:
    """The registry's side (SessionControl): which sessions have a poller."""

    running_now: set[str] = attrs.Factory(set)
    log: list[str] = attrs.Factory(list)

    def start(self, name: str) -> None:
        self.log.append(f"+{name}")
        self.running_now.add(name)

    def stop(self, name: str) -> None:
        self.log.append(f"-{name}")
        self.running_now.discard(name)

    def running(self) -> list[str]:
        return sorted(self.running_now)


def _monitor(
    waha: ScriptedWaha,
    workers: Workers,
    *,
    default: bool = True,
    discover: bool = True,
    auto_restart: bool = True,
    max_discovered: int = 2,
    inbox: trio.MemoryReceiveChannel[StatusChange] | None = None,
) -> SessionMonitor:
    channels = ChannelMap(
        {"static": Route("static", ME, BRIDGE)},
        Route("*", ME, BRIDGE) if default else None,
    )
    return SessionMonitor(
        waha=waha,  # type: ignore[arg-type]
        channels=channels,
        control=workers,
        inbox=inbox if inbox is not None else status_channel()[1],
        static=frozenset({"static"}),
        interval=30,
        discover=discover,
        auto_restart=auto_restart,
        startup_timeout=60,
        max_discovered=max_discovered,
    )


async def test_discovers_working_sessions_and_stops_gone_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    waha = ScriptedWaha({"static": "WORKING", "a": "WORKING", "b": "SCAN_QR_CODE"})
    workers = Workers({"static"})
    monitor = _monitor(waha, workers)
    await monitor.poll_once()
    assert workers.running_now == {"static", "a"}
    waha.sessions["b"] = "WORKING"
    await monitor.poll_once()
    assert workers.running_now == {"static", "a", "b"}
    del waha.sessions["a"]
    waha.sessions["b"] = "STOPPED"
    waha.sessions["static"] = "STOPPED"
    await monitor.poll_once()
    # Discovered sessions stop with their WAHA session; configured ones keep their worker.
    assert workers.running_now == {"static"}
    assert waha.restarts == []  # STOPPED and SCAN_QR_CODE are not unhealthy


async def test_without_a_default_channel_unknown_sessions_are_left_alone() -> None:
    waha = ScriptedWaha({"static": "WORKING", "other": "WORKING"})
    workers = Workers()
    await _monitor(waha, workers, default=False).poll_once()
    assert workers.running_now == {"static"}


async def test_discovery_off_starts_only_configured_sessions() -> None:
    waha = ScriptedWaha({"static": "WORKING", "a": "WORKING"})
    workers = Workers()
    await _monitor(waha, workers, discover=False).poll_once()
    assert workers.running_now == {"static"}


async def test_max_concurrent_sessions_caps_discovered_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waha = ScriptedWaha(dict.fromkeys(("static", "a", "b", "c"), "WORKING"))
    workers = Workers()
    monitor = _monitor(waha, workers, max_discovered=2)
    await monitor.poll_once()
    await monitor.poll_once()
    assert workers.running_now == {"static", "a", "b"}
    assert caplog.text.count("maxConcurrentSessions (2) reached") == 1  # warned once


async def test_failed_and_stuck_sessions_are_restarted_once_per_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    waha = ScriptedWaha({"static": "FAILED", "slow": "STARTING"})
    workers = Workers({"static"})
    monitor = _monitor(waha, workers)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        await trio.sleep(1)
        assert waha.restarts == [(0, "static")]
        waha.sessions["static"] = "FAILED"  # the restart did not help
        await trio.sleep(45)  # one listing at 30 s: too early to restart again
        assert waha.restarts == [(0, "static")]
        await trio.sleep(30)  # listing at 60 s: "static" again, "slow" STARTING for 60 s...
        await trio.sleep(30)  # ... and at 90 s it has been STARTING too long
        nursery.cancel_scope.cancel()
    assert waha.restarts == [(0, "static"), (60, "static"), (90, "slow")]


async def test_status_webhooks_apply_at_once(autojump_clock: trio.testing.MockClock) -> None:
    waha = ScriptedWaha({"static": "WORKING"})
    workers = Workers({"static"})
    statuses, inbox = status_channel()
    monitor = _monitor(waha, workers, inbox=inbox)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        await trio.sleep(1)
        await statuses.send(("fresh", "WORKING"))
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == 1  # applied at once: no time passed
        assert "fresh" in workers.running_now  # long before the next listing at 30 s
        await statuses.send(("fresh", "FAILED"))
        await trio.testing.wait_all_tasks_blocked()
        assert "fresh" not in workers.running_now
        assert waha.restarts == [(1, "fresh")]
        nursery.cancel_scope.cancel()


async def test_waha_down_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    waha = ScriptedWaha({"static": "WORKING", "a": "WORKING"}, down=True)
    workers = Workers({"static", "a"})
    monitor = _monitor(waha, workers)
    await monitor.poll_once()
    assert workers.running_now == {"static", "a"}
    assert "could not list WAHA sessions" in caplog.text
    waha.down = False
    waha.fail_restart = True
    await monitor.apply("a", "FAILED")
    assert "restarting the session failed" in caplog.text
    assert waha.restarts == []
