"""PendingLanes: what a session's poller holds in memory of its queue's pending rows.

The journal stays the source of truth; this is a copy that spares the poller a read of the
journal for every message. It is **exact** (every pending row of the queue that is not in
flight, per lane, in id order) only when all of the following hold:

- it was loaded from a complete :class:`~whatsignal.storage.PendingSnapshot` (the queue had
  fewer pending rows than the read's limit);
- since then, every row journaled for the queue was handed over by the intake, in commit order
  (:meth:`absorb`), or read from the journal when a ring said rows were added (the Signal
  routing loop's requeue gives them new ids, so :meth:`extend` reads above the journal's
  highest id at the last read: a requeued row may commit before a handed one and ring after
  it, so what was handed over never moves that mark); anything that changes rows in place
  (an operator's retry) rings for a fresh snapshot;
- the poller reports each outcome of a row it started (:meth:`settle`).

While it is not exact (a large backlog: only the lanes' heads were read, or more than
``limit`` rows would be held), the poller reads a snapshot every time it wakes, as it always
did, and handed rows are ignored (the next read finds them).

A snapshot read races with rows in flight: a row may finish after the read saw it pending. So
the rows in flight when the read was issued are left out of what it returned; their outcome
decides (:meth:`settle` during the read is remembered, after it goes straight to memory). Rows
handed over while the read was in flight are kept only if journaled after it (id above its
watermark): the others are in the snapshot already, or no longer pending. The ids handed over
since the last read are remembered until the next one (at most ``limit``; then a fresh
snapshot), so that a read never brings back a row handed over before.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

import attrs

from whatsignal.actors.doorbells import Doorbell, Look
from whatsignal.storage import Journal, JournalRow, PendingSnapshot

__all__ = ["READ_LIMIT", "PendingLanes", "lane_of"]

READ_LIMIT = 1024
"""The most pending rows a poller reads at once (more: it reads only the chats' oldest)."""


def lane_of(row: JournalRow) -> str:
    """A row's lane: its chat in its direction (a chat-less row is a lane of its own)."""
    return f"{row.source}:{row.chat or f'#{row.id}'}"


@attrs.define(eq=False)
class PendingLanes:
    """The poller's copy of its pending rows (see the module docstring).

    Args:
        limit: the most rows held; past it the copy stops being exact.
    """

    limit: int = 4096
    exact: bool = attrs.field(default=False, init=False)
    _lanes: dict[str, list[JournalRow]] = attrs.field(factory=dict, init=False)
    _size: int = attrs.field(default=0, init=False)
    _read_upto: int = attrs.field(default=0, init=False)
    _known: set[int] = attrs.field(factory=set, init=False)
    """Ids above ``_read_upto`` that were handed over (in memory, in flight or done)."""
    _reading: dict[int, JournalRow | None] | None = attrs.field(default=None, init=False)
    _running_at_read: frozenset[int] = attrs.field(default=frozenset(), init=False)

    def __len__(self) -> int:
        return self._size

    async def refresh(self, journal: Journal, doorbell: Doorbell, running: Iterable[int]) -> None:
        """Bring memory up to date with what came through ``doorbell`` (its queue's): rows
        handed over; rows added to the journal since (rung for new rows: read above the
        watermark); or a snapshot of it (rung for any row, or memory not exact). ``running``:
        the ids of the rows in flight now."""
        look, handed = doorbell.take()
        if self.exact and look is Look.NOTHING:
            self.absorb(handed)
            return
        if self.exact and look is Look.NEW_ROWS:
            added = await journal.pending_after(doorbell.queue, self._read_upto, limit=READ_LIMIT)
            look, meanwhile = doorbell.take()
            self.extend(added, [*handed, *meanwhile])
        else:
            self.begin_read(running)
            snapshot = await journal.pending_snapshot(doorbell.queue, limit=READ_LIMIT)
            look, meanwhile = doorbell.take()
            self.load(snapshot, [*handed, *meanwhile])
        if look is not Look.NOTHING:  # rung during the read: read once more
            doorbell.ring(changed=look is Look.ANY_ROW)

    def heads(self) -> Iterator[JournalRow]:
        """The first row of each lane, by id."""
        return iter(sorted((rows[0] for rows in self._lanes.values()), key=lambda r: r.id))

    def take(self, row: JournalRow) -> None:
        """``row`` (a head) is started: it leaves memory until :meth:`settle`."""
        lane = lane_of(row)
        rows = self._lanes[lane]
        assert rows[0].id == row.id, "only a lane's head is started"
        del rows[0]
        self._size -= 1
        if not rows:
            del self._lanes[lane]

    def begin_read(self, running: Iterable[int]) -> None:
        """A snapshot read is issued while the rows ``running`` are in flight."""
        self._reading = {}
        self._running_at_read = frozenset(running)

    def load(self, snapshot: PendingSnapshot, handed: Iterable[JournalRow]) -> None:
        """Replace memory with ``snapshot`` (read after :meth:`begin_read`) and the rows handed
        over since that call."""
        reading = self._reading or {}
        self._reading = None
        self._lanes, self._size = {}, 0
        for row in snapshot.rows:
            if row.id not in self._running_at_read:
                self._insert(row)
        for again in reading.values():
            if again is not None:
                self._insert(again)
        self._read_upto, self._known = snapshot.watermark, set()
        self.exact = snapshot.complete
        self.absorb(handed)

    @property
    def read_upto(self) -> int:
        """The journal's highest id at the last read: rows above it were not read yet."""
        return self._read_upto

    def extend(self, added: PendingSnapshot, handed: Iterable[JournalRow]) -> None:
        """Add the rows read above :attr:`read_upto` (``added``, read after the handed rows
        taken before it were absorbed) and those handed over meanwhile, each once: a row
        handed over before is in memory, in flight or done already."""
        fresh = {r.id: r for r in [*added.rows, *handed] if r.id not in self._known}
        self.absorb(fresh[i] for i in sorted(fresh))
        self._read_upto = max(self._read_upto, added.watermark)
        self._known = {i for i in self._known if i > self._read_upto}
        self.exact = self.exact and added.complete

    def absorb(self, handed: Iterable[JournalRow]) -> None:
        """Rows the intake handed over, in commit order; kept only while exact."""
        for row in handed:
            if not self.exact:
                return
            if row.id > self._read_upto and row.id not in self._known:
                self._known.add(row.id)
                self._insert(row)

    def settle(self, row: JournalRow, again: JournalRow | None) -> None:
        """A row in flight reached an outcome: ``again`` is it still pending (to try later),
        None if it is done or dead."""
        if self._reading is not None and row.id in self._running_at_read:
            self._reading[row.id] = again
        elif again is not None:
            self._insert(again)

    def _insert(self, row: JournalRow) -> None:
        if self._size >= self.limit or len(self._known) >= self.limit:
            self.exact = False  # too many to hold: the next wake reads the journal again
        rows = self._lanes.setdefault(lane_of(row), [])
        bisect.insort(rows, row, key=lambda r: r.id)
        self._size += 1
