"""Rows handed to a session's poller in memory (actors/lanes.py, the doorbell's ``hand``): they
start without the journal being read back, in their chat's order; a ring still makes the poller
read the journal; a read racing with rows in flight neither repeats nor loses one."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing
from test_session_poller import Setup, fails, journal_row, setup

from whatsignal.actors.doorbells import HANDED_MAX, Doorbells, Look
from whatsignal.actors.lanes import PendingLanes
from whatsignal.reliability import Failure
from whatsignal.storage import InboundEvent, JournalRow, PendingSnapshot


def row(row_id: int, chat: str | None = "a@c.us", *, source: str = "whatsapp") -> JournalRow:
    return journal_row(row_id, chat, source=source)


def heads(lanes: PendingLanes) -> list[int]:
    return [r.id for r in lanes.heads()]


# PendingLanes -----------------------------------------------------------------------------------


def test_a_complete_snapshot_gives_each_lanes_oldest_row_first() -> None:
    lanes = PendingLanes()
    lanes.begin_read(())
    lanes.load(PendingSnapshot([row(1), row(2), row(3, "b"), row(4, None)], True, 4), [])
    assert lanes.exact and len(lanes) == 4
    assert heads(lanes) == [1, 3, 4]
    lanes.take(row(1))
    assert heads(lanes) == [2, 3, 4]


def test_handed_rows_join_their_lane_once_and_only_when_newer_than_the_read() -> None:
    lanes = PendingLanes()
    lanes.begin_read(())
    # 5 was committed before the read (it is in the snapshot); 7 after it.
    lanes.load(PendingSnapshot([row(5)], True, 6), [row(5), row(7)])
    lanes.absorb([row(7), row(8, "b")])  # 7 again: ignored
    assert len(lanes) == 3
    assert heads(lanes) == [5, 8]


def test_a_row_in_flight_during_a_read_is_decided_by_its_outcome() -> None:
    lanes = PendingLanes()
    lanes.begin_read(())
    lanes.load(PendingSnapshot([row(1), row(2, "b")], True, 2), [])
    lanes.take(row(1))
    lanes.take(row(2, "b"))
    lanes.begin_read({1, 2})
    # Both finish while the read is in flight; the read still saw them pending.
    lanes.settle(row(1), None)  # done: must not run again
    lanes.settle(row(2, "b"), attrs.evolve(row(2, "b"), next_attempt_at=9.0))  # to retry
    lanes.load(PendingSnapshot([row(1), row(2, "b"), row(3)], True, 3), [])
    assert heads(lanes) == [2, 3]
    # A row still in flight when the read lands stays out until it settles.
    lanes.take(row(2, "b"))
    lanes.begin_read({2})
    lanes.load(PendingSnapshot([row(2, "b"), row(3)], True, 3), [])
    assert heads(lanes) == [3]
    lanes.settle(row(2, "b"), row(2, "b"))
    assert heads(lanes) == [2, 3]


def test_rows_read_above_the_last_read_join_once_with_those_handed_meanwhile() -> None:
    lanes = PendingLanes()
    lanes.begin_read(())
    lanes.load(PendingSnapshot([row(1)], True, 3), [])
    assert lanes.read_upto == 3
    lanes.absorb([row(9, "c")])  # handed over: it does not move the mark (see the next test)
    assert lanes.read_upto == 3
    lanes.take(row(9, "c"))  # and it is in flight when the read comes back
    lanes.extend(
        PendingSnapshot([row(4), row(5, "b"), row(9, "c")], True, 9), [row(5, "b"), row(10)]
    )
    assert len(lanes) == 4 and lanes.read_upto == 9
    assert heads(lanes) == [1, 5]
    lanes.extend(PendingSnapshot([row(11), row(12)], False, 20), [])  # maybe more than read
    assert not lanes.exact


def test_a_row_requeued_before_a_handed_one_but_rung_after_it_is_still_read() -> None:
    lanes = PendingLanes()
    lanes.begin_read(())
    lanes.load(PendingSnapshot([], True, 50), [])
    lanes.absorb([row(61)])  # handed over at once, on its commit
    # Row 60 (requeued to the end, committed before 61) is rung for only now.
    lanes.extend(PendingSnapshot([row(60, "r", source="signal"), row(61)], True, 61), [])
    assert heads(lanes) == [60, 61]


def test_an_incomplete_snapshot_or_too_many_rows_stop_memory_being_exact() -> None:
    lanes = PendingLanes(limit=3)
    lanes.begin_read(())
    lanes.load(PendingSnapshot([row(1), row(4, "b")], False, 9), [])
    assert not lanes.exact
    lanes.absorb([row(10)])  # not exact: the next read finds it
    assert heads(lanes) == [1, 4]
    lanes.begin_read(())
    lanes.load(PendingSnapshot([row(1), row(2)], True, 2), [row(3), row(4)])
    assert not lanes.exact  # the fourth row went over the limit


# The poller -------------------------------------------------------------------------------------


def awake(**options: Any) -> Setup:
    """A poller that never rests: what it holds in memory is what these tests look at (resting
    and waking again are the registry's, tested with it)."""
    return setup(rest_after=math.inf, **options)


@asynccontextmanager
async def running(s: Setup) -> AsyncIterator[None]:
    """The poller runs for the block (then it is cancelled)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(s.poller.run)
        yield
        nursery.cancel_scope.cancel()


def hand(s: Setup, row_id: int, chat: str | None) -> None:
    """What the intake does: journal the row, then hand it over (in commit order)."""
    s.journal.add(row_id, chat)
    s.doorbells.hand("personal", [s.journal.rows[row_id]])


async def test_handed_rows_start_in_chat_order_without_reading_the_journal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()
    async with running(s):
        await trio.sleep(1)
        assert s.journal.snapshots == 1  # the read at start
        for n in (1, 2, 3):
            hand(s, n, "a@c.us")
        hand(s, 4, "b@c.us")
        await trio.sleep(10)
    assert sorted(s.relay.calls) == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 1.0)]
    assert [s.journal.state(n) for n in (1, 2, 3, 4)] == [("done", 0)] * 4
    assert s.journal.snapshots == 1


async def test_a_ring_makes_the_poller_read_rows_nobody_handed_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()
    async with running(s):
        await trio.sleep(1)
        s.journal.add(1, "a@c.us")  # requeued into the session by the routing loop, say
        s.doorbells.ring("personal")
        await trio.sleep(5)
    assert s.relay.calls == [(1, 1.0)]
    # Rows added to the queue have new ids: only those above the last read are read.
    assert (s.journal.snapshots, s.journal.reads_after) == (1, 1)


async def test_ring_all_makes_the_poller_read_every_row_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()
    s.journal.add(1, "a@c.us")
    s.journal.rows[1] = attrs.evolve(s.journal.rows[1], state="dead")
    s.journal.add(2, "b@c.us")
    async with running(s):
        await trio.sleep(5)
        # An operator makes the dead row 1 pending again: an old id, changed in place.
        s.journal.rows[1] = attrs.evolve(s.journal.rows[1], state="pending")
        s.doorbells.ring_all()
        await trio.sleep(5)
    assert s.relay.calls == [(2, 0.0), (1, 5.0)]
    assert s.journal.snapshots == 2


async def test_a_handed_row_that_fails_is_retried_from_memory(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()
    s.relay.script[1] = [fails(Failure.TRANSIENT)]
    async with running(s):
        hand(s, 1, "a@c.us")
        hand(s, 2, "a@c.us")
        await trio.sleep(10)
    # 1 fails after 1 s, waits its 1 s backoff, then goes; 2 only after it.
    assert s.relay.calls == [(1, 0.0), (1, 2.0), (2, 3.0)]
    assert s.journal.snapshots == 1


async def test_a_restarted_poller_reads_the_journal_and_repeats_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()
    async with running(s):
        hand(s, 1, "a@c.us")
        await trio.sleep(5)
    # Handed over again while nobody ran (a stale copy), and one row journaled meanwhile.
    s.doorbells.hand("personal", [s.journal.rows[1]])
    s.journal.add(2, "a@c.us")
    async with running(s):
        await trio.sleep(5)
    assert s.relay.calls == [(1, 0.0), (2, 5.0)]


async def test_a_ring_during_the_read_makes_the_poller_read_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()

    def meanwhile() -> None:
        if s.journal.snapshots == 1:
            s.journal.add(7, "b@c.us")  # journaled and rung after the read saw the journal
            s.doorbells.ring("personal")

    s.journal.after_read = meanwhile
    async with running(s):
        await trio.sleep(5)
    assert s.relay.calls == [(7, 0.0)]
    assert (s.journal.snapshots, s.journal.reads_after) == (1, 1)


async def test_a_requeued_row_rung_after_a_newer_handed_row_still_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = awake()
    async with running(s):
        await trio.sleep(1)
        s.journal.add(60, "r@c.us", source="signal")  # requeued: committed first...
        hand(s, 61, "a@c.us")  # ...a newer WhatsApp row handed over at once...
        await trio.sleep(0.5)
        s.doorbells.ring("personal")  # ...and the routing loop's ring comes only now
        await trio.sleep(5)
    assert s.relay.calls == [(61, 1.0), (60, 1.5)]
    assert s.journal.state(60) == ("done", 0)


def test_a_doorbell_nobody_takes_from_drops_its_rows_for_a_read() -> None:
    bells = Doorbells()
    bells.hand("nobody-yet", [row(n) for n in range(HANDED_MAX + 1)])
    look, handed = bells.claim("nobody-yet").take()
    assert (look, handed) == (Look.NEW_ROWS, [])


async def test_a_row_waiting_for_its_journal_write_holds_back_no_other_chat(
    autojump_clock: trio.testing.MockClock,
) -> None:
    s = setup(concurrency=1)  # one send at a time
    s.journal.commit_takes = 5.0  # a slow disk
    s.journal.add(1, "a@c.us")
    s.journal.add(2, "a@c.us")
    s.journal.add(3, "b@c.us")
    async with running(s):
        await trio.sleep(20)
    # One chat's send follows the other's at once (either may go first); a's next row waits
    # until a's first is done: its send (1 s) and its journal write (5 s).
    starts = dict(s.relay.calls)
    assert sorted([starts[1], starts[3]]) == [0.0, 1.0]
    assert starts[2] == starts[1] + 6.0


def test_the_journals_hook_hands_over_the_rows_it_made_and_not_redeliveries() -> None:
    bells = Doorbells()
    bell = bells.claim("personal")
    made, again = (
        InboundEvent("whatsapp", f"wa:msg:{n}", "personal", "a@c.us", "message", b"{}", 1.0)
        for n in (1, 2)
    )
    bells.fresh([made, again], [5, None])
    look, handed = bell.take()
    assert look is Look.NOTHING
    assert [(r.id, r.key, r.state, r.attempts) for r in handed] == [(5, "wa:msg:1", "pending", 0)]
