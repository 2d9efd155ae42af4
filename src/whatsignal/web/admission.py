"""Admission control: refuse WAHA's webhooks while the journal's backlog is over its bound.

A bridge that accepts faster than it delivers grows its backlog, and with it every message's
latency, without limit. WAHA retries a webhook that is not answered 2xx, so answering 503 with
``Retry-After`` while more than ``server.maxPendingBacklog`` rows are pending hands the waiting
back to WAHA, and nothing is lost. The Signal push path has no retries and is never refused.

The backlog is sampled (one ``COUNT`` on the store's thread every ``interval`` seconds), not
counted per request: a webhook costs no extra database round trip, and the bound may be passed
by what arrives within one interval.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

__all__ = ["Admission"]


@attrs.define(eq=False, kw_only=True)
class Admission:
    """Whether a WAHA webhook may be journaled now.

    Args:
        bound: the most pending rows before webhooks are refused; 0 = never refuse.
        pending: the backlog now (the store's ``pending_count``).
        interval: seconds between samples.
        retry_after: what ``Retry-After`` says, in whole seconds.
    """

    bound: int
    pending: Callable[[], Awaitable[int]]
    interval: float = 0.25
    retry_after: int = 2
    backlog: int = 0

    def refuse(self) -> int | None:
        """``Retry-After`` seconds when the backlog is over the bound, else None."""
        if self.bound and self.backlog > self.bound:
            return self.retry_after
        return None

    async def watch(self) -> None:
        """Sample the backlog until cancelled (nothing to do without a bound)."""
        if not self.bound:
            return
        while True:
            self.backlog = await self.pending()
            await trio.sleep(self.interval)
