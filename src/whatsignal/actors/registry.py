"""PollerRegistry: owns one SessionWorker per session and one SignalReceiver per bridge number.

Each child runs under :func:`~whatsignal.actors.supervisor.supervise` inside a cancel scope of
its own, so one session's crash restarts that session only, and one session can be stopped
without touching the others. A child's doorbell (a memory channel of buffer 1) belongs to the
registry and outlives the child's restarts: a ring is never lost, and it is only a hint anyway
because the work itself waits in the journal.

In this version the sessions are the configured channels' sessions, plus any session that the
``"*"`` default channel serves as soon as work for it arrives (a webhook, or rows left in the
journal by an earlier run). Session discovery from WAHA builds on :meth:`ensure_worker`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Literal, NoReturn

import attrs
import trio

from whatsignal.actors.context import BridgeContext
from whatsignal.actors.receiver import Connect, SignalReceiver, open_websocket
from whatsignal.actors.supervisor import RestartPolicy, supervise
from whatsignal.actors.worker import SessionWorker
from whatsignal.intake import Intake, signal_queue

__all__ = ["PollerRegistry", "ReceiverSettings"]

log = logging.getLogger("whatsignal.registry")


@attrs.frozen
class ReceiverSettings:
    """How receivers read from signal-cli (from ``signal.*`` config)."""

    enabled: bool = True
    poll_timeout: float = 10.0
    poll_interval: float = 1.0
    ping_interval: float = 20.0
    ping_timeout: float = 10.0
    settle: float = 0.0
    connect: Connect = open_websocket


@attrs.define(eq=False, kw_only=True)
class PollerRegistry:
    ctx: BridgeContext
    intake: Intake
    sessions: tuple[str, ...]
    modes: dict[str, Literal["websocket", "poll", "auto"]]
    receivers: ReceiverSettings = ReceiverSettings()
    restart: RestartPolicy = attrs.field(factory=lambda: RestartPolicy(initial=1.0, maximum=60.0))
    stopping: trio.Event = attrs.field(factory=trio.Event)
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _doorbells: dict[str, trio.MemorySendChannel[None]] = attrs.field(factory=dict, init=False)
    _bells_in: dict[str, trio.MemoryReceiveChannel[None]] = attrs.field(factory=dict, init=False)
    _workers: dict[str, SessionWorker] = attrs.field(factory=dict, init=False)
    _scopes: dict[str, trio.CancelScope] = attrs.field(factory=dict, init=False)
    _receivers: dict[str, SignalReceiver] = attrs.field(factory=dict, init=False)

    async def run(
        self, *, task_status: trio.TaskStatus[PollerRegistry] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                if self.receivers.enabled:
                    for number, mode in sorted(self.modes.items()):
                        await self._start_receiver(number, mode)
                pending = await self.ctx.store.queues_with_pending()
                leftovers = [q for q in pending if not q.startswith("signal:")]
                for session in _unique([*self.sessions, *leftovers]):
                    if self.ctx.channels.configured(session):
                        self.ensure_worker(session)
                task_status.started(self)
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def _bell(self, queue: str) -> trio.MemoryReceiveChannel[None]:
        if queue not in self._bells_in:
            send, receive = trio.open_memory_channel[None](1)
            self._doorbells[queue] = send
            self._bells_in[queue] = receive
        return self._bells_in[queue]

    def ring(self, queue: str) -> None:
        """Tell a queue's owner there is work. Never blocks; starts a worker when a session
        served by the default channel gets its first work."""
        bell = self._doorbells.get(queue)
        if bell is None:
            if queue.startswith("signal:") or not self.ctx.channels.configured(queue):
                return
            self.ensure_worker(queue)
            bell = self._doorbells[queue]
        with contextlib.suppress(trio.WouldBlock):  # already rung: one scan answers all rings
            bell.send_nowait(None)

    def ring_all(self) -> None:
        """Ring every queue's doorbell (after an operator made old rows due again)."""
        for queue in list(self._doorbells):
            self.ring(queue)

    def ensure_worker(self, session: str) -> None:
        """Start the session's worker unless it runs already."""
        if session in self._workers or self._nursery is None:
            return
        worker = SessionWorker(
            session=session, ctx=self.ctx, doorbell=self._bell(session), stopping=self.stopping
        )
        scope = trio.CancelScope()
        self._workers[session] = worker
        self._scopes[session] = scope
        self._nursery.start_soon(self._supervised, f"worker[{session}]", worker.run, scope, session)
        self.ring(session)
        log.info("worker started", extra={"session": session})

    def stop_worker(self, session: str) -> None:
        scope = self._scopes.get(session)
        if scope is not None:
            scope.cancel(reason=f"session {session} stopped")

    async def _start_receiver(
        self, number: str, mode: Literal["websocket", "poll", "auto"]
    ) -> None:
        assert self._nursery is not None
        s = self.receivers
        receiver = SignalReceiver(
            number=number,
            ctx=self.ctx,
            intake=self.intake,
            mode=mode,
            doorbell=self._bell(signal_queue(number)),
            connect=s.connect,
            poll_timeout=s.poll_timeout,
            poll_interval=s.poll_interval,
            ping_interval=s.ping_interval,
            ping_timeout=s.ping_timeout,
            settle=s.settle,
        )
        self._receivers[number] = receiver
        scope = trio.CancelScope()
        self._scopes[signal_queue(number)] = scope
        await self._nursery.start(
            self._supervised, f"receiver[{number[-4:]}]", receiver.run, scope, None
        )
        self.ring(signal_queue(number))

    async def _supervised(
        self,
        name: str,
        run: Any,
        scope: trio.CancelScope,
        session: str | None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        def crashed(actor: str) -> None:
            self.ctx.metrics.restarts.labels(actor).inc()

        try:
            with scope:
                await supervise(name, run, self.restart, on_crash=crashed, task_status=task_status)
        finally:
            if session is not None:
                self._workers.pop(session, None)
                self._scopes.pop(session, None)

    def running_sessions(self) -> list[str]:
        return sorted(self._workers)

    def in_flight(self) -> int:
        """Rows being handled right now, across all workers (graceful stop waits for 0)."""
        return sum(len(w.busy) for w in self._workers.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "workers": {
                name: {"in_flight": len(w.busy)} for name, w in sorted(self._workers.items())
            },
            "receivers": {
                number[-4:].rjust(len(number), "*"): {"mode": r.mode, "connected": r.connected}
                for number, r in sorted(self._receivers.items())
            },
        }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
