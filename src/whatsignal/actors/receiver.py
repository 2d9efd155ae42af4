"""SignalReceiver: the only reader of one bridge number's messages.

signal-cli's receive is destructive, and in json-rpc mode it drops whatever arrives while no
websocket listens (signal-cli-rest-api #834). So the receiver:

* reads continuously into a bounded buffer and never waits on the database while reading
  (a blocked reader is a disconnected reader, to signal-cli);
* journals what it read in batches (one group-committed transaction for many envelopes);
* reconnects at once after a drop, backing off only when connecting keeps failing;
* pings, so a dead connection is noticed within ``ping_interval + ping_timeout``;
* routes journaled envelopes to session queues (:mod:`whatsignal.relay.router`), from the
  journal, so a crash between journaling and routing loses nothing;
* hands the router what it read before journaling it, to learn uuid <-> number pairings from
  (:meth:`Router.learn <whatsignal.relay.Router.learn>`): what comes this way comes from
  signal-cli itself, unlike the push path's envelopes, and the journal does not say which.

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
from whatsignal.actors.doorbells import Doorbell
from whatsignal.clients import SignalClient, redact_error
from whatsignal.clock import Clock
from whatsignal.errors import ClientError, PayloadError, StorageError
from whatsignal.intake import Intake, Outcome, Ring, signal_key, signal_queue
from whatsignal.metrics import Metrics
from whatsignal.models.signal_api import SigReceived
from whatsignal.relay import Decision, Notices, Router
from whatsignal.relay.decision import ControlRequest
from whatsignal.reliability import Backoff
from whatsignal.serde import parse_signal_received
from whatsignal.storage import Journal, JournalRow

__all__ = [
    "Connect",
    "MessageSource",
    "ReceiveMode",
    "ReceiverSettings",
    "SignalReceiver",
    "open_websocket",
]

log = logging.getLogger("whatsignal.receiver")

GIVE_UP_SEC = 600.0
"""How long an envelope may wait to be routed while who sent it cannot be looked up."""

ReceiveMode = Literal["websocket", "poll", "auto"]


class ControlSubmit(Protocol):
    """Where accepted control commands go (:class:`~whatsignal.actors.controller.ControlInbox`)."""

    def submit(self, request: ControlRequest) -> bool: ...


CONTROL_BUSY = "⚠️ whatsignal: too many commands at once; send it again in a moment."


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


@attrs.frozen
class ReceiverSettings:
    """How receivers read from signal-cli (``signal.*`` config) and how they pace themselves.

    Args:
        settle: seconds a journaled envelope waits before it is routed (with signal-cli's push
            path on, an older envelope may still arrive over the websocket).
        connect: how the websocket is opened (tests inject failures through it).
    """

    poll_timeout: float = 10.0
    poll_interval: float = 1.0
    ping_interval: float = 20.0
    ping_timeout: float = 10.0
    settle: float = 0.0
    reconnect: Backoff = attrs.field(factory=lambda: Backoff(initial=0.5, maximum=30.0))
    buffer_size: int = 4096
    batch_max: int = 256
    connect: Connect = open_websocket


@attrs.define(eq=False, kw_only=True)
class SignalReceiver:
    """Receives for one bridge number and routes what it receives.

    ``run`` reports started once the receiver actually receives: its websocket is connected,
    or its first long poll was answered.

    Args:
        mode: ``websocket`` (json-rpc), ``poll`` (normal/native), or ``auto`` (ask
            ``/v1/about`` first: signal-cli did not answer when the bridge started).
        doorbell: this number's queue's doorbell, rung when envelopes are journaled for it.
        ring: rings the session queues that routed envelopes move to.
    """

    number: str
    mode: ReceiveMode
    signal: SignalClient
    intake: Intake
    journal: Journal
    router: Router
    notices: Notices
    control: ControlSubmit
    doorbell: Doorbell
    ring: Ring
    metrics: Metrics
    clock: Clock
    settings: ReceiverSettings = ReceiverSettings()
    connected: bool = attrs.field(default=False, init=False)
    # Keys of envelopes this reader took from signal-cli, and when (see _route_loop).
    _read_here: dict[str, float] = attrs.field(factory=dict, init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        send, receive = trio.open_memory_channel[Any](self.settings.buffer_size)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._journal, receive)
            nursery.start_soon(self._route_loop)
            if self.mode == "auto":
                self.mode = await self._detect_mode()
            reader = self._read_websocket if self.mode == "websocket" else self._poll
            await nursery.start(reader, send)
            task_status.started()
            await trio.sleep_forever()

    async def _detect_mode(self) -> Literal["websocket", "poll"]:
        """Ask ``/v1/about`` until signal-cli answers (it was down when the bridge started)."""
        failures = 0
        while True:
            try:
                about = await self.signal.about()
            except ClientError as error:
                failures += 1
                delay = self.settings.reconnect.delay(failures)
                log.warning("signal-cli not answering /v1/about (retry in %.1fs): %s", delay, error)
                await trio.sleep(delay)
                continue
            log.info("signal-cli-rest-api answered: %s mode", about.mode)
            return "websocket" if about.json_rpc else "poll"

    # Reading ----------------------------------------------------------------------------------

    async def _read_websocket(
        self,
        sink: trio.MemorySendChannel[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Read frames into ``sink`` for ever, reconnecting; started once first connected."""
        url = self.signal.receive_websocket_url(self.number)
        settings = self.settings
        failures = 0
        with sink:
            while True:
                got_messages = False
                try:
                    async with settings.connect(url) as ws:
                        self.connected = True
                        failures = 0
                        self.metrics.receiver_connects.labels("websocket", "ok").inc()
                        log.info("signal websocket connected for %s", wlog.phone(self.number))
                        task_status.started()
                        task_status = trio.TASK_STATUS_IGNORED  # started() may be called once
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
                    self.metrics.receiver_connects.labels("websocket", "dropped").inc()
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
                    await trio.sleep(settings.reconnect.delay(failures - 1))

    async def _pinger(self, ws: MessageSource) -> None:
        while True:
            await trio.sleep(self.settings.ping_interval)
            with trio.fail_after(self.settings.ping_timeout):
                await ws.ping()

    async def _poll(
        self,
        sink: trio.MemorySendChannel[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> NoReturn:
        """Long-poll into ``sink`` for ever; started once the first poll was answered."""
        settings = self.settings
        failures = 0
        with sink:
            while True:
                try:
                    items = await self.signal.receive(self.number, timeout=settings.poll_timeout)
                except ClientError as error:
                    failures += 1
                    self.connected = False
                    delay = settings.reconnect.delay(failures)
                    log.warning("signal receive failed (retry in %.1fs): %s", delay, error)
                    await trio.sleep(delay)
                    continue
                failures = 0
                self.connected = True
                task_status.started()
                task_status = trio.TASK_STATUS_IGNORED
                for item in items:
                    await sink.send(item)
                if not items:
                    await trio.sleep(settings.poll_interval)

    # Journaling ---------------------------------------------------------------------------------

    async def _journal(self, source: trio.MemoryReceiveChannel[Any]) -> None:
        with source:
            async for first in source:
                batch = [first]
                while len(batch) < self.settings.batch_max:
                    try:
                        batch.append(source.receive_nowait())
                    except trio.WouldBlock:
                        break
                items = [i for i in (self._decode(m) for m in batch) if i is not None]
                parsed = await self._learn(items)
                delay = 0.1
                while True:
                    try:
                        outcomes = await self.intake.signal(items, via=self.mode)
                        break
                    except StorageError as error:
                        # Keep the batch: these envelopes exist nowhere else any more.
                        log.error("journaling signal envelopes failed (retrying): %s", error)
                        await trio.sleep(delay)
                        delay = min(delay * 2, 5.0)
                if self.settings.settle > 0:
                    self._mark_read_here(parsed, outcomes)

    def _mark_read_here(self, parsed: list[SigReceived | None], outcomes: list[Outcome]) -> None:
        """Note what this reader journaled (or found journaled): no settling for those rows."""
        now = self.clock()
        marked = False
        for item, outcome in zip(parsed, outcomes, strict=True):
            if item is not None and outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE):
                self._read_here[signal_key(item)] = now
                marked = True
        if marked:
            self.doorbell.ring()

    async def _learn(self, items: list[Any]) -> list[SigReceived | None]:
        """Let the router learn identities from what signal-cli handed out (best effort: what
        is not learned now is learned later, or looked up in signal-cli's contacts); the items
        parsed, ``None`` where malformed."""
        parsed: list[SigReceived | None] = []
        for item in items:
            try:
                parsed.append(parse_signal_received(item))
            except PayloadError:
                parsed.append(None)  # the intake logs and counts it
        try:
            await self.router.learn([p for p in parsed if p is not None])
        except StorageError as error:
            log.warning("could not learn signal identities now: %s", error)
        return parsed

    def _decode(self, message: Any) -> Any:
        if isinstance(message, str | bytes):
            try:
                message = json.loads(message)
            except ValueError:
                log.warning("non-JSON frame from signal-cli ignored")
                return None
        if isinstance(message, dict) and "error" in message and "envelope" not in message:
            log.warning("signal-cli reported an error: %s", redact_error(str(message["error"])))
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

        A row whose envelope this receiver's own reader has also taken from signal-cli need
        not settle: the reader gets envelopes in signal-cli's order and journals each batch
        before the next, so whatever signal-cli handed out before it is journaled already.
        With both paths working (signal-cli sends every envelope down both) that is the
        common case; the settle remains for what only the push path brought.
        """
        queue = signal_queue(self.number)
        journal, batch_max = self.journal, self.settings.batch_max
        read_here = self._read_here
        while True:
            if len(read_here) > batch_max:  # keys of rows routed before their copy came
                horizon = self.clock() - max(self.settings.settle * 4, 10.0)
                for key in [k for k, seen in read_here.items() if seen < horizon]:
                    del read_here[key]
            heads = await journal.pending_heads(queue, limit=batch_max)
            ready: list[tuple[int, int, JournalRow, SigReceived]] = []
            for row in heads:
                try:
                    item = parse_signal_received(json.loads(row.payload))
                except (PayloadError, ValueError) as error:
                    await journal.bury(row.id, error=f"unparseable envelope: {error}")
                    continue
                ready.append((item.envelope.timestamp, row.id, row, item))
            ready.sort(key=lambda entry: entry[:2])
            wait = math.inf
            now = self.clock()
            moves: list[tuple[int, str, str | None]] = []
            for _stamp, _id, row, item in ready:
                settled_at = row.received_at + self.settings.settle
                if settled_at > now and row.key not in read_here:
                    wait = settled_at - now
                    break
                read_here.pop(row.key, None)
                decision = await self.router.decide(item)
                if decision.retry_after is not None and now - row.received_at < GIVE_UP_SEC:
                    wait = decision.retry_after  # later rows wait too: order is kept
                    break
                if decision.session is None:
                    await self._unrouted(row, item, decision)
                else:
                    moves.append((row.id, decision.session, decision.chat))
            if moves:
                # One transaction for the batch, in routing order (group commit would merge
                # separate calls too, but not promise their order).
                await journal.requeue_many(moves)
                for session in dict.fromkeys(queue for _, queue, _ in moves):
                    self.ring.ring(session)
            if wait < math.inf or len(heads) >= batch_max:
                await self.doorbell.wait(0.0 if wait == math.inf else wait)
            else:
                await self.doorbell.wait(math.inf)

    async def _unrouted(self, row: JournalRow, item: SigReceived, decision: Decision) -> None:
        log.info("signal envelope %d not routed: %s", row.id, decision.ignore)
        recipient = item.envelope.sender
        notice = decision.notice
        if decision.control is not None and not self.control.submit(decision.control):
            notice = CONTROL_BUSY
        if notice and recipient:
            await self.notices.tell(self.number, recipient, notice)
        await self.journal.complete(row.id)
