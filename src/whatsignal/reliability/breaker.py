"""CircuitBreaker: stop calling an upstream that keeps failing, and probe it again later.

Pure policy: the breaker never reads a clock. Every method takes the current time, so the
actors drive it with ``trio.current_time()`` and tests step it with plain floats.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(enum.Enum):
    """A circuit breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@attrs.define(eq=False)
class CircuitBreaker:
    """Stop calling an upstream that keeps failing; probe it again after a pause.

    ``failure_threshold`` consecutive failures open the breaker: :meth:`allow` refuses
    calls for ``reset_timeout`` seconds after the last failure. Then it is half open:
    up to ``half_open_max`` trial calls are allowed; as many successes close it, any
    failure opens it again. A trial whose outcome is never recorded (its caller was
    cancelled) expires after ``reset_timeout``, so the breaker cannot stick half open.

    Which failures count is the caller's choice: record transient failures (no answer,
    5xx, session not ready) and successes; a permanent failure says nothing about the
    upstream's health (unlike Go whatsignal, 5xx count, not only transport errors).

    Time is passed in (``trio.current_time()`` in the actors, any float in tests).
    """

    name: str
    failure_threshold: int
    reset_timeout: float
    half_open_max: int = 1
    _state: BreakerState = attrs.field(default=BreakerState.CLOSED, init=False)
    _failures: int = attrs.field(default=0, init=False)
    _opened_at: float = attrs.field(default=0.0, init=False)
    _trials: int = attrs.field(default=0, init=False)
    _last_trial_at: float = attrs.field(default=0.0, init=False)
    _successes: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.half_open_max < 1:
            raise ValueError("half_open_max must be at least 1")
        if self.reset_timeout < 0:
            raise ValueError("reset_timeout must not be negative")

    @property
    def state(self) -> BreakerState:
        """The recorded state. OPEN turns HALF_OPEN on the first :meth:`allow` after the pause."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures recorded since the last success (for status pages)."""
        return self._failures

    def allow(self, now: float) -> bool:
        """May a call go out now? In half-open state each True is a trial slot taken."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now < self._opened_at + self.reset_timeout:
                return False
            self._state = BreakerState.HALF_OPEN
            self._trials = 0
            self._successes = 0
        if self._trials >= self.half_open_max and now >= self._last_trial_at + self.reset_timeout:
            self._trials = self._successes  # trials with no outcome are presumed lost
        if self._trials >= self.half_open_max:
            return False
        self._trials += 1
        self._last_trial_at = now
        return True

    def record_success(self, now: float) -> None:
        """A call succeeded. Closes a half-open breaker once ``half_open_max`` trials passed."""
        del now  # kept for symmetry with record_failure; success timing does not matter
        if self._state is BreakerState.CLOSED:
            self._failures = 0
        elif self._state is BreakerState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self.half_open_max:
                self._close()
        # OPEN: a late answer to a call made before the breaker opened; wait for the probe.

    def record_failure(self, now: float) -> None:
        """A call failed (in a way that says the upstream is unwell)."""
        self._failures += 1
        if self._state is BreakerState.CLOSED and self._failures < self.failure_threshold:
            return
        self._state = BreakerState.OPEN
        self._opened_at = max(self._opened_at, now)
        self._trials = 0
        self._successes = 0

    def retry_after(self, now: float) -> float:
        """Seconds until :meth:`allow` may say True again (0 when it would now)."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        if self._state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self.reset_timeout - now)
        if self._trials < self.half_open_max:
            return 0.0
        return max(0.0, self._last_trial_at + self.reset_timeout - now)

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._trials = 0
        self._successes = 0
