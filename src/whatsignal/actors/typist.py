"""Typist: carries typing both ways, best effort, and takes it down when it goes stale.

The intake offers typing news (:mod:`whatsignal.convert.presence`) through a
:class:`TypingDoor` without ever waiting: a full inbox drops it, and nothing of it is
journaled, so typing can neither delay a message nor become a dead letter. The typist works
the news one at a time:

- typing starts: the target is looked up (:class:`~whatsignal.relay.typing_relay.TypingRelay`)
  and the indicator shown there; it is shown again every :attr:`Typist.refresh` seconds (a
  Signal indicator fades after 15 s) while the typing lasts, the target looked up anew each
  time: when the chat a reply would go to changes, the indicator moves, and never stays in a
  chat it does not belong to;
- typing stops (STOPPED, ``paused``, a message from that chat), or no news came for
  :attr:`Typist.expiry` seconds: the indicator is hidden;
- a portal is made (or the typist starts with portals already made): the chat's presence is
  subscribed to, since WAHA sends ``presence.update`` only for subscribed chats.

Each call is bounded by :attr:`Typist.call_timeout`; a slow upstream costs typing, nothing else.
"""

from __future__ import annotations

import logging
import math
from typing import NoReturn, Protocol

import attrs
import trio

from whatsignal.convert.presence import ChatTyping, SignalTyping, TypingNews, Watch, WatchAgain
from whatsignal.relay.typing_relay import Target

__all__ = ["EXPIRY", "REFRESH", "Targets", "TypingDoor", "Typist", "typing_channel"]

log = logging.getLogger("whatsignal.typing")

INBOX = 256
"""Typing news waiting for the typist; more is dropped (typing is best effort)."""

REFRESH = 10.0
"""Seconds between two showings of a lasting indicator (Signal hides one after 15 s)."""

EXPIRY = 15.0
"""Seconds after the last typing news that an indicator is taken down."""

CALL_TIMEOUT = 5.0

_Source = tuple[str, ...]
"""Who types where: ``("whatsapp", session, chat)`` or ``("signal", number, sender, group)``."""


class Targets(Protocol):
    """Where typing shows and how (:class:`~whatsignal.relay.typing_relay.TypingRelay`)."""

    async def whatsapp_target(self, news: SignalTyping) -> Target | None: ...
    async def signal_target(self, session: str, chat: str) -> Target | None: ...
    async def show(self, target: Target, *, on: bool) -> None: ...
    async def subscribe(self, session: str, chat: str) -> None: ...
    async def portal_chats(self) -> list[tuple[str, str]]: ...


@attrs.define(eq=False)
class TypingDoor:
    """The typist's inbox as the edges see it (a ``TypingInbox``: offers never wait)."""

    _send: trio.MemorySendChannel[TypingNews]

    def offer(self, news: TypingNews | None) -> None:
        """Hand news to the typist without waiting; dropped when its inbox is full."""
        if news is None:
            return
        try:
            self._send.send_nowait(news)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("typing news dropped: the typist is busy or gone")


def typing_channel() -> tuple[TypingDoor, trio.MemoryReceiveChannel[TypingNews]]:
    """The door the intake and the portal keeper offer news through, and the typist's end."""
    send, receive = trio.open_memory_channel[TypingNews](INBOX)
    return TypingDoor(send), receive


@attrs.frozen
class _Shown:
    news: TypingNews
    target: Target
    until: float
    refresh_at: float


def _source(news: ChatTyping | SignalTyping) -> _Source:
    if isinstance(news, ChatTyping):
        return ("whatsapp", news.session, news.chat)
    return ("signal", news.item.account, news.item.envelope.sender or "", news.group or "")


@attrs.define(eq=False, kw_only=True)
class Typist:
    """The actor: one loop over its inbox and the deadlines of the indicators it shows."""

    inbox: trio.MemoryReceiveChannel[TypingNews]
    relay: Targets
    refresh: float = REFRESH
    expiry: float = EXPIRY
    call_timeout: float = CALL_TIMEOUT
    _shown: dict[_Source, _Shown] = attrs.field(factory=dict, init=False)

    def showing(self) -> dict[tuple[str, ...], Target]:
        """Who is shown typing now, and where (for tests and the curious)."""
        return {source: shown.target for source, shown in self._shown.items()}

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_portals)
            task_status.started()
            while True:
                news: TypingNews | None = None
                with trio.move_on_at(self._next_deadline()):
                    news = await self.inbox.receive()
                if news is not None:
                    await self._take(news)
                await self._tick()

    async def _watch_portals(self, only: str | None = None) -> None:
        """Subscribe every active portal's chat (``only``: of that session)."""
        chats: list[tuple[str, str]] = []
        with trio.move_on_after(self.call_timeout):
            chats = [c for c in await self.relay.portal_chats() if only in (None, c[0])]
            log.debug("subscribing to the presence of %d portal chats", len(chats))
        for session, chat in chats:
            await self._subscribe(session, chat)

    async def _subscribe(self, session: str, chat: str) -> None:
        with trio.move_on_after(self.call_timeout):
            await self.relay.subscribe(session, chat)

    def _next_deadline(self) -> float:
        return min((min(s.until, s.refresh_at) for s in self._shown.values()), default=math.inf)

    async def _take(self, news: TypingNews) -> None:
        if isinstance(news, Watch):
            await self._subscribe(news.session, news.chat)
            return
        if isinstance(news, WatchAgain):
            await self._watch_portals(news.session)
            return
        source = _source(news)
        if not news.on:
            await self._hide(source)
            return
        now = trio.current_time()
        await self._show(source, news, until=now + self.expiry)

    async def _target(self, news: TypingNews) -> Target | None:
        with trio.move_on_after(self.call_timeout):
            if isinstance(news, SignalTyping):
                return await self.relay.whatsapp_target(news)
            if isinstance(news, ChatTyping):
                return await self.relay.signal_target(news.session, news.chat)
        return None

    async def _call(self, target: Target, *, on: bool) -> None:
        with trio.move_on_after(self.call_timeout):
            await self.relay.show(target, on=on)

    async def _show(self, source: _Source, news: TypingNews, *, until: float) -> None:
        """Show ``source``'s typing where it belongs now (moved or hidden if that changed)."""
        target = await self._target(news)
        old = self._shown.get(source)
        if old is not None and old.target != target:
            del self._shown[source]
            await self._call(old.target, on=False)  # never left in a chat it left
            old = None
        if target is None:
            return
        now = trio.current_time()
        refresh_at = old.refresh_at if old is not None else now
        if now >= refresh_at:
            await self._call(target, on=True)
            refresh_at = trio.current_time() + self.refresh
        self._shown[source] = _Shown(news, target, until, refresh_at)

    async def _hide(self, source: _Source) -> None:
        shown = self._shown.pop(source, None)
        if shown is not None:
            await self._call(shown.target, on=False)

    async def _tick(self) -> None:
        now = trio.current_time()
        for source, shown in list(self._shown.items()):
            if now >= shown.until:
                await self._hide(source)
            elif now >= shown.refresh_at:
                await self._show(source, shown.news, until=shown.until)
