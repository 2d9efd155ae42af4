"""SignalReceiver: the only reader of one bridge number's messages.

signal-cli's receive is destructive, and in json-rpc mode it drops whatever arrives while no
websocket listens (signal-cli-rest-api #834). So the receiver:

* reads continuously into a bounded buffer and never waits on the database while reading
  (a blocked reader is a disconnected reader, to signal-cli);
* journals what it read in batches (one group-committed transaction for many envelopes);
* reconnects at once after a drop, backing off only when connecting keeps failing;
* pings, so a dead connection is noticed within ``ping_interval + ping_timeout``;
* routes journaled envelopes to session queues (:mod:`whatsignal.actors.router`), from the
  journal, so a crash between journaling and routing loses nothing.

In normal/native mode it long-polls ``GET /v1/receive/{number}?timeout=N`` instead.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, NoReturn, Protocol

import attrs
import trio
import trio_websocket

from whatsignal import log as wlog
from whatsignal.actors.context import BridgeContext
from whatsignal.actors.router import Decision, decide
from whatsignal.actors.worker import wait_for_ring
from whatsignal.errors import ClientError, PayloadError, StorageError
from whatsignal.intake import Intake, signal_queue
from whatsignal.models.signal_api import SigReceived
from whatsignal.reliability import Backoff
from whatsignal.serde import parse_signal_received
from whatsignal.storage import JournalRow

__all__ = ["MessageSource", "SignalReceiver", "open_websocket"]

log = logging.getLogger("whatsignal.receiver")


class MessageSource(Protocol):
    """What the websocket reader needs of a connection (trio-websocket's, or a test double)."""

    async def get_message(self) -> str | bytes: ...

    async def ping(self, payload: bytes | None = None) -> None: ...


Connect = Callable[[str], AbstractAsyncContextManager[MessageSource]]


@asynccontextmanager
async def open_websocket(url: str) -> AsyncIterator[MessageSource]:
    """Connect with trio-websocket; a large queue so a burst never stalls the socket."""
    async with trio_websocket.open_websocket_url(
        url, message_queue_size=1024, connect_timeout=10, disconnect_timeout=2
    ) as ws:
        yield ws


@attrs.define(eq=False, kw_only=True)
class SignalReceiver:
    """Receives for one bridge number and routes what it receives.

    Args:
        mode: ``websocket`` (json-rpc) or ``poll`` (normal/native), decided by the registry from
            ``/v1/about`` and ``signal.receiveMode``.
        doorbell: rung when the push webhook journals envelopes for this number.
    """

    number: str
    ctx: BridgeContext
    intake: Intake
    mode: Literal["websocket", "poll", "auto"]
    doorbell: trio.MemoryReceiveChannel[None]
    connect: Connect = open_websocket
    poll_timeout: float = 10.0
    poll_interval: float = 1.0
    ping_interval: float = 20.0
    ping_timeout: float = 10.0
    reconnect: Backoff = attrs.field(factory=lambda: Backoff(initial=0.5, maximum=30.0))
    settle: float = 0.0
    buffer_size: int = 4096
    batch_max: int = 256
    connected: bool = attrs.field(default=False, init=False)
    attempts: list[float] = attrs.field(factory=list, init=False)  # connect times, for tests

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        send, receive = trio.open_memory_channel[Any](self.buffer_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._journal, receive)
            nursery.start_soon(self._route_loop)
            task_status.started()
            if self.mode == "auto":
                self.mode = await self._detect_mode()
            if self.mode == "websocket":
                nursery.start_soon(self._read_websocket, send)
            else:
                nursery.start_soon(self._poll, send)
            await trio.sleep_forever()

    async def _detect_mode(self) -> Literal["websocket", "poll"]:
        """Ask ``/v1/about`` until signal-cli answers (it was down when the bridge started)."""
        failures = 0
        while True:
            try:
                about = await self.ctx.signal.about()
            except ClientError as error:
                failures += 1
                delay = self.reconnect.delay(failures)
                log.warning("signal-cli not answering /v1/about (retry in %.1fs): %s", delay, error)
                await trio.sleep(delay)
                continue
            log.info("signal-cli-rest-api answered: %s mode", about.mode)
            return "websocket" if about.json_rpc else "poll"

    # Reading ----------------------------------------------------------------------------------

    async def _read_websocket(self, sink: trio.MemorySendChannel[Any]) -> NoReturn:
        url = self.ctx.signal.receive_websocket_url(self.number)
        failures = 0
        with sink:
            while True:
                self.attempts.append(trio.current_time())
                got_messages = False
                try:
                    async with self.connect(url) as ws:
                        self.connected = True
                        failures = 0
                        self.ctx.metrics.receiver_connects.labels("websocket", "ok").inc()
                        log.info("signal websocket connected for %s", wlog.phone(self.number))
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._pinger, ws)
                            while True:
                                message = await ws.get_message()
                                got_messages = True
                                await sink.send(message)
                except* (
                    trio_websocket.ConnectionClosed,
                    trio_websocket.HandshakeError,
                    OSError,
                    trio.TooSlowError,
                    trio.BrokenResourceError,
                ) as group:
                    self.ctx.metrics.receiver_connects.labels("websocket", "dropped").inc()
                    log.warning(
                        "signal websocket for %s lost: %s",
                        wlog.phone(self.number),
                        "; ".join(type(e).__name__ for e in group.exceptions),
                    )
                finally:
                    self.connected = False
                if got_messages:
                    failures = 0
                failures += 1
                # The first reconnect after a drop is immediate: every moment without a
                # socket is a moment in which signal-cli throws messages away.
                if failures > 1:
                    await trio.sleep(self.reconnect.delay(failures - 1))

    async def _pinger(self, ws: MessageSource) -> None:
        while True:
            await trio.sleep(self.ping_interval)
            with trio.fail_after(self.ping_timeout):
                await ws.ping()

    async def _poll(self, sink: trio.MemorySendChannel[Any]) -> NoReturn:
        failures = 0
        with sink:
            while True:
                try:
                    items = await self.ctx.signal.receive(self.number, timeout=self.poll_timeout)
                except ClientError as error:
                    failures += 1
                    delay = self.reconnect.delay(failures)
                    log.warning("signal receive failed (retry in %.1fs): %s", delay, error)
                    await trio.sleep(delay)
                    continue
                failures = 0
                for item in items:
                    await sink.send(item)
                if not items:
                    await trio.sleep(self.poll_interval)

    # Journaling ---------------------------------------------------------------------------------

    async def _journal(self, source: trio.MemoryReceiveChannel[Any]) -> None:
        via = self.mode
        with source:
            async for first in source:
                batch = [first]
                while len(batch) < self.batch_max:
                    try:
                        batch.append(source.receive_nowait())
                    except trio.WouldBlock:
                        break
                items = [i for i in (self._decode(m) for m in batch) if i is not None]
                delay = 0.1
                while True:
                    try:
                        await self.intake.signal(items, via=via)
                        break
                    except StorageError as error:
                        # Keep the batch: these envelopes exist nowhere else any more.
                        log.error("journaling signal envelopes failed (retrying): %s", error)
                        await trio.sleep(delay)
                        delay = min(delay * 2, 5.0)

    def _decode(self, message: Any) -> Any:
        if isinstance(message, str | bytes):
            try:
                message = json.loads(message)
            except ValueError:
                log.warning("non-JSON frame from signal-cli ignored")
                return None
        if isinstance(message, dict) and "error" in message and "envelope" not in message:
            log.warning("signal-cli reported an error: %s", wlog.mask_text(str(message["error"])))
            return None
        if isinstance(message, dict) and "params" in message and "envelope" not in message:
            return message["params"]  # a raw JSON-RPC notification
        return message

    # Routing ------------------------------------------------------------------------------------

    async def _route_loop(self) -> NoReturn:
        """Route journaled envelopes in the order their senders sent them.

        With signal-cli's push path on as well as the websocket, an envelope can be journaled
        (by whichever path was faster) before an older one. So rows are routed in envelope
        timestamp order, each only once it has been journaled for ``settle`` seconds, and
        nothing overtakes a row that is still settling; routing renumbers each row after
        everything journaled so far, so its session handles them in this order.
        """
        queue = signal_queue(self.number)
        store = self.ctx.store
        while True:
            heads = await store.pending_heads(queue, limit=self.batch_max)
            ready: list[tuple[int, int, JournalRow, SigReceived]] = []
            for row in heads:
                try:
                    item = parse_signal_received(json.loads(row.payload))
                except (PayloadError, ValueError) as error:
                    await store.bury(row.id, error=f"unparseable envelope: {error}")
                    continue
                ready.append((item.envelope.timestamp, row.id, row, item))
            ready.sort(key=lambda entry: entry[:2])
            wait = math.inf
            now = self.ctx.wall()
            moves: list[tuple[int, str, str | None]] = []
            for _stamp, _id, row, item in ready:
                settled_at = row.received_at + self.settle
                if settled_at > now:
                    wait = settled_at - now
                    break
                decision = await decide(self.ctx, item)
                if decision.session is None:
                    await self._unrouted(row, item, decision)
                else:
                    moves.append((row.id, decision.session, decision.chat))
            if moves:
                # One transaction for the batch, in routing order (group commit would merge
                # separate calls too, but not promise their order).
                await store.requeue_many(moves)
                for session in dict.fromkeys(queue for _, queue, _ in moves):
                    self.ctx.ring(session)
            if wait < math.inf or len(heads) >= self.batch_max:
                await wait_for_ring(self.doorbell, 0.0 if wait == math.inf else wait)
            else:
                await wait_for_ring(self.doorbell, math.inf)

    async def _unrouted(self, row: JournalRow, item: SigReceived, decision: Decision) -> None:
        log.info("signal envelope %d not routed: %s", row.id, decision.ignore)
        if decision.notice:
            await self._notice(item.envelope.sender, decision.notice)
        await self.ctx.store.complete(row.id)

    async def _notice(self, recipient: str | None, text: str) -> None:
        if not recipient:
            return
        with trio.move_on_after(10):
            try:
                await self.ctx.signal.send(self.number, [recipient], text)
            except ClientError as error:
                log.warning("could not send a routing notice: %s", error)
