"""Reliability policy for upstream calls: pure decisions, no I/O, no trio.

The actors ask this package what to do when a call to WAHA or signal-cli fails:

- :mod:`~whatsignal.reliability.classify`: what a failure means for the message that
  caused it (:class:`Failure`, :func:`classify_waha`, :func:`classify_signal`) and what a
  rate limit asks for (:func:`rate_limit_tokens`, :func:`rate_limit_retry_after`);
- :mod:`~whatsignal.reliability.backoff`: how long to wait before a retry (:class:`Backoff`);
- :mod:`~whatsignal.reliability.breaker`: when to stop calling an upstream that keeps
  failing (:class:`CircuitBreaker`).

Backoff and breaker take time as an argument, so tests need no clock.
"""

from __future__ import annotations

from whatsignal.reliability.backoff import Backoff as Backoff
from whatsignal.reliability.breaker import BreakerState as BreakerState
from whatsignal.reliability.breaker import CircuitBreaker as CircuitBreaker
from whatsignal.reliability.classify import Failure as Failure
from whatsignal.reliability.classify import classify_signal as classify_signal
from whatsignal.reliability.classify import classify_waha as classify_waha
from whatsignal.reliability.classify import rate_limit_retry_after as rate_limit_retry_after
from whatsignal.reliability.classify import rate_limit_tokens as rate_limit_tokens
from whatsignal.reliability.classify import waha_quote_failed as waha_quote_failed

__all__ = [
    "Backoff",
    "BreakerState",
    "CircuitBreaker",
    "Failure",
    "classify_signal",
    "classify_waha",
    "rate_limit_retry_after",
    "rate_limit_tokens",
    "waha_quote_failed",
]
