"""Backoff: the delay sequence, its cap, and jitter that stays in bounds."""

from __future__ import annotations

import random

import pytest

from whatsignal.reliability import Backoff


def test_backoff_sequence_without_jitter() -> None:
    backoff = Backoff(initial=1, maximum=30, jitter=0)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_other_factor_and_huge_attempts() -> None:
    backoff = Backoff(initial=0.5, maximum=10, factor=3, jitter=0)
    assert [backoff.base_delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10]
    assert backoff.delay(10_000) == 10
    assert backoff.delay(10**9) == 10  # no big-integer power, no overflow


def test_backoff_jitter_stays_within_bounds_and_spreads() -> None:
    backoff = Backoff(initial=2, maximum=60, jitter=0.25)
    rng = random.Random(7)
    for attempt in range(1, 12):
        base = backoff.base_delay(attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= 60 for d in delays)
        assert all(base * 0.75 <= d <= min(base * 1.25, 60) for d in delays)
        assert len(set(delays)) > 50  # actually jittered (at the cap, half are clamped)


def test_backoff_jitter_is_repeatable_with_a_seed() -> None:
    backoff = Backoff(initial=1, maximum=10)
    first = [backoff.delay(n, random.Random(1)) for n in range(1, 6)]
    again = [backoff.delay(n, random.Random(1)) for n in range(1, 6)]
    assert first == again


def test_backoff_without_rng_uses_the_global_one() -> None:
    backoff = Backoff(initial=1, maximum=10)
    saved = random.getstate()
    try:
        random.seed(11)
        jittered = backoff.delay(1)
    finally:
        random.setstate(saved)
    # The same draw as a generator with that seed: the global source was used, and jittered.
    assert jittered == backoff.delay(1, random.Random(11))
    assert jittered != 1
    assert 0.75 <= jittered <= 1.25


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1, "maximum": 1},
        {"initial": 2, "maximum": 1},
        {"initial": 1, "maximum": 2, "factor": 0.5},
        {"initial": 1, "maximum": 2, "jitter": 1},
        {"initial": 1, "maximum": 2, "jitter": -0.1},
    ],
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_backoff_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Backoff(initial=1, maximum=2).delay(0)
