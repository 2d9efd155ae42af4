"""The bridge's one wall clock.

Unix time is what the journal stores (when an event arrived, when a row is next due, when a
mapping was made), so every part that needs it (store, intake, pollers, router, scheduler)
takes a :data:`Clock` as a collaborator. The root of the actor tree makes one and hands it
down; tests hand down one they can move. :func:`wall_clock` is the only place the bridge reads
the system's time of day.

Monotonic time (timeouts, backoff, circuit breakers) is trio's clock, ``trio.current_time()``,
which tests move with ``autojump_clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs

__all__ = ["Clock", "ManualClock", "wall_clock"]

Clock = Callable[[], float]
"""Returns the current unix time in seconds."""


def wall_clock() -> float:
    """The system's unix time: the clock of a bridge in production."""
    return time.time()


@attrs.define(eq=False)
class ManualClock:
    """A clock that stands still until moved (tests, benchmarks, simulations).

    ``ManualClock(start)()`` returns ``start`` until :meth:`advance` or :meth:`set` moves it.
    """

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, now: float) -> None:
        self.now = now
