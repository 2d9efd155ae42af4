"""The guard every upstream call of the relay goes through, and what it raises.

:class:`Deferred`: the call was not made (its upstream is paused); :class:`UpstreamError`:
it failed, classified. See :mod:`whatsignal.relay.upstreams`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from whatsignal.errors import ApiError, ClientError
from whatsignal.reliability import CircuitBreaker, Failure

__all__ = ["Deferred", "UpstreamError", "guarded", "too_large"]

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


async def guarded(
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
