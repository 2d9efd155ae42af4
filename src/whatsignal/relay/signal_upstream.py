"""The signal-cli side of the relay's upstreams: a :class:`SignalGate` (breaker and
rate-limit pause) per bridge number, and :class:`SignalUpstream`'s calls through it. See
:mod:`whatsignal.relay.upstreams`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.clients import OutboundAttachment, SignalClient, Spool
from whatsignal.metrics import Metrics
from whatsignal.relay._guard import Deferred, UpstreamError, guarded
from whatsignal.reliability import (
    CircuitBreaker,
    Failure,
    classify_signal,
    rate_limit_retry_after,
    rate_limit_tokens,
)

__all__ = ["SignalGate", "SignalUpstream"]

log = logging.getLogger("whatsignal.upstreams")

T = TypeVar("T")


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
            result = await guarded(gate.breaker, classify_signal, "signal", number, call)
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
        text_mode: str | None = None,
        view_once: bool = False,
    ) -> int:
        """Send (or edit) a message from ``number``; returns its Signal timestamp.

        ``text_mode="styled"``: ``text`` is in signal-cli-rest-api's markers
        (:func:`whatsignal.convert.markup.render_styled`)."""
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
                text_mode=text_mode,
                view_once=view_once,
            ),
        )

    async def poll(
        self, number: str, recipient: str, question: str, answers: Sequence[str], *, multiple: bool
    ) -> int:
        """Send a Signal poll from ``number``; returns its Signal timestamp."""
        return await self._call(
            number,
            lambda: self.client.create_poll(
                number, recipient, question, answers, multiple=multiple
            ),
        )

    async def vote(
        self, number: str, recipient: str, *, author: str, timestamp: int, answers: Sequence[int]
    ) -> None:
        """Vote from ``number`` on a poll (``answers`` numbered from 1)."""
        await self._call(
            number,
            lambda: self.client.vote_poll(
                number, recipient, author=author, timestamp=timestamp, answers=answers
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

    async def attachment(
        self, number: str, attachment_id: str, *, max_bytes: int, into: Spool
    ) -> None:
        """A received attachment, downloaded into ``into``. signal-cli serves it from its own
        disk: not through the number's gate, so that failing sends or a rate-limit pause
        (WhatsApp's messages) do not hold back the replies' files, but through a breaker of
        its own."""
        breaker = self.files_breaker(number)
        now = trio.current_time()
        if not breaker.allow(now):
            raise Deferred("signal circuit breaker (attachments) open", breaker.retry_after(now))
        await guarded(
            breaker,
            classify_signal,
            "signal",
            number,
            lambda: self.client.attachment(attachment_id, max_bytes=max_bytes, into=into),
        )
