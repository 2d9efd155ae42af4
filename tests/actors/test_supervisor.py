"""The supervisor restarts crashed actors with capped backoff and never swallows cancellation."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from whatsignal.actors.supervisor import RestartPolicy, supervise


async def test_restart_times_follow_capped_backoff(autojump_clock: trio.testing.MockClock) -> None:
    starts: list[float] = []

    async def crashy(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        task_status.started()
        raise RuntimeError("boom")

    crashes: list[str] = []
    policy = RestartPolicy(initial=1, factor=2, maximum=4, reset_after=100)
    with trio.move_on_after(20):
        await supervise("crashy", crashy, policy, on_crash=crashes.append)
    assert starts == [0, 1, 3, 7, 11, 15, 19]
    assert crashes == ["crashy"] * 7


async def test_backoff_resets_after_a_healthy_run(autojump_clock: trio.testing.MockClock) -> None:
    starts: list[float] = []

    async def sometimes(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        task_status.started()
        if len(starts) == 3:
            await trio.sleep(50)  # a long healthy run
        raise RuntimeError("boom")

    with trio.move_on_after(60):
        await supervise(
            "s", sometimes, RestartPolicy(initial=1, factor=2, maximum=8, reset_after=10)
        )
    # 0, +1, +2 -> 3 runs 50 s and crashes at 53, delay back to 1 -> 54, then 56 ...
    assert starts[:5] == [0, 1, 3, 54, 56]


async def test_clean_exit_is_restarted_too(autojump_clock: trio.testing.MockClock) -> None:
    runs = 0

    async def quits(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        task_status.started()

    with trio.move_on_after(3.5):
        await supervise("q", quits, RestartPolicy(initial=1, factor=1, maximum=1))
    assert runs == 4


async def test_failure_before_first_start_is_raised() -> None:
    async def broken(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise ValueError("bad config")

    with pytest.RaisesGroup(ValueError):
        await supervise("broken", broken)


async def test_cancellation_stops_child_and_supervisor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cancelled = trio.Event()

    async def forever(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(supervise, "f", forever)
        nursery.cancel_scope.cancel()
    assert cancelled.is_set()
