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

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.clients import MediaKind, OutboundAttachment, SignalClient, WahaClient
from whatsignal.errors import ApiError, ClientError
from whatsignal.metrics import Metrics
from whatsignal.reliability import (
    CircuitBreaker,
    Failure,
    classify_signal,
    classify_waha,
    rate_limit_retry_after,
    rate_limit_tokens,
)

__all__ = [
    "Deferred",
    "SignalGate",
    "SignalUpstream",
    "UpstreamError",
    "Upstreams",
    "WhatsAppUpstream",
    "too_large",
]

log = logging.getLogger("whatsignal.upstreams")

T = TypeVar("T")


class Deferred(Exception):
    """A call was not made because its upstream is paused (breaker open, rate limited).

    Treated like a transient failure that waits ``retry_after`` seconds and costs no attempt.
    """

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class UpstreamError(Exception):
    """A failed call: which upstream, for which session or number, and what it means.

    ``retry_after`` is set for a rate limit: how long the number's sends now pause.
    """

    def __init__(
        self,
        upstream: str,
        target: str,
        failure: Failure,
        error: ClientError,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{upstream}: {error}")
        self.upstream = upstream
        self.target = target
        self.failure = failure
        self.error = error
        self.retry_after = retry_after


def too_large(error: ClientError) -> bool:
    """The download stopped at the size limit (the clients say so with a 2xx ApiError)."""
    return isinstance(error, ApiError) and 200 <= error.status < 300 and "larger than" in str(error)


async def _guarded(
    breaker: CircuitBreaker,
    classify: Callable[[ClientError], Failure],
    upstream: str,
    target: str,
    call: Callable[[], Awaitable[T]],
) -> T:
    """Make one call: transient failures count against ``breaker``, every failure is
    classified and raised as an UpstreamError naming the upstream and its target."""
    try:
        result = await call()
    except ClientError as error:
        failure = classify(error)
        if failure is Failure.TRANSIENT:
            breaker.record_failure(trio.current_time())
        raise UpstreamError(upstream, target, failure, error) from error
    breaker.record_success(trio.current_time())
    return result


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
        return await _guarded(breaker, classify_waha, "waha", session, call)

    async def send_text(
        self, session: str, chat: str, text: str, *, reply_to: str | None, link_preview: bool
    ) -> str:
        return await self._call(
            session,
            lambda: self.client.send_text(
                session, chat, text, reply_to=reply_to, link_preview=link_preview
            ),
        )

    async def send_media(
        self,
        session: str,
        chat: str,
        kind: MediaKind,
        *,
        data: bytes,
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

    async def mark_seen(self, session: str, chat: str, message_ids: Sequence[str]) -> None:
        await self._call(
            session, lambda: self.client.send_seen(session, chat, message_ids=message_ids)
        )

    async def edit(self, session: str, chat: str, message_id: str, text: str) -> None:
        await self._call(session, lambda: self.client.edit_message(session, chat, message_id, text))

    async def delete(self, session: str, chat: str, message_id: str) -> None:
        await self._call(session, lambda: self.client.delete_message(session, chat, message_id))

    async def download(self, session: str, url: str, *, max_bytes: int) -> tuple[bytes, str | None]:
        return await self._call(
            session, lambda: self.client.download_media(url, max_bytes=max_bytes), files=True
        )


@attrs.define(eq=False)
class SignalGate:
    """Send protection for one Signal bridge number: a circuit breaker and a rate-limit pause.

    A 429 from signal-cli may have been delivered anyway (signal-cli-rest-api #881): resending at
    once risks a duplicate and makes the limit worse, so every send of the number waits until the
    pause is over, and the pending challenge is reported (log, metric, status page).
    """

    number: str
    breaker: CircuitBreaker
    paused_until: float = 0.0
    challenge_tokens: tuple[str, ...] = ()

    def check(self, now: float) -> None:
        if now < self.paused_until:
            raise Deferred("signal rate limit pause", self.paused_until - now)
        if not self.breaker.allow(now):
            raise Deferred("signal circuit breaker open", self.breaker.retry_after(now))

    def lift(self) -> None:
        """The challenge was solved: sends may go at once."""
        self.paused_until = 0.0
        self.challenge_tokens = ()
        log.info(
            "signal-cli rate limit on %s lifted by a solved challenge", wlog.phone(self.number)
        )

    def pause(self, now: float, seconds: float, tokens: Sequence[str]) -> None:
        self.paused_until = max(self.paused_until, now + seconds)
        self.challenge_tokens = tuple(tokens)
        log.warning(
            "signal-cli rate limit on %s: sends paused for %.0fs; challenge pending "
            "(solve it with POST /admin/signal/rate-limit-challenge)",
            wlog.phone(self.number),
            seconds,
        )


@attrs.define(eq=False, kw_only=True)
class SignalUpstream:
    """The signal-cli calls of the relay, each through its bridge number's :class:`SignalGate`.

    Args:
        rate_limit_pause: how long a number pauses after a 429 that names no wait.
    """

    client: SignalClient
    metrics: Metrics
    rate_limit_pause: float = 60.0
    breaker_threshold: int = 5
    breaker_reset: float = 15.0
    _gates: dict[str, SignalGate] = attrs.field(factory=dict, init=False)
    _file_breakers: dict[str, CircuitBreaker] = attrs.field(factory=dict, init=False)

    def gate(self, number: str) -> SignalGate:
        found = self._gates.get(number)
        if found is None:
            breaker = CircuitBreaker(
                f"signal[{wlog.phone(number)}]", self.breaker_threshold, self.breaker_reset
            )
            found = self._gates[number] = SignalGate(number, breaker)
        return found

    def gates(self) -> list[SignalGate]:
        return list(self._gates.values())

    async def _call(self, number: str, call: Callable[[], Awaitable[T]]) -> T:
        gate = self.gate(number)
        gate.check(trio.current_time())
        try:
            result = await _guarded(gate.breaker, classify_signal, "signal", number, call)
        except UpstreamError as error:
            if error.failure is Failure.RATE_LIMITED:
                pause = rate_limit_retry_after(error.error) or self.rate_limit_pause
                gate.pause(trio.current_time(), pause, rate_limit_tokens(error.error))
                self.metrics.rate_limited.labels("*" + number[-4:]).inc()  # bounded, masked
                error.retry_after = pause
            raise
        if gate.challenge_tokens:
            # Signal accepts sends again: the rate limit is over, the challenge no longer matters.
            log.info("signal-cli rate limit on %s lifted", wlog.phone(number))
            gate.challenge_tokens = ()
        return result

    async def send(
        self,
        number: str,
        recipient: str,
        text: str,
        *,
        quote_timestamp: int | None = None,
        quote_author: str | None = None,
        attachments: Sequence[OutboundAttachment] = (),
        edit_timestamp: int | None = None,
    ) -> int:
        """Send (or edit) a message from ``number``; returns its Signal timestamp."""
        return await self._call(
            number,
            lambda: self.client.send(
                number,
                [recipient],
                text,
                quote_timestamp=quote_timestamp,
                quote_author=quote_author,
                attachments=attachments,
                edit_timestamp=edit_timestamp,
            ),
        )

    async def react(
        self,
        number: str,
        recipient: str,
        emoji: str,
        *,
        target_author: str,
        target_timestamp: int,
        remove: bool,
    ) -> None:
        await self._call(
            number,
            lambda: self.client.react(
                number,
                recipient,
                emoji,
                target_author=target_author,
                target_timestamp=target_timestamp,
                remove=remove,
            ),
        )

    async def read_receipt(self, number: str, recipient: str, *, timestamp: int) -> None:
        await self._call(
            number, lambda: self.client.receipt(number, recipient, timestamp=timestamp)
        )

    async def remote_delete(self, number: str, recipient: str, *, timestamp: int) -> None:
        await self._call(
            number, lambda: self.client.remote_delete(number, recipient, timestamp=timestamp)
        )

    def files_breaker(self, number: str) -> CircuitBreaker:
        """The breaker of the downloads of received attachments (for the replies)."""
        found = self._file_breakers.get(number)
        if found is None:
            name = f"signal[{wlog.phone(number)}] files"
            found = CircuitBreaker(name, self.breaker_threshold, self.breaker_reset)
            self._file_breakers[number] = found
        return found

    async def attachment(self, number: str, attachment_id: str, *, max_bytes: int) -> bytes:
        """A received attachment, which signal-cli serves from its own disk: not through the
        number's gate, so that failing sends or a rate-limit pause (WhatsApp's messages) do not
        hold back the replies' files, but through a breaker of its own."""
        breaker = self.files_breaker(number)
        now = trio.current_time()
        if not breaker.allow(now):
            raise Deferred("signal circuit breaker (attachments) open", breaker.retry_after(now))
        return await _guarded(
            breaker,
            classify_signal,
            "signal",
            number,
            lambda: self.client.attachment(attachment_id, max_bytes=max_bytes),
        )


@attrs.frozen
class Upstreams:
    """Both guarded upstreams, as the relay holds them."""

    whatsapp: WhatsAppUpstream
    signal: SignalUpstream
