"""Backoff: how long to wait before the next retry, with jitter.

Pure policy: the delay is a function of the attempt number and a random source that can be
passed in, so tests need neither a clock nor luck.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

__all__ = ["Backoff"]


def _non_negative(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen
class Backoff:
    """Exponential backoff with jitter: ``initial * factor ** (attempt - 1)``, capped.

    Jitter spreads the retries of many messages (or many sessions) that failed together
    so that they do not hit the recovering upstream at the same instant: the delay is
    multiplied by a uniform factor in ``[1 - jitter, 1 + jitter]`` and then clamped to
    ``[0, maximum]``.

    Attributes:
        initial: the first delay, in seconds.
        maximum: no delay is longer than this.
        factor: growth per attempt (>= 1).
        jitter: the relative spread (0 disables it, must be below 1).
    """

    initial: float = attrs.field(converter=float, validator=_non_negative)
    maximum: float = attrs.field(converter=float, validator=_non_negative)
    factor: float = attrs.field(default=2.0, converter=float)
    jitter: float = attrs.field(default=0.25, converter=float)

    def __attrs_post_init__(self) -> None:
        if self.maximum < self.initial:
            raise ValueError("maximum must not be below initial")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def base_delay(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (1-based), without jitter."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        try:
            delay = self.initial * self.factor ** (attempt - 1)
        except OverflowError:
            return self.maximum
        return min(delay, self.maximum)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before retry number ``attempt`` (1-based), with jitter.

        Args:
            rng: the random source; a seeded :class:`random.Random` makes it repeatable.
        """
        delay = self.base_delay(attempt)
        if self.jitter:
            uniform = rng.uniform if rng is not None else random.uniform
            delay *= uniform(1 - self.jitter, 1 + self.jitter)
        return min(max(delay, 0.0), self.maximum)
