"""The bridge's one wall clock.

Unix time is what the journal stores (when an event arrived, when a row is next due, when a
mapping was made), so every part that needs it (store, intake, pollers, router, scheduler)
takes a :data:`Clock` as a collaborator. The root of the actor tree hands its clock down (by
default :func:`wall_clock`); tests hand down one they can move. :func:`wall_clock` is the only
place the bridge reads the system's time of day.

Monotonic time (timeouts, backoff, circuit breakers) is trio's clock, ``trio.current_time()``,
which tests move with ``autojump_clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "wall_clock"]

Clock = Callable[[], float]
"""Returns the current unix time in seconds."""


def wall_clock() -> float:
    """The system's unix time: the clock of a bridge in production."""
    return time.time()
