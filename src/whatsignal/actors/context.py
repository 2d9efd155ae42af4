"""What every bridge actor shares: the store, the clients, the channel map and the policies.

Nothing here runs on its own; the actors (worker, receiver, registry) call into it. Per-upstream
protection (circuit breakers, the rate-limit pause of a Signal number) lives here because
several workers send through the same WAHA session or Signal number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import attrs
import trio

from whatsignal import log as wlog
from whatsignal.clients import SignalClient, WahaClient
from whatsignal.convert.media import MediaPolicy
from whatsignal.metrics import Metrics
from whatsignal.reliability import Backoff, CircuitBreaker
from whatsignal.storage import Store

__all__ = ["BridgeContext", "ChannelMap", "Deferred", "Route", "RoutedTo", "SignalGate"]

log = logging.getLogger("whatsignal.bridge")

NAME_CACHE_MAX = 50_000
NAME_MISS_TTL = 300.0


class Deferred(Exception):
    """A call was not made because its upstream is paused (breaker open, rate limited).

    Treated like a transient failure that waits ``retry_after`` seconds and costs no attempt.
    """

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@attrs.frozen
class Route:
    """Where one WAHA session's chats go in Signal."""

    session: str
    destination: str
    bridge_number: str


@attrs.frozen
class RoutedTo:
    """Where the router last sent a destination's message (``at``: wall-clock time).

    A reply is routed when it is received but gets its mapping only once it is delivered, so
    an unquoted follow-up sent right after a quoted reply would otherwise go to whichever chat
    had the last *delivered* message rather than where the user was just writing.
    """

    session: str
    chat: str
    at: float


@attrs.frozen
class ChannelMap:
    """The configured channels, indexed both ways.

    ``default`` is the ``"*"`` channel's route template (its session name is replaced by the
    discovered session's), or None.
    """

    routes: dict[str, Route]
    default: Route | None = None

    def route(self, session: str) -> Route | None:
        found = self.routes.get(session)
        if found is None and self.default is not None:
            return Route(session, self.default.destination, self.default.bridge_number)
        return found

    def configured(self, session: str) -> bool:
        return session in self.routes or self.default is not None

    def sessions_for(self, destination: str, bridge_number: str, known: Sequence[str]) -> list[str]:
        """Sessions whose chats reach ``destination`` through ``bridge_number``.

        ``known`` lists the sessions running now (for the ``"*"`` default channel).
        """
        found = [
            r.session
            for r in self.routes.values()
            if r.destination == destination and r.bridge_number == bridge_number
        ]
        if (
            self.default is not None
            and self.default.destination == destination
            and self.default.bridge_number == bridge_number
        ):
            found += [s for s in known if s not in self.routes and s not in found]
        return found

    @property
    def bridge_numbers(self) -> frozenset[str]:
        numbers = {r.bridge_number for r in self.routes.values()}
        if self.default is not None:
            numbers.add(self.default.bridge_number)
        return frozenset(numbers)

    def is_destination(self, number: str, bridge_number: str) -> bool:
        routes = [*self.routes.values(), *([self.default] if self.default else [])]
        return any(r.destination == number and r.bridge_number == bridge_number for r in routes)


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
            "(solve it with POST /v1/accounts/{number}/rate-limit-challenge)",
            wlog.phone(self.number),
            seconds,
        )


@attrs.define(eq=False, kw_only=True)
class BridgeContext:
    """Shared collaborators and policies of the actors of one bridge.

    Attributes:
        retry_backoff: delays between attempts (``retry.initialBackoffMs``/``maxBackoffMs``).
        max_attempts: permanent failures allowed before a message is dead.
        max_age: seconds a message may keep failing transiently before it is dead.
        ring: rings the doorbell of a queue (session name or ``signal:<number>``).
        wall: wall-clock time (the journal stores unix times).
    """

    store: Store
    waha: WahaClient
    signal: SignalClient
    channels: ChannelMap
    metrics: Metrics
    retry_backoff: Backoff
    max_attempts: int
    max_age: float
    link_preview: bool = True
    rate_limit_pause: float = 60.0
    media: MediaPolicy = attrs.field(factory=MediaPolicy)
    contact_ttl: float = 24 * 3600.0
    group_ttl: float = 24 * 3600.0
    ring: Callable[[str], None] = lambda queue: None
    running_sessions: Callable[[], Sequence[str]] = lambda: ()
    wall: Callable[[], float] = time.time
    breaker_threshold: int = 5
    breaker_reset: float = 15.0
    last_routed: dict[tuple[str, str], RoutedTo] = attrs.field(factory=dict)
    """Per ``(bridge number, destination)``: where its latest message was routed."""
    known_identities: dict[str, str] = attrs.field(factory=dict)  # Signal uuid -> number
    _names: dict[tuple[str, str, str], tuple[str | None, float]] = attrs.field(factory=dict)
    _waha_breakers: dict[str, CircuitBreaker] = attrs.field(factory=dict)
    _gates: dict[str, SignalGate] = attrs.field(factory=dict)

    def cached_name(self, kind: str, session: str, key: str) -> tuple[bool, str | None]:
        """An in-memory name lookup (contacts, groups): ``(found, name)``. ``name`` may be
        None for a remembered miss, so a failing lookup is not repeated for every message."""
        entry = self._names.get((kind, session, key))
        if entry is None or entry[1] < self.wall():
            return False, None
        return True, entry[0]

    def remember_name(self, kind: str, session: str, key: str, name: str | None) -> None:
        if len(self._names) >= NAME_CACHE_MAX:
            self._names.clear()  # crude but bounded; the store still has every name
        ttl = (self.group_ttl if kind == "group" else self.contact_ttl) if name else NAME_MISS_TTL
        self._names[(kind, session, key)] = (name, self.wall() + ttl)

    def waha_breaker(self, session: str) -> CircuitBreaker:
        found = self._waha_breakers.get(session)
        if found is None:
            found = CircuitBreaker(f"waha[{session}]", self.breaker_threshold, self.breaker_reset)
            self._waha_breakers[session] = found
        return found

    def gate(self, number: str) -> SignalGate:
        found = self._gates.get(number)
        if found is None:
            breaker = CircuitBreaker(
                f"signal[{wlog.phone(number)}]", self.breaker_threshold, self.breaker_reset
            )
            found = SignalGate(number, breaker)
            self._gates[number] = found
        return found

    def gates(self) -> list[SignalGate]:
        return list(self._gates.values())

    def now(self) -> float:
        """Monotonic time for breakers and pauses."""
        return trio.current_time()
