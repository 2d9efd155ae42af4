"""Property: whatever JSON-ish body reaches any endpoint of a fake, the answer is below 500
(in the endpoint's own error format) and the fake still works afterwards.

Bodies come from :func:`sim_hostile.bodies_for`: the endpoint's own fields filled with hostile
values (lone surrogates, NaN, numbers past 64 bits, wrong types, nested structures), any
JSON, the fixed hostile corpus, and any of those nested thousands of levels deep, cut short,
given a duplicate key or a stray invalid byte. One fake takes every example of a test, so a
state one body leaves behind meets the bodies after it.

Both fakes run with contract checks on (as in tests) and off (as in ``demo`` and the benches).
Bounded and reproducible: 100 examples per fake, ``derandomize=True`` (the same examples on
every run), no example database, no deadline. Each test takes a few seconds. For a longer,
random hunt set ``WHATSIGNAL_FUZZ_EXAMPLES`` (e.g. 5000): that many examples, randomized, with
hypothesis printing the seed and the failing example to reproduce.
"""

from __future__ import annotations

import itertools
import os

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_hostile import (
    Target,
    bodies_for,
    send_and_check,
    start_target,
)

_HUNT = os.environ.get("WHATSIGNAL_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_HUNT) if _HUNT else 100,
    deadline=None,
    derandomize=not _HUNT,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _fuzz(target: Target) -> int:
    """Run the property against the fake at ``url``; returns how many examples ran."""
    counter = itertools.count(1)
    with httpx.Client(base_url=target.url, timeout=30) as client:

        @FUZZ
        @given(data=st.data())
        def one_body(data: st.DataObject) -> None:
            endpoint = data.draw(st.sampled_from(target.endpoints), label="endpoint")
            body = data.draw(bodies_for(endpoint), label="body")
            send_and_check(target, client, endpoint, body)
            target.still_works(client, f"example {next(counter)}")

        one_body()
    return next(counter) - 1


@pytest.mark.parametrize("check_contracts", [True, False])
@pytest.mark.parametrize("which", ["signal", "waha"])
async def test_fuzzed_bodies_never_break_the_fake(
    nursery: trio.Nursery, which: str, check_contracts: bool
) -> None:
    target = await start_target(nursery, which, check_contracts=check_contracts)
    ran = await trio.to_thread.run_sync(_fuzz, target)
    assert ran >= 100
    assert target.fake.violations == []
