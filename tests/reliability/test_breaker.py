"""CircuitBreaker: opening, half-open probes, lost trials and late answers."""

from __future__ import annotations

from typing import Any

import pytest

from whatsignal.reliability import BreakerState, CircuitBreaker


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker("waha[default]", failure_threshold=3, reset_timeout=10)
    breaker.record_failure(0)
    breaker.record_failure(1)
    breaker.record_success(2)  # resets the count
    breaker.record_failure(3)
    breaker.record_failure(4)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2
    assert breaker.allow(4)
    assert breaker.retry_after(4) == 0
    breaker.record_failure(5)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(5)
    assert breaker.retry_after(7) == 8


def test_breaker_half_open_probe_closes_on_success() -> None:
    breaker = CircuitBreaker("signal[+1]", failure_threshold=1, reset_timeout=10)
    breaker.record_failure(100)
    assert not breaker.allow(109.9)
    assert breaker.retry_after(110) == 0
    assert breaker.allow(110)  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(110)  # only one probe at a time
    assert breaker.retry_after(111) == 9
    breaker.record_success(111)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.allow(111)


def test_breaker_half_open_failure_reopens_for_a_full_timeout() -> None:
    breaker = CircuitBreaker("b", failure_threshold=2, reset_timeout=10)
    breaker.record_failure(0)
    breaker.record_failure(0)
    assert breaker.allow(10)
    breaker.record_failure(12)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow(21)
    assert breaker.retry_after(21) == 1
    assert breaker.allow(22)


def test_breaker_several_trials_need_as_many_successes() -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=5, half_open_max=3)
    breaker.record_failure(0)
    assert breaker.allow(5)
    assert breaker.retry_after(5) == 0  # half open with trial slots left
    assert [breaker.allow(5) for _ in range(3)] == [True, True, False]
    assert breaker.retry_after(5) == 5
    breaker.record_success(6)
    breaker.record_success(6)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success(6)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_lost_trials_expire() -> None:
    """A probe whose caller was cancelled never reports; the breaker must not stick."""
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=5)
    breaker.record_failure(0)
    assert breaker.allow(5)
    assert not breaker.allow(9)
    assert breaker.allow(10)
    breaker.record_success(10)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_late_answers_while_open() -> None:
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=10)
    breaker.record_failure(0)
    breaker.record_success(1)  # a call from before the opening: wait for the probe anyway
    assert breaker.state is BreakerState.OPEN
    breaker.record_failure(4)  # the pause counts from the last failure
    assert breaker.retry_after(4) == 10
    breaker.record_failure(2)  # out of order: never shortens the pause
    assert breaker.retry_after(4) == 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0, "reset_timeout": 1},
        {"failure_threshold": 1, "reset_timeout": -1},
        {"failure_threshold": 1, "reset_timeout": 1, "half_open_max": 0},
    ],
)
def test_breaker_refuses_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("b", **kwargs)
