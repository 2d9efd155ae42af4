"""Merging signal-cli's two delivery paths in order: the push path and the receive websocket.

signal-cli-rest-api's receive loop (one per signal-cli connection) takes one envelope at a
time: it hands it to the open receive websockets without waiting, then POSTs it to
``RECEIVE_WEBHOOK_URL`` and waits for the answer before it takes the next (docs/simulators.md,
"The push path"). The bridge answers a push only once it is journaled. So:

* each path alone is in signal-cli's order;
* when the websocket brings envelope N, every older envelope's push is over: journaled, or
  failed for good. A row the websocket brought may be routed at once;
* when the push brings N, the websocket had N (and everything older) in hand before the POST
  began, but may not have delivered it yet. A pushed row may be routed once the websocket is
  known to have delivered everything it took before that push: its own copy of a later-pushed
  envelope was journaled, or a ping sent after the push came back and every frame read before
  the pong is journaled (a barrier: frames and pong share one connection), or no websocket is
  connected and everything read from the last one is journaled. A dead socket is noticed by the
  ping's timeout, which bounds the wait.

:class:`PushLedger` numbers pushed envelopes per bridge number (the intake notes them before it
journals them, and keeps the parsed envelope for the router); :class:`SocketProgress` is one
receiver's count of what its websocket delivered and how far that is known to reach.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from whatsignal.actors.doorbells import Doorbell
from whatsignal.intake import Outcome, signal_key
from whatsignal.models.signal_api import SigReceived
from whatsignal.storage import InboundEvent, Journal

__all__ = ["PushLedger", "SocketProgress"]

PARSED_MAX = 4096
"""Parsed envelopes kept for the router per bridge number; beyond, rows are parsed again."""
PENDING_MAX = 100_000
"""Pushes remembered per bridge number (rows no receiver routes, with ``pollingEnabled``
off, would otherwise pile up); beyond, a push is routed without waiting for the websocket."""


@attrs.define(eq=False)
class PushLedger:
    """Pushed envelopes that are journaled (or being journaled) and not yet routed, numbered in
    the order they were pushed, per bridge number; with each, the envelope already parsed."""

    _count: dict[str, int] = attrs.field(factory=dict)
    _pending: dict[str, dict[str, tuple[int, SigReceived | None]]] = attrs.field(factory=dict)

    def note(self, key: str, item: SigReceived) -> int:
        """A push of ``item`` (natural key ``key``) is about to be journaled: its number."""
        account = item.account
        seq = self._count[account] = self._count.get(account, 0) + 1
        pending = self._pending.setdefault(account, {})
        if key not in pending and len(pending) < PENDING_MAX:
            pending[key] = (seq, item if len(pending) < PARSED_MAX else None)
        return seq

    async def journal(
        self, store: Journal, rows: list[InboundEvent], items: list[SigReceived]
    ) -> list[int | None]:
        """Journal pushed ``rows`` (parsed as ``items``), each numbered before it is written;
        the number is taken back for a row found journaled before, or when the write fails."""
        noted = [self.note(row.key, item) for row, item in zip(rows, items, strict=True)]
        ids: list[int | None] = [None] * len(rows)
        try:
            ids = await store.journal(rows)
        finally:
            for row, item, seq, row_id in zip(rows, items, noted, ids, strict=True):
                if row_id is None:
                    self.unnote(item.account, row.key, seq)
        return ids

    def unnote(self, account: str, key: str, seq: int) -> None:
        """That push was not journaled (a duplicate, or the write failed)."""
        pending = self._pending.get(account, {})
        if pending.get(key, (0, None))[0] == seq:
            del pending[key]

    def total(self, account: str) -> int:
        """How many pushes for ``account`` were noted so far."""
        return self._count.get(account, 0)

    def seq(self, account: str, key: str) -> int | None:
        """The number of the pending push with ``key``; None if there is none."""
        entry = self._pending.get(account, {}).get(key)
        return entry[0] if entry else None

    def parsed(self, account: str, key: str) -> SigReceived | None:
        """The envelope of the pending push with ``key``, as the intake parsed it."""
        entry = self._pending.get(account, {}).get(key)
        return entry[1] if entry else None

    def done(self, account: str, key: str) -> None:
        """The row of ``key`` was routed (or given up): forget its push."""
        self._pending.get(account, {}).pop(key, None)


@attrs.define(eq=False)
class SocketProgress:
    """One receiver's websocket, as far as the order of pushed rows is concerned.

    ``passed`` is the push number up to which the websocket is known to have delivered (and
    the receiver journaled) everything signal-cli handed it before those pushes.
    """

    number: str
    ledger: PushLedger
    doorbell: Doorbell
    passed: int = 0
    read: int = 0
    journaled: int = 0
    _wanted: trio.Event = attrs.field(factory=trio.Event)
    _batch: trio.Event = attrs.field(factory=trio.Event)

    def mark(self, *, live: bool) -> int:
        """Up to which push number rows may be routed now. ``live``: a websocket is connected
        or frames read from one are still to be journaled (otherwise nothing older than any
        push can come from it)."""
        if live or self.journaled < self.read:
            return self.passed
        return self.ledger.total(self.number)

    def want(self) -> None:
        """A pushed row waits for the websocket: run a barrier."""
        self._wanted.set()

    def journaled_batch(
        self, frames: int, items: list[SigReceived | None], outcomes: list[Outcome]
    ) -> None:
        """The receiver journaled a batch of ``frames`` frames read from signal-cli: ``items``
        (None: malformed) with their outcomes. A row among them that was pushed as well
        moves ``passed`` to its push."""
        self.journaled += frames
        kept = (Outcome.ACCEPTED, Outcome.DUPLICATE)
        reached = max(
            (
                self.ledger.seq(self.number, signal_key(item)) or 0
                for item, outcome in zip(items, outcomes, strict=True)
                if item is not None and outcome in kept
            ),
            default=0,
        )
        self._advance(reached)
        self._batch.set()
        self._batch = trio.Event()

    def _advance(self, reached: int) -> None:
        if reached > self.passed:
            self.passed = reached
            self.doorbell.ring()

    async def barriers(self, ping: Callable[[], Awaitable[None]], patience: float) -> None:
        """Run a barrier whenever a pushed row waits, for as long as the socket is open."""
        while True:
            await self._wanted.wait()
            self._wanted = trio.Event()
            target = self.ledger.total(self.number)
            with trio.fail_after(patience):
                await ping()
            frames = self.read
            while self.journaled < frames:
                await self._batch.wait()
            self._advance(target)
