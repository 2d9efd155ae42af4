"""Where typing shows, and the calls that show it (the typist's collaborator).

- **Signal → WhatsApp**: the destination typing in a portal types in the portal's chat; in
  the one-to-one conversation, in the chat an unquoted reply would go to now
  (:meth:`whatsignal.relay.router.Router.reply_target`, the router's own rule). Anyone who is
  not a channel's destination types nowhere.
- **WhatsApp → Signal**: someone typing in a chat shows in the chat's active portal; without
  one, in the one-to-one conversation only while that chat is the one a reply would go to
  (else the user would take it for another chat's typing).

Every call is best effort: a failure is logged (at debug: typing is noise) and forgotten.
No tasks of its own; the typist bounds each call with a timeout.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

import attrs

from whatsignal import log as wlog
from whatsignal.channels import ChannelMap
from whatsignal.convert.presence import SignalTyping
from whatsignal.errors import ClientError
from whatsignal.relay.identities import canonical_chat
from whatsignal.relay.portals import PortalKeeper
from whatsignal.relay.router import Router, SenderUnknown
from whatsignal.storage import Caches, Portals

__all__ = ["Target", "TypingRelay", "TypingSignal", "TypingWaha"]

log = logging.getLogger("whatsignal.typing")


@attrs.frozen
class Target:
    """Where an indicator shows: a WhatsApp chat of a session (``side`` whatsapp), or a
    Signal conversation of a bridge number (``side`` signal: a number or ``group.…`` id)."""

    side: Literal["whatsapp", "signal"]
    owner: str
    """The WAHA session, or the bridge number."""
    chat: str


class TypingWaha(Protocol):
    async def start_typing(self, session: str, chat_id: str) -> None: ...
    async def stop_typing(self, session: str, chat_id: str) -> None: ...
    async def subscribe_presence(self, session: str, chat_id: str) -> None: ...


class TypingSignal(Protocol):
    async def typing(self, number: str, recipient: str, *, on: bool) -> None: ...


class TypingStore(Portals, Caches, Protocol):
    """The portals (to subscribe at start) and the LID pairings (one chat per person)."""


@attrs.define(eq=False, kw_only=True)
class TypingRelay:
    """Finds the target of typing news and shows or hides an indicator there."""

    router: Router
    portals: PortalKeeper
    channels: ChannelMap
    store: TypingStore
    waha: TypingWaha
    signal: TypingSignal

    async def whatsapp_target(self, news: SignalTyping) -> Target | None:
        """The WhatsApp chat the destination's Signal typing belongs to, or None."""
        item = news.item
        try:
            sender = await self.router.sender(item)
        except SenderUnknown:
            return None
        if sender is None or not self.channels.is_destination(sender, item.account):
            return None
        if news.group is not None:
            portal = await self.portals.written_in(item.account, sender, news.group)
            return None if portal is None else Target("whatsapp", portal.session, portal.chat_id)
        found = await self.router.reply_target(item.account, sender)
        return None if found is None else Target("whatsapp", *found)

    async def signal_target(self, session: str, chat: str) -> Target | None:
        """The Signal conversation where typing in ``chat`` shows, or None."""
        route = self.channels.route(session)
        if route is None:
            return None
        group = await self.portals.active(route, chat)
        if group is not None:
            return Target("signal", route.bridge_number, group)
        chat = await canonical_chat(self.store, session, chat)
        latest = await self.router.reply_target(route.bridge_number, route.destination)
        if latest != (session, chat):
            return None
        return Target("signal", route.bridge_number, route.destination)

    async def show(self, target: Target, *, on: bool) -> None:
        """Show (``on``) or hide the indicator; failures are logged only."""
        try:
            if target.side == "signal":
                await self.signal.typing(target.owner, target.chat, on=on)
            elif on:
                await self.waha.start_typing(target.owner, target.chat)
            else:
                await self.waha.stop_typing(target.owner, target.chat)
        except ClientError as error:
            log.debug("typing indicator in %s not shown: %s", wlog.chat(target.chat), error)

    async def subscribe(self, session: str, chat: str) -> None:
        """Ask WAHA for the chat's presence events; failures are logged only."""
        try:
            await self.waha.subscribe_presence(session, chat)
        except ClientError as error:
            log.info(
                "could not subscribe to the presence of %s (no typing from it): %s",
                wlog.chat(chat),
                error,
                extra={"session": session},
            )

    async def portal_chats(self) -> list[tuple[str, str]]:
        """``(session, chat)`` of every active portal (subscribed to at start)."""
        return [(p.session, p.chat_id) for p in await self.store.active_portals()]
