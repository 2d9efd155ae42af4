"""The registry: pollers of the configured sessions, restarts that stay in their session,
stopping and starting again, and receivers that count as started once they receive. (Which
other sessions get a poller is the session monitor's decision: tests/actors/test_session_*.)"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import NoReturn

import attrs
import pytest
import trio
import trio.testing

from whatsignal.actors.doorbells import Doorbell, Doorbells
from whatsignal.actors.registry import PollerRegistry
from whatsignal.actors.supervisor import RestartPolicy
from whatsignal.errors import StorageError
from whatsignal.metrics import Metrics


@attrs.define(eq=False)
class FakePoller:
    """Counts its runs and the rings it answered; crashes on demand."""

    session: str
    doorbell: Doorbell
    busy: set[str] = attrs.Factory(set)
    runs: int = 0
    rings: int = 0
    crash_next: bool = False
    cancelled: bool = False

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        self.runs += 1
        task_status.started()
        try:
            while True:
                await self.doorbell.wait(math.inf)
                self.rings += 1
                if self.crash_next:
                    self.crash_next = False
                    raise RuntimeError("a bug")
        except trio.Cancelled:
            self.cancelled = True
            raise


@attrs.define(eq=False)
class FakeReceiver:
    """Reports started only when told to; may crash before that."""

    number: str
    mode: str = "websocket"
    connected: bool = False
    go: trio.Event = attrs.Factory(trio.Event)
    crash_first: bool = False
    runs: int = 0

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        self.runs += 1
        if self.crash_first and self.runs == 1:
            raise OSError("signal-cli not there yet")
        await self.go.wait()
        self.connected = True
        task_status.started()
        await trio.sleep_forever()


@attrs.define
class World:
    registry: PollerRegistry
    doorbells: Doorbells
    pollers: dict[str, list[FakePoller]]
    metrics: Metrics


def make(
    *,
    sessions: tuple[str, ...] = ("personal",),
    receivers: tuple[FakeReceiver, ...] = (),
    pending: tuple[str, ...] | None = None,
) -> World:
    doorbells, metrics = Doorbells(), Metrics()
    with_rows = sessions if pending is None else pending

    async def queues_with_pending() -> list[str]:
        return sorted(with_rows)

    pollers: dict[str, list[FakePoller]] = {}

    def make_poller(session: str, doorbell: Doorbell) -> FakePoller:
        poller = FakePoller(session, doorbell)
        pollers.setdefault(session, []).append(poller)
        return poller

    registry = PollerRegistry(
        doorbells=doorbells,
        sessions=sessions,
        make_poller=make_poller,
        receivers=receivers,
        pending=queues_with_pending,
        metrics=metrics,
        restart=RestartPolicy(initial=1, maximum=4),
    )
    return World(registry, doorbells, pollers, metrics)


async def test_configured_sessions_get_pollers_that_look_at_their_rows(
    nursery: trio.Nursery,
) -> None:
    w = make(sessions=("personal", "business"))
    await nursery.start(w.registry.run)
    await trio.testing.wait_all_tasks_blocked()
    assert w.registry.running() == ["business", "personal"]
    assert all(p[0].rings == 1 for p in w.pollers.values())  # each looked at its rows once
    w.doorbells.ring("sales")  # work for a session nobody polls: the monitor's decision
    await trio.testing.wait_all_tasks_blocked()
    assert w.registry.running() == ["business", "personal"]
    assert await w.doorbells.unclaimed() == ["sales"]


async def test_a_crash_restarts_that_session_only(autojump_clock: trio.testing.MockClock) -> None:
    w = make(sessions=("personal", "business"))
    async with trio.open_nursery() as nursery:
        await nursery.start(w.registry.run)
        await trio.testing.wait_all_tasks_blocked()
        personal, business = w.pollers["personal"][0], w.pollers["business"][0]
        personal.crash_next = True
        w.doorbells.ring("personal")
        await trio.sleep(0.5)
        assert w.registry.crashes("personal") == (1, True)  # backing off: restarting
        await trio.sleep(1.0)  # restarted after the policy's first delay (1 s)
        assert personal.runs == 2
        assert business.runs == 1 and not business.cancelled
        assert w.metrics.restarts.labels("worker[personal]")._value.get() == 1
        assert w.registry.crashes("personal") == (1, False)  # restarted: running again
        assert w.registry.running() == ["business", "personal"]
        nursery.cancel_scope.cancel()


async def test_a_stopped_session_can_start_again_at_once(nursery: trio.Nursery) -> None:
    w = make(sessions=(), pending=("late",))
    await nursery.start(w.registry.run)
    w.registry.start("late")
    await trio.testing.wait_all_tasks_blocked()
    first = w.pollers["late"][0]
    w.registry.stop("late")
    assert w.registry.running() == []  # not running from the moment it was stopped
    w.registry.start("late")  # the monitor saw it come back before the old one ended
    await trio.testing.wait_all_tasks_blocked()
    assert first.cancelled
    assert len(w.pollers["late"]) == 2
    assert w.registry.running() == ["late"]
    assert w.registry.snapshot()["workers"] == {"late": {"in_flight": 0}}


async def test_starting_outside_a_run_is_an_error() -> None:
    w = make()
    with pytest.raises(RuntimeError, match="not running"):
        w.registry.start("personal")


async def test_receiving_waits_for_every_receiver_to_receive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    early, late = FakeReceiver("+15550000001"), FakeReceiver("+15550000002", crash_first=True)
    w = make(receivers=(early, late))
    async with trio.open_nursery() as nursery:
        await nursery.start(w.registry.run)  # does not wait for the receivers
        done = trio.Event()

        async def wait_receiving() -> None:
            await w.registry.receiving()
            done.set()

        nursery.start_soon(wait_receiving)
        early.go.set()
        await trio.sleep(5)
        assert not done.is_set()
        late.go.set()
        await trio.sleep(5)
        assert done.is_set()
        assert late.runs == 2  # a crash before it received was restarted, not fatal
        assert w.registry.snapshot()["receivers"] == {
            "********0001": {"mode": "websocket", "connected": True},
            "********0002": {"mode": "websocket", "connected": True},
        }
        nursery.cancel_scope.cancel()


@attrs.define(eq=False)
class RestingPoller(FakePoller):
    """Answers rings; rests (returns) after one quiet second, as the real poller does."""

    async def run(  # type: ignore[override]
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.runs += 1
        task_status.started()
        while not await self.doorbell.quiet(1.0):
            self.rings += 1


def resting(
    pending: Callable[[], Awaitable[list[str]]], sessions: tuple[str, ...] = ()
) -> tuple[PollerRegistry, Doorbells, dict[str, RestingPoller]]:
    """A registry of resting pollers; the journal's answer is ``pending``."""
    doorbells, pollers = Doorbells(), dict[str, RestingPoller]()

    def make_poller(session: str, doorbell: Doorbell) -> RestingPoller:
        pollers[session] = RestingPoller(session, doorbell)
        return pollers[session]

    registry = PollerRegistry(
        doorbells=doorbells,
        sessions=sessions,
        make_poller=make_poller,
        receivers=(),
        pending=pending,
        metrics=Metrics(),
    )
    return registry, doorbells, pollers


async def test_idle_sessions_rest_without_a_task_and_a_ring_wakes_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    asked: list[int] = []

    async def pending() -> list[str]:
        asked.append(1)
        return ["s0003"]  # rows from an earlier run

    registry, doorbells, pollers = resting(pending)
    async with trio.open_nursery() as nursery:
        await nursery.start(registry.run)
        for i in range(1000):
            registry.start(f"s{i:04d}")
        await trio.sleep(0.5)
        assert asked == [1]  # one question to the journal for the whole batch
        assert registry.awake() == 1  # only the session with rows has a task
        assert pollers["s0003"].rings == 1 and pollers["s0004"].runs == 0
        assert len(registry.running()) == 1000  # every session has its poller all the same
        await trio.sleep(2)
        assert registry.awake() == 0  # it rested
        doorbells.ring("s0500")  # a message for a resting session
        await trio.sleep(0.5)
        assert pollers["s0500"].rings == 1 and registry.awake() == 1
        registry.stop("s0500")  # stopped while awake: its task ends
        await trio.sleep(0.1)
        assert registry.awake() == 0 and "s0500" not in registry.running()
        registry.stop("s0004")  # stopped while resting: a ring no longer wakes it
        doorbells.ring("s0004")
        await trio.sleep(0.1)
        assert registry.awake() == 0 and pollers["s0004"].runs == 0
        nursery.cancel_scope.cancel()


async def test_when_the_journal_cannot_say_which_sessions_have_rows_each_looks_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def failing() -> list[str]:
        raise StorageError("the store is not running")

    registry, _, pollers = resting(failing, ("personal", "business"))
    async with trio.open_nursery() as nursery:
        await nursery.start(registry.run)
        await trio.sleep(0.5)
        assert [p.rings for p in pollers.values()] == [1, 1]  # nothing waits unseen
        nursery.cancel_scope.cancel()


async def test_crashes_are_counted_per_session_and_forgotten_when_it_stops(
    autojump_clock: trio.testing.MockClock,
) -> None:
    w = make(sessions=("personal", "business"))
    async with trio.open_nursery() as nursery:
        await nursery.start(w.registry.run)
        await trio.testing.wait_all_tasks_blocked()
        assert w.registry.crashes("personal") == (0, False)  # never crashed
        for expected in (1, 2):
            w.pollers["personal"][-1].crash_next = True
            w.doorbells.ring("personal")
            await trio.sleep(0.5)
            assert w.registry.crashes("personal") == (expected, True)
            await trio.sleep(5)  # restarted after its backoff
        assert w.registry.crashes("business") == (0, False)
        w.pollers["personal"][-1].crash_next = True
        w.doorbells.ring("personal")
        await trio.sleep(0.5)
        w.registry.stop("personal")  # gone from WAHA while it was waiting to restart
        assert w.registry.crashes("personal") == (0, False)
        await trio.sleep(10)
        assert w.registry.running() == ["business"]  # a stopped session is not restarted
        nursery.cancel_scope.cancel()
