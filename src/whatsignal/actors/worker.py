"""SessionWorker: all work of one WAHA session, in order per chat.

The journal is the queue. The worker asks the store for the oldest pending row of each chat of
its session, starts every one that is due (different chats run concurrently, one row per chat at
a time, so order within a chat is kept), and sleeps until its doorbell rings or the earliest
retry falls due. Nothing is held only in memory: a restarted worker finds the same rows.

Failure handling (issue 4, item 6):
    transient (no answer, 5xx, session not WORKING, breaker open) -> retry with growing backoff,
        no attempt used, until ``retry.maxAgeHours``;
    rate limited (signal-cli 429) -> the bridge number pauses; retry after the pause;
    permanent, or a row that cannot be handled (poison) -> an attempt is used; after
        ``retry.maxAttempts`` the row is dead: it stops blocking its chat, the destination is
        told in Signal, and an admin can retry it.
"""

from __future__ import annotations

import logging
import math
from typing import NoReturn

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.actors.context import BridgeContext, Deferred
from whatsignal.actors.handlers import UpstreamError, handle_row
from whatsignal.convert.text import chat_number
from whatsignal.errors import ClientError, StorageError
from whatsignal.reliability import Failure, rate_limit_retry_after, rate_limit_tokens
from whatsignal.storage import JournalRow

__all__ = ["SessionWorker", "drain_doorbell"]

log = logging.getLogger("whatsignal.worker")


def drain_doorbell(doorbell: trio.MemoryReceiveChannel[None]) -> None:
    """Swallow rings that piled up: one scan answers all of them."""
    while True:
        try:
            doorbell.receive_nowait()
        except trio.WouldBlock:
            return


async def wait_for_ring(doorbell: trio.MemoryReceiveChannel[None], delay: float) -> None:
    """Wait until the doorbell rings or ``delay`` seconds pass (inf: only the doorbell)."""
    with trio.move_on_after(delay):
        await doorbell.receive()
    drain_doorbell(doorbell)


@attrs.define(eq=False, kw_only=True)
class SessionWorker:
    """The per-session actor. ``stopping`` set: finish the rows in hand, start no new ones."""

    session: str
    ctx: BridgeContext
    doorbell: trio.MemoryReceiveChannel[None]
    stopping: trio.Event = attrs.field(factory=trio.Event)
    concurrency: int = 16
    _transient: dict[int, int] = attrs.field(factory=dict, init=False)
    busy: set[str] = attrs.field(factory=set, init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        limiter = trio.CapacityLimiter(self.concurrency)
        self.busy.clear()
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                if self.stopping.is_set():
                    await trio.sleep_forever()  # the bridge cancels us once in-flight work is done
                # A lane busy while the store is read may finish meanwhile: its row then
                # still looks pending in this (stale) answer and must not start a second
                # time. Its finish rings the doorbell, so the next scan picks the lane up.
                busy_during_read = set(self.busy)
                heads = await self.ctx.store.pending_heads(self.session)
                now = self.ctx.wall()
                wake = math.inf
                for row in heads:
                    lane = row.chat or f"#{row.id}"
                    if lane in busy_during_read:
                        continue
                    if row.next_attempt_at > now:
                        wake = min(wake, row.next_attempt_at)
                        continue
                    self.busy.add(lane)
                    nursery.start_soon(self._run_one, row, lane, limiter)
                await wait_for_ring(self.doorbell, max(0.0, wake - now))

    async def _run_one(self, row: JournalRow, lane: str, limiter: trio.CapacityLimiter) -> None:
        try:
            async with limiter:
                await self._attempt(row)
        finally:
            self.busy.discard(lane)
            self.ctx.ring(self.session)

    async def _attempt(self, row: JournalRow) -> None:
        ctx = self.ctx
        try:
            mappings = await handle_row(ctx, row)
        except Deferred as deferred:
            await self._later(row, str(deferred), deferred.retry_after, count=False)
        except UpstreamError as error:
            await self._failed(row, error)
        except StorageError:
            raise  # the store is unwell, not the row: the supervisor restarts the worker
        except Exception as error:  # noqa: BLE001 - a poison row: counted, then dead
            # A row that cannot be handled as it is (poison: a malformed payload, or a bug a
            # payload triggers) uses up attempts and ends dead. It must never crash the
            # worker: a restart would cancel the other chats' sends in flight and then meet
            # the same row again, forever.
            reason = f"{type(error).__name__}: {error}"
            log.warning("row %d cannot be handled: %s", row.id, wlog.mask_text(reason))
            await self._permanent(row, f"unhandleable: {reason}")
        else:
            await ctx.store.complete(row.id, mappings=mappings)
            self._transient.pop(row.id, None)

    async def _failed(self, row: JournalRow, error: UpstreamError) -> None:
        ctx = self.ctx
        direction = "wa_to_signal" if row.source == "whatsapp" else "signal_to_wa"
        ctx.metrics.failures.labels(direction, error.failure.value).inc()
        text = f"{error.upstream}: {error.error}"
        if error.failure is Failure.RATE_LIMITED:
            gate = ctx.gate(error.target)
            pause = rate_limit_retry_after(error.error) or ctx.rate_limit_pause
            gate.pause(ctx.now(), pause, rate_limit_tokens(error.error))
            ctx.metrics.rate_limited.labels("*" + gate.number[-4:]).inc()  # bounded, masked
            await self._later(row, text, pause, count=False)
        elif error.failure is Failure.TRANSIENT:
            if ctx.wall() - row.received_at > ctx.max_age:
                await self._dead(row, f"gave up after retry.maxAgeHours: {text}")
                return
            count = self._transient.get(row.id, 0) + 1
            self._transient[row.id] = count
            await self._later(row, text, ctx.retry_backoff.delay(count), count=False)
        else:
            await self._permanent(row, text)

    async def _later(self, row: JournalRow, error: str, delay: float, *, count: bool) -> int:
        log.info(
            "row %d (%s) retry in %.1fs: %s",
            row.id,
            row.kind,
            delay,
            wlog.mask_text(error),
            extra={"session": self.session},
        )
        return await self.ctx.store.retry_later(
            row.id, next_attempt_at=self.ctx.wall() + delay, error=error, count_attempt=count
        )

    async def _permanent(self, row: JournalRow, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= self.ctx.max_attempts:
            # Count the last attempt too, so the dead letter shows every attempt made.
            await self.ctx.store.retry_later(
                row.id, next_attempt_at=self.ctx.wall(), error=error, count_attempt=True
            )
            await self._dead(row, error)
            return
        await self._later(row, error, self.ctx.retry_backoff.delay(attempts), count=True)

    async def _dead(self, row: JournalRow, error: str) -> None:
        ctx = self.ctx
        await ctx.store.bury(row.id, error=error)
        self._transient.pop(row.id, None)
        direction = "wa_to_signal" if row.source == "whatsapp" else "signal_to_wa"
        ctx.metrics.dead.labels(direction).inc()
        log.error(
            "row %d (%s) is a dead letter: %s",
            row.id,
            row.kind,
            wlog.mask_text(error),
            extra={"session": self.session},
        )
        if row.kind in ("message", "envelope"):
            await self._tell_destination(row, direction)

    def _chat_label(self, chat: str | None) -> str:
        """How the destination knows the chat: its cached name, else its number. (This goes
        to the user's own phone, not to a log: no masking.)"""
        if chat is None:
            return f"session {self.session}"
        kind = "group" if chat.endswith("@g.us") else "contact"
        _found, name = self.ctx.cached_name(kind, self.session, chat)
        return name or chat_number(chat) or chat

    async def _tell_destination(self, row: JournalRow, direction: str) -> None:
        """Say in Signal what could not be delivered. Best effort: one try, bounded."""
        route = self.ctx.channels.route(self.session)
        if route is None:
            return
        if direction == "wa_to_signal":
            text = (
                f"⚠️ whatsignal: a WhatsApp message from {self._chat_label(row.chat)} could not "
                f"be delivered here. It is kept as dead letter #{row.id}; an admin can retry it "
                f"with POST /admin/dead-letters/{row.id}/retry."
            )
        else:
            text = (
                f"⚠️ whatsignal: your message could not be delivered to WhatsApp (session "
                f"{self.session}). It is kept as dead letter #{row.id}; an admin can retry it "
                f"with POST /admin/dead-letters/{row.id}/retry."
            )
        with trio.move_on_after(10):
            try:
                await self.ctx.signal.send(route.bridge_number, [route.destination], text)
            except ClientError as error:
                log.warning("could not send the dead-letter notice: %s", error)
