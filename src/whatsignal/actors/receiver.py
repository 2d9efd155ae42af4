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
  signal-cli itself, unlike the push path's envelopes, and the journal does not say which;
* routes a row signal-cli pushed only once its websocket can bring nothing older
  (:mod:`whatsignal.actors.path_merge`).

In normal/native mode it long-polls ``GET /v1/receive/{number}?timeout=N`` instead.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Literal, NoReturn, Protocol

import attrs
import trio
import trio_websocket

from whatsignal import log as wlog
from whatsignal.actors.doorbells import Doorbell, Hand
from whatsignal.actors.path_merge import PushLedger, SocketProgress
from whatsignal.actors.signal_socket import Connect, MessageSource, open_websocket
from whatsignal.clients import SignalClient, redact_error
from whatsignal.clock import Clock
from whatsignal.errors import ClientError, PayloadError, StorageError
from whatsignal.intake import Intake, signal_queue
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


@attrs.frozen
class ReceiverSettings:
    """How receivers read from signal-cli (``signal.*`` config) and how they pace themselves.

    Args:
        connect: how the websocket is opened (tests inject failures through it).
    """

    poll_timeout: float = 10.0
    poll_interval: float = 1.0
    ping_interval: float = 20.0
    ping_timeout: float = 10.0
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
        ring: hands routed envelopes' rows to the session queues they move to (in memory:
            their pollers need not read them back).
        pushes: the envelopes signal-cli pushed (numbered by the intake), for the order.
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
    ring: Hand
    metrics: Metrics
    clock: Clock
    pushes: PushLedger = attrs.field(factory=PushLedger)
    settings: ReceiverSettings = ReceiverSettings()
    connected: bool = attrs.field(default=False, init=False)
    _socket: SocketProgress = attrs.field(init=False)

    @_socket.default
    def _progress(self) -> SocketProgress:
        return SocketProgress(self.number, self.pushes, self.doorbell)

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
                            nursery.start_soon(
                                self._socket.barriers, ws.ping, settings.ping_timeout
                            )
                            while True:
                                message = await ws.get_message()
                                self._socket.read += 1  # before any checkpoint: barriers
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
                    self.doorbell.ring()  # rows waiting for this socket may go
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
                self._socket.journaled_batch(len(batch), parsed, outcomes)

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

        Rows are routed in envelope timestamp order, and routing renumbers each row after
        everything journaled so far, so its session handles them in this order. A row
        signal-cli pushed waits (and nothing overtakes it) until the websocket can bring
        nothing older (:mod:`whatsignal.actors.path_merge`); rows the websocket or a long
        poll brought, and rows journaled before a restart, go at once.
        """
        queue, number = signal_queue(self.number), self.number
        journal, batch_max, pushes = self.journal, self.settings.batch_max, self.pushes
        while True:
            # Taken before the journal is read: a row the mark lets go has every older row the
            # websocket brought journaled already, so in this read.
            live = self.mode == "websocket" and self.connected
            mark = self._socket.mark(live=live)
            heads = await journal.pending_heads(queue, limit=batch_max)
            ready: list[tuple[int, int, JournalRow, SigReceived]] = []
            for row in heads:
                item = pushes.parsed(number, row.key)  # no second parse of what was pushed
                try:
                    item = item or parse_signal_received(json.loads(row.payload))
                except (PayloadError, ValueError) as error:
                    pushes.done(number, row.key)
                    await journal.bury(row.id, error=f"unparseable envelope: {error}")
                    continue
                ready.append((item.envelope.timestamp, row.id, row, item))
            ready.sort(key=lambda entry: entry[:2])
            wait = math.inf
            blocked = False
            routed: list[tuple[JournalRow, str, str | None]] = []
            for _stamp, _id, row, item in ready:
                if self._waits(row, mark):
                    blocked = True  # rung when the websocket has caught up
                    break
                decision = await self.router.decide(item)
                now = self.clock()
                if decision.retry_after is not None and now - row.received_at < GIVE_UP_SEC:
                    wait = decision.retry_after  # later rows wait too: order is kept
                    break
                pushes.done(number, row.key)
                if decision.session is None:
                    await self._unrouted(row, item, decision)
                else:
                    routed.append((row, decision.session, decision.chat))
            if routed:
                # One transaction for the batch, in routing order (group commit would merge
                # separate calls too, but not promise their order).
                ids = await journal.requeue_many([(r.id, s, c) for r, s, c in routed])
                for (row, session, chat), new_id in zip(routed, ids, strict=True):
                    self.ring.hand(
                        session, [attrs.evolve(row, id=new_id, queue=session, chat=chat)]
                    )
            if not blocked and (wait < math.inf or len(heads) >= batch_max):
                await self.doorbell.wait(0.0 if wait == math.inf else wait)
            else:
                await self.doorbell.wait(wait)

    def _waits(self, row: JournalRow, mark: int) -> bool:
        """Whether ``row`` was pushed and the websocket may still bring something older."""
        seq = self.pushes.seq(self.number, row.key)
        if seq is None or seq <= mark:
            return False
        self._socket.want()
        return True

    async def _unrouted(self, row: JournalRow, item: SigReceived, decision: Decision) -> None:
        log.info("signal envelope %d not routed: %s", row.id, decision.ignore)
        recipient = item.envelope.sender
        notice = decision.notice
        if decision.control is not None and not self.control.submit(decision.control):
            notice = CONTROL_BUSY
        if notice and recipient:
            await self.notices.tell(self.number, recipient, notice)
        await self.journal.complete(row.id)
