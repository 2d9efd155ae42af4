"""How FakeSignal delivers an envelope, per mode, as signal-cli-rest-api does.

In ``normal``/``native`` mode envelopes queue per account until ``GET /v1/receive`` takes them
(:meth:`SignalDelivery.take_queued`; receiving is destructive). In ``json-rpc`` mode each
envelope is pushed once to every websocket open for its account (:meth:`SignalDelivery.subscribe`)
and is lost when none is open or a socket is too busy (upstream issue #834); with
``receive_webhook_url`` it is also POSTed once, without retry or auth.

With the push path on, delivery follows upstream's receive loop (``ReceiveData`` in
``src/client/jsonrpc2.go``): one envelope at a time, in arrival order, the hand-off to the
websockets first and then the POST, and the next envelope only once that POST has returned.
So a slow or failing push delays everything behind it, and neither path ever reorders.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import trio

from whatsignal.testing._signal_base import Queued, SignalBase

__all__ = ["SignalDelivery", "mask"]

log = logging.getLogger("whatsignal.testing.signal")


def mask(number: str) -> str:
    """A number fit for logs: only its last four digits."""
    return "…" + number[-4:]


@attrs.define(eq=False, kw_only=True)
class SignalDelivery(SignalBase):
    """Queues, receive websockets and the receive webhook of FakeSignal."""

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; reports the base URL. Owns the webhook HTTP client."""
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            self._http = client
            try:
                await super().run(task_status=task_status)
            finally:
                self._http = None

    def fail_pushes(self, count: int = 1) -> None:
        """The next ``count`` receive-webhook POSTs fail as if the bridge could not be reached
        (recorded in ``webhook_results``); upstream logs that and goes on with the next."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self._push_failures += count

    def queued(self) -> dict[str, int]:
        """Envelopes waiting for ``GET /v1/receive``, per account (normal/native mode)."""
        return {account: len(items) for account, items in self._queues.items() if items}

    def sockets(self) -> dict[str, int]:
        """Connected receive websockets, per account (json-rpc mode)."""
        return {account: len(chans) for account, chans in self._sockets.items() if chans}

    async def take_queued(self, account: str, *, wait: float, max_messages: int) -> list[Queued]:
        """Hand out, and forget, the envelopes queued for ``account`` (``GET /v1/receive``).

        Waits up to ``wait`` seconds for the first one to arrive; ``max_messages <= 0`` takes
        every queued envelope. Each non-empty answer is logged in ``handed_out``.
        """
        with trio.move_on_after(wait):
            while not self._queues.get(account):
                await self._arrived.wait()
        queue = self._queues.get(account, [])
        take = len(queue) if max_messages <= 0 else min(max_messages, len(queue))
        items, queue[:take] = queue[:take], []
        if items:
            self.handed_out.append((trio.current_time(), [i.stamp for i in items]))
        return items

    def drop_sockets(self, account: str | None = None) -> int:
        """Close every receive websocket of ``account`` (None: of every account), as a proxy
        or network cut does; returns how many. The client sees the socket close and must
        connect again; envelopes that arrive before it does are dropped (json-rpc mode)."""
        closed = 0
        for name in list(self._sockets):
            if account is None or name == account:
                channels, self._sockets[name] = self._sockets[name], []
                for channel in channels:
                    channel.close()
                    closed += 1
        return closed

    @contextlib.contextmanager
    def subscribe(self, account: str) -> Iterator[trio.MemoryReceiveChannel[str]]:
        """The frames for one receive websocket of ``account``, for as long as it is open.

        The channel holds ``socket_buffer`` frames; a frame that finds it full is dropped for
        this socket, as upstream drops what its busy, unbuffered Go channel cannot take.
        """
        send, recv = trio.open_memory_channel[str](self.socket_buffer)
        self._sockets.setdefault(account, []).append(send)
        self.socket_connects += 1
        self._socket_ids[send] = self.socket_connects
        try:
            yield recv
        finally:
            if send in self._sockets[account]:  # drop_sockets may have taken it out already
                self._sockets[account].remove(send)
            send.close()
            self.socket_closed[self._socket_ids.pop(send)] = trio.current_time()

    def _deliver(self, item: dict[str, Any], text: str) -> None:
        """Deliver ``item``, already serialized to ``text`` (which is what goes out)."""
        account: str = item["account"]
        if self.mode != "json-rpc":
            self._queues.setdefault(account, []).append(Queued(item, text))
            self._arrived.set()
            self._arrived = trio.Event()
            return
        line = Queued(item, text)
        if self.receive_webhook_url:
            self._lines.append(line)
            if len(self._lines) == 1:
                self.nursery.start_soon(self._receive_loop)
            return
        self._hand_off(line)

    async def _receive_loop(self) -> None:
        """Upstream's receive loop with the push path on: hand each line to the websockets,
        then POST it and wait for the answer, one line at a time, in order."""
        while self._lines:
            line = self._lines[0]
            self._hand_off(line)
            if self.receive_webhook_url:
                body = '{"jsonrpc":"2.0","method":"receive","params":' + line.text + "}"
                await self._push_webhook(body)
            self._lines.pop(0)

    def _hand_off(self, line: Queued) -> None:
        """Give the frame to every websocket open for its account, without waiting."""
        account: str = line.item["account"]
        frame = line.text
        delivered = False
        took: list[int] = []
        for channel in self._sockets.get(account, []):
            try:
                channel.send_nowait(frame)
                delivered = True
                took.append(self._socket_ids[channel])
            except trio.WouldBlock:
                log.info("signal fake: socket for %s is busy, frame dropped", mask(account))
            except trio.BrokenResourceError:
                # The socket is closing (its reader is gone, its entry not yet removed): the
                # frame goes nowhere, as on a socket the client just dropped.
                log.info("signal fake: socket for %s is closing, frame dropped", mask(account))
        if not delivered:
            self.dropped += 1
            log.info("signal fake: no websocket for %s, envelope dropped", mask(account))
        self.socket_frames.append((trio.current_time(), line.stamp, tuple(took)))

    async def _push_webhook(self, line: str) -> None:
        """One POST, no retry, no auth: exactly what upstream does with RECEIVE_WEBHOOK_URL."""
        url = self.receive_webhook_url
        if self._http is None or url is None:  # pragma: no cover - run() always sets both
            return
        if self._push_failures:
            self._push_failures -= 1
            self.webhook_results.append("ConnectError: injected (fail_pushes)")
            return
        try:
            response = await self._http.post(
                url,
                content=line.encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            self.webhook_results.append(f"{type(exc).__name__}: {exc}")
            log.warning("signal fake: receive webhook failed: %s", type(exc).__name__)
            return
        self.webhook_results.append(response.status_code)
        if response.status_code not in (200, 201):
            log.warning("signal fake: receive webhook answered %d", response.status_code)
