"""Typing news: what the edges hand the typist, read from the wire (never journaled).

Typing is best effort and ephemeral. A WhatsApp ``presence.update`` or a Signal typing envelope
becomes a small value the intake offers the typist (:mod:`whatsignal.actors.typist`) without
waiting; news older than :data:`TYPING_STALE` seconds when it arrives (a webhook WAHA retried,
envelopes signal-cli kept while the bridge was away) is dropped here.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from whatsignal.errors import PayloadError
from whatsignal.models.signal_api import SigReceived
from whatsignal.models.waha import WahaEvent

__all__ = [
    "TYPING_PRESENCES",
    "TYPING_STALE",
    "ChatTyping",
    "SignalTyping",
    "TypingInbox",
    "TypingNews",
    "Watch",
    "WatchAgain",
    "chat_typing",
    "signal_typing",
]

TYPING_STALE = 10.0
"""Typing news older than this (seconds) when it arrives is dropped: it is over by now."""

TYPING_PRESENCES = frozenset({"typing", "recording"})
"""WAHA's ``lastKnownPresence`` values shown as typing; any other ends it."""

_MS = 1e11


@attrs.frozen
class ChatTyping:
    """Someone is typing (``on``) or stopped in a WhatsApp chat of ``session``."""

    session: str
    chat: str
    on: bool


@attrs.frozen
class SignalTyping:
    """A Signal typing envelope (STARTED: ``on``) of a bridge number's ``item``."""

    item: SigReceived
    on: bool

    @property
    def group(self) -> str | None:
        """The internal id of the group typed in, or None for the one-to-one conversation."""
        typing = self.item.envelope.typing_message
        return typing.group_id if typing is not None else None


@attrs.frozen
class Watch:
    """Subscribe to a chat's presence (a portal was made for it)."""

    session: str
    chat: str


@attrs.frozen
class WatchAgain:
    """A session is WORKING again: subscribe its portals' chats again (WAHA forgets presence
    subscriptions when a session restarts)."""

    session: str


TypingNews = ChatTyping | SignalTyping | Watch | WatchAgain


class TypingInbox(Protocol):
    """The typist's inbox as the edges see it: offering never waits, and may drop."""

    def offer(self, news: TypingNews | None) -> None: ...


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return value / 1000.0 if value > _MS else float(value)


def _stale(sent: float | None, now: float) -> bool:
    return sent is not None and now - sent > TYPING_STALE


def chat_typing(event: WahaEvent, now: float) -> ChatTyping | None:
    """A ``presence.update`` as typing news (None: stale). Typing while any participant types.

    Raises:
        PayloadError: the payload is not WAHA's ``WAHAChatPresences``.
    """
    payload = event.payload
    chat, presences = payload.get("id"), payload.get("presences")
    if not isinstance(chat, str) or not chat or not isinstance(presences, list):
        raise PayloadError("presence.update payload: needs a chat id and a presences list")
    states = [p.get("lastKnownPresence") for p in presences if isinstance(p, dict)]
    if len(states) != len(presences) or not all(isinstance(s, str) for s in states):
        raise PayloadError("presence.update payload: every presence needs lastKnownPresence")
    if _stale(_seconds(event.timestamp), now):
        return None
    return ChatTyping(event.session, chat, any(s in TYPING_PRESENCES for s in states))


def signal_typing(item: SigReceived, raw: Any, now: float) -> SignalTyping | None:
    """A Signal typing envelope as news (None: no typing, or stale by the server's clock,
    else by the envelope's own)."""
    typing = item.envelope.typing_message
    if typing is None:
        return None
    env = raw.get("envelope") if isinstance(raw, dict) else None
    server = _seconds(env.get("serverReceivedTimestamp")) if isinstance(env, dict) else None
    sent = server if server is not None else _seconds(item.envelope.timestamp)
    if _stale(sent, now):
        return None
    return SignalTyping(item, typing.action.upper() == "STARTED")
