"""Session discovery, order and health, over a scripted WAHA (autojump clock, no sockets)."""

from __future__ import annotations

import math

import attrs
import pytest
import trio
import trio.testing
from call_counting import python_calls

from whatsignal.actors.doorbells import Doorbells
from whatsignal.actors.session_monitor import SessionMonitor, status_channel
from whatsignal.actors.session_table import SessionTable
from whatsignal.clients import SessionInfo
from whatsignal.errors import ApiError, TransportError
from whatsignal.metrics import Metrics
from whatsignal.session_news import StatusEvent


@attrs.define
class ScriptedWaha:
    """WAHA whose session list the test sets; records restarts and questions."""

    sessions: dict[str, str] = attrs.Factory(dict)
    down: bool = False
    restarts: list[tuple[float, str]] = attrs.Factory(list)
    asked: list[str] = attrs.Factory(list)
    fail_restart: bool = False
    engines: dict[str, str] = attrs.Factory(dict)

    def _info(self, name: str) -> SessionInfo:
        return SessionInfo(name, self.sessions[name], engine=self.engines.get(name))

    async def list_sessions(self, *, all: bool = True) -> list[SessionInfo]:
        assert all  # stopped sessions must be listed too
        if self.down:
            raise TransportError("WAHA down")
        return [self._info(name) for name in self.sessions]

    async def get_session(self, name: str) -> SessionInfo:
        self.asked.append(name)
        if self.down:
            raise TransportError("WAHA down")
        if name not in self.sessions:
            raise ApiError("Session not found", status=404)
        return self._info(name)

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


@attrs.define
class Keeper:
    """Something that keeps per-session state (doorbells, breakers, names, metrics)."""

    forgotten: list[str] = attrs.Factory(list)

    def forget(self, session: str) -> None:
        self.forgotten.append(session)


@attrs.define
class Pending:
    queues: list[str] = attrs.Factory(list)

    async def queues_with_pending(self) -> list[str]:
        return list(self.queues)


@attrs.define
class Setup:
    monitor: SessionMonitor
    waha: ScriptedWaha
    workers: Workers
    table: SessionTable
    doorbells: Doorbells
    statuses: trio.MemorySendChannel[StatusEvent]
    keeper: Keeper
    metrics: Metrics


def setup(
    waha: ScriptedWaha,
    *,
    running: set[str] | None = None,
    default: bool = True,
    discover: bool = True,
    auto_restart: bool = True,
    cap: int = 2,
    pending: list[str] | None = None,
    listing: bool = True,
) -> Setup:
    table = SessionTable(
        configured=frozenset({"static"}),
        serves=(lambda s: True) if default else frozenset({"static"}).__contains__,
        discover=discover,
        cap=cap,
    )
    workers = Workers(set(running or {"static"}))
    doorbells, keeper, metrics = Doorbells(), Keeper(), Metrics()
    statuses, inbox = status_channel()
    monitor = SessionMonitor(
        waha=waha,  # type: ignore[arg-type]
        table=table,
        control=workers,
        inbox=inbox,
        doorbells=doorbells,
        journal=Pending(pending or []),  # type: ignore[arg-type]
        forget=[keeper],
        metrics=metrics,
        interval=30,
        listing=listing,
        auto_restart=auto_restart,
        startup_timeout=60,
    )
    return Setup(monitor, waha, workers, table, doorbells, statuses, keeper, metrics)


async def test_discovers_working_sessions_and_releases_gone_ones() -> None:
    s = setup(ScriptedWaha({"static": "WORKING", "a": "WORKING", "b": "SCAN_QR_CODE"}))
    await s.monitor.poll_once()
    # b waits for a human, but it is a live session: it holds a slot and has a poller.
    assert s.workers.running_now == {"static", "a", "b"}
    del s.waha.sessions["a"]
    s.waha.sessions["static"] = "STOPPED"
    await s.monitor.poll_once()
    assert s.workers.running_now == {"static", "b"}  # configured ones always keep theirs
    assert s.keeper.forgotten == ["a"]  # everything kept for a is released
    assert s.table.entry("a") is None
    assert s.waha.restarts == []  # STOPPED and SCAN_QR_CODE are not unhealthy
    assert s.metrics.discovery.labels("listing")._value.get() == 2


async def test_a_stopped_discovered_session_keeps_its_poller_but_frees_its_slot() -> None:
    s = setup(ScriptedWaha({"a": "WORKING", "b": "WORKING", "c": "WORKING"}), cap=2)
    await s.monitor.poll_once()
    assert s.workers.running_now == {"static", "a", "b"}  # c is left out
    s.waha.sessions["a"] = "STOPPED"
    await s.monitor.poll_once()
    assert s.workers.running_now == {"static", "a", "b", "c"}  # a waits, c took its slot
    assert s.table.worker_state("a", has_poller=True).value == "waiting for WORKING"


async def test_without_a_default_channel_unknown_sessions_are_left_alone() -> None:
    s = setup(ScriptedWaha({"static": "WORKING", "other": "WORKING"}), default=False)
    await s.monitor.poll_once()
    assert s.workers.running_now == {"static"}
    assert s.table.known() == ["static"]


async def test_discovery_off_starts_only_configured_sessions(nursery: trio.Nursery) -> None:
    s = setup(ScriptedWaha({"static": "WORKING", "a": "WORKING"}), discover=False)
    await nursery.start(s.monitor.run)
    await s.statuses.send(StatusEvent("b", "WORKING", 1))
    s.doorbells.ring("c")  # a message webhook for a session nobody serves now
    await trio.testing.wait_all_tasks_blocked()
    assert s.workers.running_now == {"static"}


async def test_an_engine_named_by_a_webhook_is_known_without_a_listing(
    nursery: trio.Nursery,
) -> None:
    s = setup(ScriptedWaha({"static": "WORKING"}), discover=False)
    await nursery.start(s.monitor.run)
    await trio.testing.wait_all_tasks_blocked()
    status = s.table.status("static")
    await s.statuses.send(StatusEvent("static", None, engine="GOWS"))
    await s.statuses.send(StatusEvent("elsewhere", None, engine="GOWS"))  # not served: nothing
    await trio.testing.wait_all_tasks_blocked()
    assert s.table.engine("static") == "GOWS"
    assert s.table.status("static") == status  # the engine alone changes no status
    assert s.table.entry("elsewhere") is None


async def test_the_cap_holds_whichever_way_a_session_shows_up(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    waha = ScriptedWaha({"static": "WORKING", "a": "WORKING", "old": "WORKING"})
    s = setup(waha, cap=2, pending=["old"])
    await nursery.start(s.monitor.run)  # "old" has rows from an earlier run: the first slot
    await trio.testing.wait_all_tasks_blocked()
    assert s.workers.running_now == {"static", "a", "old"}
    await s.statuses.send(StatusEvent("b", "WORKING", 1))  # a status webhook
    s.doorbells.ring("c")  # a message webhook
    await trio.testing.wait_all_tasks_blocked()
    assert s.workers.running_now == {"static", "a", "old"}
    assert [e.name for e in s.table.entries() if e.left_out] == ["b", "c"]
    assert caplog.text.count("signal.maxConcurrentSessions (2) reached") == 2  # once each
    waha.sessions["old"] = "STOPPED"
    await s.statuses.send(StatusEvent("old", "STOPPED", 2))  # a slot frees: b's turn
    await trio.testing.wait_all_tasks_blocked()
    assert s.workers.running_now == {"static", "a", "old", "b"}


async def test_status_events_apply_in_order_and_stale_ones_are_ignored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(ScriptedWaha({"static": "WORKING"}), listing=False)
    bell = s.doorbells.claim("static")
    async with trio.open_nursery() as nursery:
        await nursery.start(s.monitor.run)
        await s.statuses.send(StatusEvent("static", "STOPPED", 1000))
        await s.statuses.send(StatusEvent("static", "WORKING", 3000))
        await s.statuses.send(StatusEvent("static", "STARTING", 2000))  # delivered late
        await s.statuses.send(StatusEvent("static", "WORKING", 3000))  # WAHA's retry
        await trio.testing.wait_all_tasks_blocked()
        assert s.table.status("static") == "WORKING"
        assert trio.current_time() == 0  # applied at once, no listing involved
        with trio.fail_after(1):
            await bell.wait(math.inf)  # the poller was told to look again
        nursery.cancel_scope.cancel()
    assert s.waha.asked == []  # the times told the order; nobody had to ask


async def test_each_session_s_engine_is_learned_from_waha(nursery: trio.Nursery) -> None:
    s = setup(ScriptedWaha({"static": "WORKING", "a": "WORKING"}, engines={"static": "GOWS"}))
    assert s.table.engine("static") is None  # not known before WAHA said
    await nursery.start(s.monitor.run)
    await trio.testing.wait_all_tasks_blocked()
    assert (s.table.engine("static"), s.table.engine("a")) == ("GOWS", None)
    # An answer to a question about the session tells it too; no engine named keeps it.
    s.waha.engines["a"] = "NOWEB"
    await s.statuses.send(StatusEvent("a", "STARTING", 1000))
    await trio.testing.wait_all_tasks_blocked()
    assert s.table.engine("a") == "NOWEB"
    del s.waha.engines["static"]
    await s.monitor.poll_once()
    assert s.table.engine("static") == "GOWS"
    assert s.table.engine("gone") is None


async def test_when_the_order_cannot_be_told_waha_is_asked(nursery: trio.Nursery) -> None:
    s = setup(ScriptedWaha({"static": "WORKING", "a": "WORKING"}))
    await nursery.start(s.monitor.run)  # the first listing: a is WORKING
    await trio.testing.wait_all_tasks_blocked()
    # An event after the listing may be older than what it saw: ask (WAHA says WORKING).
    await s.statuses.send(StatusEvent("a", "STARTING", 1000))
    await trio.testing.wait_all_tasks_blocked()
    assert s.waha.asked == ["a"]
    assert s.table.status("a") == "WORKING"
    # A session WAHA no longer knows is released on the spot.
    del s.waha.sessions["a"]
    await s.statuses.send(StatusEvent("a", "STOPPED", None))
    await trio.testing.wait_all_tasks_blocked()
    assert s.table.entry("a") is None
    assert s.keeper.forgotten == ["a"]
    assert "a" not in s.workers.running_now


async def test_failed_and_stuck_sessions_are_restarted_once_per_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(ScriptedWaha({"static": "FAILED", "slow": "STARTING"}))
    async with trio.open_nursery() as nursery:
        await nursery.start(s.monitor.run)
        await trio.sleep(1)
        assert s.waha.restarts == [(0, "static")]
        s.waha.sessions["static"] = "FAILED"  # the restart did not help
        await trio.sleep(45)  # one listing at 30 s: too early to restart again
        assert s.waha.restarts == [(0, "static")]
        await trio.sleep(30)  # listing at 60 s: "static" again, "slow" STARTING for 60 s...
        await trio.sleep(30)  # ... and at 90 s it has been STARTING too long
        nursery.cancel_scope.cancel()
    assert s.waha.restarts == [(0, "static"), (60, "static"), (90, "slow")]
    assert s.table.entry("static").restarts == 2  # type: ignore[union-attr]


async def test_waha_down_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    s = setup(ScriptedWaha({"static": "WORKING", "a": "WORKING"}, down=True), running={"static"})
    await s.monitor.poll_once()
    assert s.workers.running_now == {"static"}
    assert "could not list WAHA sessions" in caplog.text
    assert s.metrics.discovery.labels("failed")._value.get() == 1
    s.waha.down = False
    await s.monitor.poll_once()
    s.waha.fail_restart = True
    await s.monitor.apply_event(StatusEvent("a", "FAILED", None))  # asks WAHA: still WORKING
    assert s.table.status("a") == "WORKING"
    s.waha.sessions["a"] = "FAILED"
    await s.monitor.apply_event(StatusEvent("a", "FAILED", None))
    assert "restarting the session failed" in caplog.text
    assert s.waha.restarts == []


async def _calls_to_list(n: int) -> int:
    """Python calls (generator steps included) made by the first listing of n sessions."""
    waha = ScriptedWaha({f"s{i:05d}": "WORKING" for i in range(n)})
    s = setup(waha, cap=n)
    calls = await python_calls(s.monitor.poll_once)
    assert len(s.workers.running_now) == n + 1  # every session got its poller (and "static")
    return calls


async def test_a_listing_costs_the_same_per_session_however_many_there_are() -> None:
    # Counted, not timed: a scan of every session per session listed (slots, the left-out
    # queue, which pollers run) makes twice the sessions cost four times the calls.
    small, large = await _calls_to_list(1000), await _calls_to_list(2000)
    assert large / small < 2.2


async def test_sessions_with_work_waiting_get_a_poller_without_any_listing(
    nursery: trio.Nursery,
) -> None:
    """Rows left by an earlier run, or a message webhook, bring a session's poller up even when
    WAHA's session API is never asked; Signal's own queues are not sessions."""
    s = setup(ScriptedWaha(), listing=False, pending=["old", "signal:+15550000001"], cap=3)
    await nursery.start(s.monitor.run)
    await trio.testing.wait_all_tasks_blocked()
    assert s.workers.running_now == {"static", "old"}
    s.doorbells.ring("signal:+15550000002")
    s.doorbells.ring("new")
    await trio.testing.wait_all_tasks_blocked()
    assert s.workers.running_now == {"static", "old", "new"}
    assert s.waha.asked == []


async def test_a_poller_nobody_wants_is_stopped() -> None:
    s = setup(ScriptedWaha({"static": "WORKING"}), running={"static", "stray"}, discover=False)
    await s.monitor.poll_once()
    assert s.workers.log == ["-stray"]
    assert s.workers.running_now == {"static"}


async def test_the_session_api_failing_is_dated_from_its_first_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(ScriptedWaha({"static": "WORKING"}, down=True))
    await trio.sleep(5)
    await s.monitor.poll_once()
    await trio.sleep(30)
    await s.monitor.poll_once()  # still failing: the alert counts from the first failure
    assert s.table.api_failing_since == 5
    s.waha.down = False
    await s.monitor.poll_once()
    assert s.table.api_failing_since is None


async def test_a_session_stuck_starting_is_restarted_after_the_timeout_from_when_it_began(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The timeouts count from when the session began STARTING (or was last restarted), not
    from the bridge's start: a session that shows up late is not restarted early."""
    s = setup(ScriptedWaha({"static": "WORKING"}))
    async with trio.open_nursery() as nursery:
        await nursery.start(s.monitor.run)  # listings at 0, 30, 60, ...
        await trio.sleep(100)
        s.waha.sessions["slow"] = "STARTING"  # first seen by the listing at 120
        await trio.sleep(115)  # listings at 150 (30 s) and 180 (60 s: not yet over 60 s)
        assert s.waha.restarts == [(210, "slow")]  # 90 s STARTING
        s.waha.sessions["slow"] = "FAILED"  # the restart did not help
        await trio.sleep(30)  # the listing at 240: 30 s after the restart, too early
        assert s.waha.restarts == [(210, "slow")]
        await trio.sleep(30)  # at 270: 60 s after it, the next restart
        nursery.cancel_scope.cancel()
    assert s.waha.restarts == [(210, "slow"), (270, "slow")]
