"""Doorbells: rings never block, pile-ups collapse, nothing rung before its owner is lost."""

from __future__ import annotations

import math

import trio
import trio.testing

from whatsignal.actors.doorbells import Doorbells


async def test_a_ring_made_before_the_owner_claims_is_kept_for_it() -> None:
    bells = Doorbells()
    bells.ring("personal")
    bells.ring("personal")  # never blocks, even with nobody listening
    bell = bells.claim("personal")
    with trio.fail_after(1):
        await bell.wait(math.inf)  # the early ring is there


async def test_rings_that_piled_up_are_answered_by_one_scan(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bells = Doorbells()
    bell = bells.claim("personal")
    for _ in range(5):
        bells.ring("personal")
    await bell.wait(math.inf)
    began = trio.current_time()
    await bell.wait(3.0)  # nothing left over: this one times out
    assert trio.current_time() - began == 3.0


async def test_unclaimed_queues_are_reported_once_in_order() -> None:
    bells = Doorbells()
    bells.claim("personal")
    bells.ring("personal")  # claimed: not news
    bells.ring("sales")
    bells.ring("support")
    bells.ring("sales")
    assert await bells.unclaimed() == ["sales", "support"]
    bells.claim("sales")
    bells.ring("sales")  # claimed now
    with trio.move_on_after(0.05) as waited:
        await bells.unclaimed()
    assert waited.cancelled_caught


async def test_waiting_for_unclaimed_wakes_on_the_first_new_ring() -> None:
    bells = Doorbells()
    found: list[list[str]] = []

    async def watch() -> None:
        found.append(await bells.unclaimed())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await trio.testing.wait_all_tasks_blocked()
        assert found == []
        bells.ring("late")
    assert found == [["late"]]


async def test_ring_all_reaches_every_known_queue() -> None:
    bells = Doorbells()
    personal, signal = bells.claim("personal"), bells.claim("signal:+15550000001")
    bells.ring_all()
    with trio.fail_after(1):
        await personal.wait(math.inf)
        await signal.wait(math.inf)


async def test_a_claim_again_is_the_same_doorbell() -> None:
    bells = Doorbells()
    first = bells.claim("personal")
    bells.ring("personal")
    second = bells.claim("personal")  # e.g. the session stopped and started again
    assert second is first
    with trio.fail_after(1):
        await second.wait(math.inf)


async def test_a_resting_owner_s_ring_is_handed_on_once_and_never_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bells = Doorbells()
    bell = bells.claim("personal")
    bells.ring("personal")
    assert not bells.park("personal")  # a ring waits: the owner must look again, not rest
    await bell.wait(math.inf)
    assert await bell.quiet(5.0)  # nothing rang for 5 s
    assert bells.park("personal")
    bells.ring("personal")
    bells.ring("personal")
    assert await bells.woken() == ["personal"]  # handed on once for both rings
    with trio.fail_after(1):
        await bell.wait(math.inf)  # and the ring is still there for the owner's next run
    assert bells.park("personal")
    bells.unpark("personal")  # the owner was stopped while resting
    bells.ring("personal")
    with trio.move_on_after(10) as waited:
        await bells.woken()
    assert waited.cancelled_caught  # no wake-up for a stopped owner


async def test_a_status_change_rings_only_queues_with_an_owner() -> None:
    bells = Doorbells()
    bell = bells.claim("personal")
    bells.ring_owned("personal")
    bells.ring_owned("nobody")
    assert bell.rung
    assert bells.queues() == {"personal"}  # nothing made, nothing unclaimed for "nobody"
