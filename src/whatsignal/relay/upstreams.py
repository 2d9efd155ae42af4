"""Upstreams: every call the relay makes to WAHA or signal-cli, guarded and classified.

Each WAHA session and each Signal bridge number has its own circuit breaker, so one broken
session slows no other; a bridge number also has a rate-limit pause (:class:`SignalGate`).
Both are shared by every poller that sends through the same session or number, which is why
they live here and not in a poller. The files each direction fetches (WhatsApp's media from
WAHA, the replies' attachments from signal-cli) have breakers of their own, apart from the
sends of the other direction: a lane never waits for the other direction's outage.

A guarded call either returns, or raises:

* :class:`Deferred`: the call was not made because its upstream is paused (breaker open, rate
  limited). The row waits ``retry_after`` seconds and uses no attempt.
* :class:`UpstreamError`: the call failed; ``failure`` says what that means for the row
  (:mod:`whatsignal.reliability`). A rate limit pauses the whole number right here, and the
  error carries the pause as ``retry_after``.

Calls the bridge makes outside a row (name lookups, session listings, notices, readiness) use
the clients directly: they must not trip a breaker that protects message delivery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import trio

from whatsignal.clients import FileData, MediaKind, Spool, WahaClient
from whatsignal.relay._guard import Deferred, UpstreamError, guarded, too_large
from whatsignal.relay.signal_upstream import SignalGate, SignalUpstream
from whatsignal.reliability import CircuitBreaker, classify_waha

__all__ = [
    "Deferred",
    "SignalGate",
    "SignalUpstream",
    "UpstreamError",
    "Upstreams",
    "WhatsAppUpstream",
    "too_large",
]

T = TypeVar("T")


@attrs.define(eq=False, kw_only=True)
class WhatsAppUpstream:
    """The WAHA calls of the relay, each through its session's circuit breaker."""

    client: WahaClient
    breaker_threshold: int = 5
    breaker_reset: float = 15.0
    _breakers: dict[tuple[str, bool], CircuitBreaker] = attrs.field(factory=dict, init=False)

    def breaker(self, session: str, *, files: bool = False) -> CircuitBreaker:
        """The session's breaker of the sends (replies, reactions, edits, ...), or with
        ``files`` that of the downloads of WhatsApp's media. Each direction's lanes have their
        own: a WAHA that refuses sends must not hold back the files it serves, nor failing
        downloads the replies."""
        found = self._breakers.get((session, files))
        if found is None:
            name = f"waha[{session}]" + (" files" if files else "")
            found = CircuitBreaker(name, self.breaker_threshold, self.breaker_reset)
            self._breakers[(session, files)] = found
        return found

    def sessions(self) -> set[str]:
        """The sessions the breakers keep state for now."""
        return {session for session, _files in self._breakers}

    def forget(self, session: str) -> None:
        """The session is gone: its breakers go with it."""
        for files in (False, True):
            self._breakers.pop((session, files), None)

    async def _call(
        self, session: str, call: Callable[[], Awaitable[T]], *, files: bool = False
    ) -> T:
        breaker = self.breaker(session, files=files)
        now = trio.current_time()
        if not breaker.allow(now):
            what = "media downloads" if files else "sends"
            raise Deferred(
                f"WAHA circuit breaker of session {session} ({what}) open",
                breaker.retry_after(now),
            )
        return await guarded(breaker, classify_waha, "waha", session, call)

    async def send_text(
        self,
        session: str,
        chat: str,
        text: str,
        *,
        reply_to: str | None,
        link_preview: bool,
        message_id: str | None = None,
    ) -> str:
        send = self.client.send_text
        return await self._call(
            session,
            lambda: send(
                session,
                chat,
                text,
                reply_to=reply_to,
                link_preview=link_preview,
                message_id=message_id,
            ),
        )

    async def new_message_id(self, session: str) -> str:
        return await self._call(session, lambda: self.client.new_message_id(session))

    async def send_media(
        self,
        session: str,
        chat: str,
        kind: MediaKind,
        *,
        data: FileData,
        mimetype: str,
        filename: str | None,
        caption: str | None,
        reply_to: str | None,
    ) -> str:
        """Voice and video are sent with ``convert`` (WAHA transcodes them as WhatsApp needs)."""
        return await self._call(
            session,
            lambda: self.client.send_media(
                session,
                chat,
                kind,
                data=data,
                mimetype=mimetype,
                filename=filename,
                caption=caption,
                reply_to=reply_to,
                convert=kind in ("voice", "video"),
            ),
        )

    async def react(self, session: str, message_id: str, emoji: str) -> None:
        await self._call(session, lambda: self.client.react(session, message_id, emoji))

    async def vote(self, session: str, chat: str, poll_id: str, votes: Sequence[str]) -> None:
        await self._call(session, lambda: self.client.send_poll_vote(session, chat, poll_id, votes))

    async def mark_seen(self, session: str, chat: str, message_ids: Sequence[str]) -> None:
        await self._call(
            session, lambda: self.client.send_seen(session, chat, message_ids=message_ids)
        )

    async def edit(self, session: str, chat: str, message_id: str, text: str) -> None:
        await self._call(session, lambda: self.client.edit_message(session, chat, message_id, text))

    async def delete(self, session: str, chat: str, message_id: str) -> None:
        await self._call(session, lambda: self.client.delete_message(session, chat, message_id))

    async def download(self, session: str, url: str, *, max_bytes: int, into: Spool) -> str | None:
        """A received file, downloaded into ``into``; returns WAHA's content type."""
        return await self._call(
            session,
            lambda: self.client.download_media(url, max_bytes=max_bytes, into=into),
            files=True,
        )


@attrs.frozen
class Upstreams:
    """Both guarded upstreams, as the relay holds them."""

    whatsapp: WhatsAppUpstream
    signal: SignalUpstream
