"""The Alerter's rules, in trio's virtual time: once per condition (kept in the store, so a
restart does not repeat it), after the grace period for FAILED and STOPPED, flapping folded,
the user's own /stop no alert, and messages stuck for too long."""

from __future__ import annotations

import attrs
import pytest
import trio
from call_counting import python_calls

from whatsignal.actors.alerts import Alerter, AlertSettings, stopped_by_user
from whatsignal.actors.session_table import SessionTable
from whatsignal.channels import ChannelMap, Route
from whatsignal.errors import StorageError
from whatsignal.relay.alert_notices import (
    messages_stuck,
    session_needs_you,
    session_works_again,
    waha_back,
)

ME, BRIDGE = "+15551110001", "+15550000001"
SETTINGS = AlertSettings(grace=60.0, stuck_after=900.0, api_after=90.0, settle=10.0)


@attrs.define
class MemoryStore:
    raised: dict[str, float] = attrs.Factory(dict)
    stats: dict[str, tuple[int, float]] = attrs.Factory(dict)

    async def alert_raised(self, key: str) -> bool:
        return key in self.raised

    async def raised_alerts(self) -> list[str]:
        return sorted(self.raised)

    async def raise_alert(self, key: str, *, at: float) -> None:
        self.raised.setdefault(key, at)

    async def clear_alert(self, key: str) -> None:
        self.raised.pop(key, None)

    async def pending_stats(self) -> dict[str, tuple[int, float]]:
        return dict(self.stats)


@attrs.define
class Told:
    texts: list[tuple[str, str]] = attrs.Factory(list)

    async def tell(self, bridge_number: str, recipient: str, text: str) -> bool:
        assert bridge_number == BRIDGE
        self.texts.append((recipient, text))
        return True

    def count(self, text: str) -> int:
        return sum(t == text for _, t in self.texts)


def table() -> SessionTable:
    return SessionTable(configured=frozenset({"s"}), serves=lambda _: True, discover=False, cap=1)


def alerter(
    store: MemoryStore, sessions: SessionTable, told: Told, *, held: bool = False
) -> Alerter:
    return Alerter(
        store=store,
        table=sessions,
        channels=ChannelMap({"s": Route("s", ME, BRIDGE)}),
        notices=told,
        clock=trio.current_time,
        settings=SETTINGS,
        held=lambda _: held,
        listing=True,
    )


def set_status(sessions: SessionTable, status: str) -> None:
    sessions.observe("s", status, now=trio.current_time())


NEEDS = session_needs_you("s", "SCAN_QR_CODE")
BACK = session_works_again("s")


async def test_one_alert_per_condition_flapping_folded_and_one_recovery(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    store, sessions, told = MemoryStore(), table(), Told()
    set_status(sessions, "WORKING")
    await nursery.start(alerter(store, sessions, told).run)
    set_status(sessions, "SCAN_QR_CODE")
    await trio.sleep(120)
    assert told.count(NEEDS) == 1
    # It flaps: WORKING, then logged out again, within the settle time: nothing more.
    set_status(sessions, "WORKING")
    await trio.sleep(5)
    set_status(sessions, "SCAN_QR_CODE")
    await trio.sleep(120)
    set_status(sessions, "WORKING")
    await trio.sleep(60)
    assert told.texts == [(ME, NEEDS), (ME, BACK)]
    assert store.raised == {}


@attrs.define
class FailingOnceStore(MemoryStore):
    failures: int = 1

    async def raised_alerts(self) -> list[str]:
        if self.failures:
            self.failures -= 1
            raise StorageError("the store is not running")
        return await super().raised_alerts()


async def test_a_failing_store_costs_one_look_not_the_alerter(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    store, sessions, told = FailingOnceStore(), table(), Told()
    set_status(sessions, "SCAN_QR_CODE")
    await nursery.start(alerter(store, sessions, told).run)
    await trio.sleep(30)
    assert store.failures == 0  # the first look failed ...
    assert told.texts == [(ME, NEEDS)]  # ... and a later one told it, once


async def test_a_restart_does_not_repeat_a_raised_alert(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store, sessions, told = MemoryStore(), table(), Told()
    set_status(sessions, "SCAN_QR_CODE")
    await alerter(store, sessions, told).check()
    assert told.texts == [(ME, NEEDS)]
    again = alerter(store, sessions, told)  # a new bridge process, the same database
    for _ in range(30):
        await again.check()
        await trio.sleep(1)
    assert told.texts == [(ME, NEEDS)]
    set_status(sessions, "WORKING")
    for _ in range(30):
        await again.check()
        await trio.sleep(1)
    assert told.texts == [(ME, NEEDS), (ME, BACK)]


@pytest.mark.parametrize("status", ["FAILED", "STOPPED"])
async def test_failed_or_stopped_is_told_after_the_grace_period_only(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, status: str
) -> None:
    store, sessions, told = MemoryStore(), table(), Told()
    set_status(sessions, status)
    await nursery.start(alerter(store, sessions, told).run)
    await trio.sleep(30)
    set_status(sessions, "STARTING")  # WAHA restarts it; it fails again
    await trio.sleep(20)
    set_status(sessions, status)
    assert told.texts == []
    await trio.sleep(15)  # 65 s without WORKING
    assert told.texts == [(ME, session_needs_you("s", status))]


async def test_a_session_the_user_stopped_is_no_alert(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    store, sessions, told = MemoryStore(), table(), Told()
    await store.raise_alert(stopped_by_user("s"), at=0.0)
    set_status(sessions, "STOPPED")
    await nursery.start(alerter(store, sessions, told).run)
    await trio.sleep(600)
    assert told.texts == []


async def test_the_poller_tells_the_recovery_when_it_held_replies(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store, sessions, told = MemoryStore(), table(), Told()
    set_status(sessions, "SCAN_QR_CODE")
    quiet = alerter(store, sessions, told, held=True)
    await quiet.check()
    set_status(sessions, "WORKING")
    for _ in range(30):
        await quiet.check()
        await trio.sleep(1)
    assert told.texts == [(ME, NEEDS)]  # "works again, N replies sent" is the poller's
    assert store.raised == {}


async def test_waha_failing_and_stuck_messages(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    store, sessions, told = MemoryStore(), table(), Told()
    set_status(sessions, "WORKING")
    store.stats["s"] = (2, trio.current_time())
    sessions.api_failing_since = trio.current_time()
    await nursery.start(alerter(store, sessions, told).run)
    await trio.sleep(80)
    assert told.texts == []
    await trio.sleep(20)
    assert [t for _, t in told.texts if "WAHA" in t] != []
    sessions.api_failing_since = None
    await trio.sleep(15)
    assert told.count(waha_back()) == 1
    await trio.sleep(900)
    assert told.count(messages_stuck("s", 2, 15)) == 1
    del store.stats["s"]
    await trio.sleep(60)
    assert sum("have gone" in t for _, t in told.texts) == 1
    assert len([t for _, t in told.texts if "WAHA" in t]) == 2


async def _calls_per_look(working: int) -> int:
    """Python calls of one look, once settled, with ``working`` idle WORKING sessions besides
    one that needs a human."""
    sessions = SessionTable(
        configured=frozenset(), serves=lambda _: True, discover=True, cap=working + 1
    )
    for i in range(working):
        sessions.observe(f"w{i:05d}", "WORKING", now=0)
    sessions.observe("s", "SCAN_QR_CODE", now=0)
    store, told = MemoryStore(), Told()
    watcher = Alerter(
        store=store,
        table=sessions,
        channels=ChannelMap({}, default=Route("*", ME, BRIDGE)),
        notices=told,
        clock=trio.current_time,
        settings=SETTINGS,
        held=lambda _: False,
        listing=True,
    )
    await watcher.check()  # the first look reads the store and tells
    assert told.texts == [(ME, NEEDS)]
    calls = await python_calls(watcher.check)
    return calls


async def test_a_look_costs_nothing_per_idle_working_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Counted, not timed: the alerter looks every second, so work per idle session there
    # is idle CPU that grows with the number of sessions.
    assert await _calls_per_look(2000) == await _calls_per_look(10)
