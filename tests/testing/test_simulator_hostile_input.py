"""Both fakes survive the hostile input the bridge must survive: every endpoint (control API
and emulated upstream) gets every body of a fixed corpus (nesting 1,000 and 100,000 deep,
5,000-digit integers, NaN, invalid UTF-8, lone surrogates, duplicate keys, wrong types, ...)
and answers below 500 in its own error format. The fake still answers after each body and
still does its work (injects, hands out, sends) after each endpoint's corpus.

The randomized counterpart is ``test_simulator_fuzz.py``.
"""

from __future__ import annotations

import httpx
import pytest
import trio
from sim_hostile import (
    HOSTILE,
    SIGNAL_ENDPOINTS,
    WAHA_ENDPOINTS,
    Endpoint,
    check_answer,
    signal_still_works,
    waha_still_works,
)
from waha_receiver import serve_receiver

from whatsignal.testing.signal_cli import FakeSignal
from whatsignal.testing.waha import FakeWaha


def _hammer(
    url: str, endpoints: tuple[Endpoint, ...], *, waha: bool, still_works: object
) -> list[str]:
    """Every corpus body to every endpoint; returns what failed (empty: nothing)."""
    assert callable(still_works)
    failures: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for endpoint in endpoints:
            for name, body in HOSTILE.items():
                try:
                    response = client.request(
                        endpoint.method,
                        endpoint.path,
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    check_answer(endpoint, response, waha=waha)
                    assert client.get("/_sim/").status_code == 200
                except (AssertionError, httpx.HTTPError, ValueError) as exc:
                    failures.append(f"{endpoint} with {name}: {type(exc).__name__}: {exc}")
            try:
                still_works(client, f"after {endpoint}")
            except (AssertionError, httpx.HTTPError, ValueError) as exc:
                failures.append(f"broken after {endpoint}: {type(exc).__name__}: {exc}")
    return failures


@pytest.mark.parametrize("check_contracts", [True, False])
async def test_fake_signal_survives_the_corpus_on_every_endpoint(
    nursery: trio.Nursery, check_contracts: bool
) -> None:
    fake = FakeSignal(receive_time_scale=0.01, check_contracts=check_contracts)
    url: str = await nursery.start(fake.run)
    failures = await trio.to_thread.run_sync(
        lambda: _hammer(url, SIGNAL_ENDPOINTS, waha=False, still_works=signal_still_works)
    )
    assert failures == []
    assert fake.violations == []


@pytest.mark.parametrize("check_contracts", [True, False])
async def test_fake_waha_survives_the_corpus_on_every_endpoint(
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
    failures = await trio.to_thread.run_sync(
        lambda: _hammer(url, WAHA_ENDPOINTS, waha=True, still_works=waha_still_works)
    )
    assert failures == []
    assert fake.violations == []
