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
from collections.abc import Callable

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_hostile import (
    SIGNAL_ENDPOINTS,
    WAHA_ENDPOINTS,
    Endpoint,
    bodies_for,
    check_answer,
    signal_still_works,
    waha_still_works,
)
from waha_receiver import serve_receiver

from whatsignal.testing.signal_cli import FakeSignal
from whatsignal.testing.waha import FakeWaha

_HUNT = os.environ.get("WHATSIGNAL_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_HUNT) if _HUNT else 100,
    deadline=None,
    derandomize=not _HUNT,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _fuzz(
    url: str,
    endpoints: tuple[Endpoint, ...],
    *,
    waha: bool,
    still_works: Callable[[httpx.Client, str], None],
) -> int:
    """Run the property against the fake at ``url``; returns how many examples ran."""
    counter = itertools.count(1)
    with httpx.Client(base_url=url, timeout=30) as client:

        @FUZZ
        @given(data=st.data())
        def one_body(data: st.DataObject) -> None:
            endpoint = data.draw(st.sampled_from(endpoints), label="endpoint")
            body = data.draw(bodies_for(endpoint), label="body")
            response = client.request(
                endpoint.method,
                endpoint.path,
                content=body,
                headers={"Content-Type": "application/json"},
            )
            check_answer(endpoint, response, waha=waha)
            still_works(client, f"example {next(counter)}")

        one_body()
    return next(counter) - 1


@pytest.mark.parametrize("check_contracts", [True, False])
async def test_fuzzed_bodies_never_break_fake_signal(
    nursery: trio.Nursery, check_contracts: bool
) -> None:
    fake = FakeSignal(receive_time_scale=0.01, check_contracts=check_contracts)
    url: str = await nursery.start(fake.run)
    ran = await trio.to_thread.run_sync(
        lambda: _fuzz(url, SIGNAL_ENDPOINTS, waha=False, still_works=signal_still_works)
    )
    assert ran >= 100
    assert fake.violations == []


@pytest.mark.parametrize("check_contracts", [True, False])
async def test_fuzzed_bodies_never_break_fake_waha(
    nursery: trio.Nursery, check_contracts: bool
) -> None:
    receiver = await serve_receiver(nursery)
    fake = FakeWaha(
        status_step=0.01,
        not_working_wait=0.05,
        webhook_url=receiver.url,
        webhook_events=("*",),
        webhook_retry_delay=0.01,
        check_contracts=check_contracts,
    )
    url: str = await nursery.start(fake.run)
    ran = await trio.to_thread.run_sync(
        lambda: _fuzz(url, WAHA_ENDPOINTS, waha=True, still_works=waha_still_works)
    )
    assert ran >= 100
    assert fake.violations == []
