"""The failed-authentication limiter on its own: buckets, client addresses behind proxies, and
the bounds on what it remembers. Time is a list the test moves."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from whatsignal.web.auth_limit import AuthLimiter, parse_networks


def _limiter(per_minute: int = 6, **options: Any) -> tuple[AuthLimiter, list[float]]:
    now = [1000.0]
    limiter = AuthLimiter(per_minute=per_minute, now=lambda: now[0], **options)
    return limiter, now


def test_a_burst_of_per_minute_failures_then_one_per_refill() -> None:
    limiter, now = _limiter(per_minute=6)  # one token every 10 s
    assert [limiter.failed("192.0.2.1") for _ in range(6)] == [None] * 6
    assert limiter.failed("192.0.2.1") == 10
    now[0] += 4.0
    assert limiter.failed("192.0.2.1") == 6  # still refused: refused requests cost nothing
    now[0] += 6.0
    assert limiter.failed("192.0.2.1") is None
    assert limiter.failed("192.0.2.1") == 10
    now[0] += 60.0
    assert [limiter.failed("192.0.2.1") for _ in range(6)] == [None] * 6  # refilled, not more


def test_addresses_are_counted_apart_and_retry_after_is_whole_seconds() -> None:
    limiter, now = _limiter(per_minute=7)
    for _ in range(7):
        limiter.failed("192.0.2.1")
    assert limiter.failed("192.0.2.2") is None
    assert limiter.failed("192.0.2.1") == 9  # 60/7 = 8.57 s, rounded up
    now[0] -= 30.0  # a clock going back never refills
    assert limiter.failed("192.0.2.1") == 9


def test_going_over_the_limit_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter, now = _limiter(per_minute=2)
    with caplog.at_level(logging.WARNING, logger="whatsignal.http"):
        for _ in range(10):
            limiter.failed("192.0.2.1")
        now[0] += 30.0
        limiter.failed("192.0.2.1")  # under again
        limiter.failed("192.0.2.1")
        limiter.failed("192.0.2.1")  # and over again
    lines = [r.getMessage() for r in caplog.records]
    assert (
        lines
        == ["client 192.0.2.1 failed authentication more than 2 times a minute; answering 429"] * 2
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # Not from a trusted proxy: X-Forwarded-For is whatever the client wrote.
        ("198.51.100.7", ["203.0.113.9"], "198.51.100.7"),
        # From a trusted proxy: the hop it appended.
        ("10.0.0.2", ["203.0.113.9"], "203.0.113.9"),
        # A client's own X-Forwarded-For entries left of the proxy's are not believed.
        ("10.0.0.2", ["1.1.1.1, 203.0.113.9"], "203.0.113.9"),
        # Two trusted proxies in a row, over two header lines.
        ("10.0.0.2", ["1.1.1.1, 203.0.113.9", "10.0.0.3"], "203.0.113.9"),
        # Only proxies: the left-most.
        ("10.0.0.2", ["10.0.0.5, 10.0.0.4"], "10.0.0.5"),
        # No header: the proxy itself.
        ("10.0.0.2", [], "10.0.0.2"),
        # A trusted proxy passed on something that is no address: the proxy counts.
        ("10.0.0.2", ["203.0.113.9, unknown"], "10.0.0.2"),
        ("10.0.0.2", [" 203.0.113.9 ,, "], "10.0.0.2"),
        (" 10.0.0.2 ", ["[2001:db8::1]"], "2001:db8::/64"),
        # IPv6 by its /64, IPv4-mapped IPv6 as IPv4.
        ("2001:db8:1:2:3:4:5:6", [], "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", [], "198.51.100.7"),
        # Not an IP (a unix socket, quart's test client): the text itself.
        ("<local>", ["203.0.113.9"], "<local>"),
        (None, [], "unknown"),
    ],
)
def test_the_client_behind_trusted_proxies(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    limiter, _ = _limiter(trusted_proxies=parse_networks(["10.0.0.0/8", "::ffff:0:0/96"]))
    assert limiter.client(peer, forwarded) == client


def test_without_trusted_proxies_forwarded_for_is_never_believed() -> None:
    limiter, _ = _limiter()
    assert limiter.client("10.0.0.2", ["203.0.113.9"]) == "10.0.0.2"
    assert limiter.client("127.0.0.1", ["203.0.113.9"]) == "127.0.0.1"


def test_at_most_max_addresses_are_tracked_oldest_failure_forgotten_first() -> None:
    limiter, now = _limiter(per_minute=1, max_addresses=3)
    for n in range(3):
        assert limiter.failed(f"192.0.2.{n}") is None
        now[0] += 1.0
    assert limiter.failed("192.0.2.0") == 57  # over: the most recent failure now
    assert limiter.failed("192.0.2.3") is None  # evicts 192.0.2.1, the oldest failure
    assert limiter.tracked == 3
    assert limiter.failed("192.0.2.0") is not None  # still remembered and still over
    assert limiter.failed("192.0.2.1") is None  # forgotten, so a fresh bucket
    assert limiter.tracked == 3


def test_refilled_addresses_are_swept_every_cleanup_interval() -> None:
    limiter, now = _limiter(per_minute=60, cleanup_sec=30.0)  # one token a second
    for _ in range(60):
        limiter.failed("192.0.2.1")  # empty: refilled only after 60 s
    limiter.failed("192.0.2.2")  # refilled after 1 s
    now[0] += 29.0
    for _ in range(60):
        limiter.failed("192.0.2.3")
    assert limiter.tracked == 3  # no sweep before 30 s
    now[0] += 1.0
    limiter.failed("192.0.2.4")  # the sweep drops .2 only
    assert limiter.tracked == 3
    # .3 is remembered: one token refilled, then over again (a fresh bucket would hold 60)
    assert [limiter.failed("192.0.2.3"), limiter.failed("192.0.2.3")] == [None, 1]
