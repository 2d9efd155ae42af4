"""Doorbells: how whoever adds work to a journal queue tells the queue's owner to look again.

The journal is the queue; a doorbell says "look again", or hands over rows just journaled
(:meth:`Doorbell.hand`, in commit order) so that the owner need not read them back. Each queue
(a WAHA session, or ``signal:<number>`` for a bridge number's envelopes waiting to be routed)
has one doorbell: a flag, so a ring never blocks, rings that pile up collapse into one scan, and
a ring made while the owner restarts waits for the next run. A lost ring would lose nothing
either (the rows are in the journal), only time.

:class:`Doorbells` is built first, before anything that rings or answers, and handed to the
intake, the receivers' routing loops and the admin operations (which only ring, through
:class:`whatsignal.intake.Ring`), and to the registry (which claims each session's
:class:`Doorbell` for its poller). A session served by the ``"*"`` channel has no poller until
its first work arrives: a ring of a queue nobody has claimed is remembered, and the registry
learns of it through :meth:`Doorbells.unclaimed`.

An owner with nothing to do may *rest* (:meth:`Doorbells.park`): it ends its task, and the next
ring of its queue (or rows handed to it) is handed to whoever waits on :meth:`Doorbells.woken`
(the registry, which starts the owner again), so a resting session costs no task at all.
Parking fails when a ring came in meanwhile: the owner then looks again instead.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import attrs
import trio

from whatsignal.storage import InboundEvent, JournalRow

__all__ = ["HANDED_MAX", "Doorbell", "Doorbells", "Hand", "Look"]


class Hand(Protocol):
    """Hands rows just committed to their queue's owner, waking it (the doorbells); never
    blocks."""

    def hand(self, queue: str, rows: Iterable[JournalRow]) -> None: ...


class Look(enum.IntEnum):
    """What the owner must look at again (the larger wins when rings pile up)."""

    NOTHING = 0
    """Only nudged or handed rows: what it holds in memory is still right."""
    NEW_ROWS = 1
    """Rows were added to the queue (journaled, or requeued to its end: new ids)."""
    ANY_ROW = 2
    """Rows it may hold were changed (an operator made them due, or pending again)."""


HANDED_MAX = 4096
"""Rows a doorbell keeps for its owner; past that it drops them and says "look again"."""


@attrs.define(eq=False)
class Doorbell:
    """One queue's doorbell, as its owner holds it."""

    queue: str
    _rung: bool = attrs.field(default=False, init=False)
    _waiting: trio.Event | None = attrs.field(default=None, init=False)
    _look: Look = attrs.field(default=Look.NOTHING, init=False)
    _handed: list[JournalRow] = attrs.field(factory=list, init=False)

    @property
    def rung(self) -> bool:
        """Whether a ring (or a nudge, or handed rows) waits to be answered."""
        return self._rung

    def ring(self, *, changed: bool = False) -> None:
        """Ask the owner to look again (already rung: one scan answers both): for rows added
        to the queue, or (``changed``) for any of its rows, which an update in place needs."""
        self._look = max(self._look, Look.ANY_ROW if changed else Look.NEW_ROWS)
        self.nudge()

    def hand(self, rows: Iterable[JournalRow]) -> None:
        """Give the owner rows just journaled for it, in commit order (and wake it)."""
        self._handed.extend(rows)
        if len(self._handed) > HANDED_MAX:  # an owner that does not take them: it will look
            self._handed.clear()
            self._look = max(self._look, Look.NEW_ROWS)
        self.nudge()

    def nudge(self) -> None:
        """Wake the owner without news: what it holds in memory may be due now."""
        self._rung = True
        if self._waiting is not None:
            self._waiting.set()

    def take(self) -> tuple[Look, list[JournalRow]]:
        """What came since the last call: what to look at again, and the rows handed over."""
        look, handed = self._look, self._handed
        self._look, self._handed = Look.NOTHING, []
        return look, handed

    async def wait(self, delay: float) -> None:
        """Wait until the doorbell rings or ``delay`` seconds pass (``math.inf``: only a ring).

        Rings that piled up meanwhile are swallowed: the scan that follows answers all of them.
        """
        await self._wait(delay)
        self._rung = False

    async def quiet(self, delay: float) -> bool:
        """Whether ``delay`` seconds passed without a ring. A ring is swallowed (the caller
        looks again); one that comes after the time ran out is kept for :meth:`Doorbells.park`.
        """
        if await self._wait(delay):
            self._rung = False
            return False
        return True

    async def _wait(self, delay: float) -> bool:
        if self._rung:
            await trio.lowlevel.checkpoint()
            return True
        waiting = self._waiting = trio.Event()
        try:
            with trio.move_on_after(delay):
                await waiting.wait()
        finally:
            self._waiting = None
        return waiting.is_set()


@attrs.define(eq=False)
class _News:
    """Queues to hand to one waiter, in the order they came, each once."""

    _queues: dict[str, None] = attrs.field(factory=dict, init=False)
    _arrived: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __contains__(self, queue: str) -> bool:
        return queue in self._queues

    def __iter__(self) -> Iterator[str]:
        return iter(self._queues)

    def add(self, queue: str) -> None:
        self._queues[queue] = None
        self._arrived.set()

    def discard(self, queue: str) -> None:
        self._queues.pop(queue, None)

    async def take(self) -> list[str]:
        while not self._queues:
            await self._arrived.wait()
            self._arrived = trio.Event()
        found = list(self._queues)
        self._queues.clear()
        return found


@attrs.define(eq=False)
class Doorbells:
    """Every queue's doorbell, made on first use."""

    _bells: dict[str, Doorbell] = attrs.field(factory=dict, init=False)
    _claimed: set[str] = attrs.field(factory=set, init=False)
    _unclaimed: _News = attrs.field(factory=_News, init=False)
    _parked: set[str] = attrs.field(factory=set, init=False)
    _woken: _News = attrs.field(factory=_News, init=False)

    def _bell(self, queue: str) -> Doorbell:
        bell = self._bells.get(queue)
        if bell is None:
            bell = self._bells[queue] = Doorbell(queue)
        return bell

    def ring(self, queue: str) -> None:
        """Tell the queue's owner there is work: rows added to it (new ids, as journaling or
        a requeue to the end gives; a change in place needs :meth:`ring_all`). If nobody owns
        it yet, remember it for :meth:`unclaimed`; if its owner rests, hand it to
        :meth:`woken`."""
        self._bell(queue).ring()
        self._noted(queue)

    def hand(self, queue: str, rows: Iterable[JournalRow]) -> None:
        """Hand rows just journaled for ``queue`` to its owner (see :meth:`ring`)."""
        self._bell(queue).hand(rows)
        self._noted(queue)

    def fresh(self, events: Sequence[InboundEvent], ids: Sequence[int | None]) -> None:
        """The journal's ``committed`` hook for ``events``: hand each row it made (its id not
        None) to its queue's owner."""
        for event, row_id in zip(events, ids, strict=True):
            if row_id is not None:
                self.hand(event.queue, [event.as_row(row_id)])

    def _noted(self, queue: str) -> None:
        if queue in self._parked:
            self._parked.discard(queue)
            self._woken.add(queue)
        elif queue not in self._claimed and queue not in self._unclaimed:
            self._unclaimed.add(queue)

    def ring_owned(self, queue: str) -> None:
        """Ring the queue only if an owner claimed it (a status change of a session: one
        without a poller has nothing to look at)."""
        if queue in self._claimed:
            self.ring(queue)

    def ring_all(self) -> None:
        """Ring every known queue for any of its rows (after an operator made old rows due
        again, or pending again)."""
        for queue in list(self._bells):
            self._bell(queue).ring(changed=True)
            self._noted(queue)

    def claim(self, queue: str) -> Doorbell:
        """The doorbell of ``queue`` for its owner (the same one on every claim, so a ring made
        while an owner restarts or comes back is kept for it)."""
        self._claimed.add(queue)
        self._unclaimed.discard(queue)
        return self._bell(queue)

    def park(self, queue: str) -> bool:
        """The queue's owner rests (has no task): its next ring goes to :meth:`woken`.
        False, and nothing changes, when a ring waits already (the owner looks again)."""
        if self._bell(queue).rung:
            return False
        self._parked.add(queue)
        return True

    def unpark(self, queue: str) -> None:
        """The owner of ``queue`` no longer rests (it was stopped): no wake-up for it."""
        self._parked.discard(queue)
        self._woken.discard(queue)

    def queues(self) -> set[str]:
        """Every queue that has a doorbell now (claimed or waiting to be)."""
        return set(self._bells) | set(self._unclaimed)

    def forget(self, queue: str) -> None:
        """The queue's session is gone: drop its doorbell. A later ring (a session of that
        name created again) starts from scratch, as unclaimed."""
        self._bells.pop(queue, None)
        self._claimed.discard(queue)
        self._unclaimed.discard(queue)
        self.unpark(queue)

    async def unclaimed(self) -> list[str]:
        """Wait until queues nobody has claimed were rung; returns them (oldest first), once."""
        return await self._unclaimed.take()

    async def woken(self) -> list[str]:
        """Wait until queues whose owner rests were rung; returns them (oldest first), once."""
        return await self._woken.take()
