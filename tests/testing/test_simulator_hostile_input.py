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
    Target,
    send_and_check,
    start_target,
)


def _hammer(target: Target) -> list[str]:
    """Every corpus body to every endpoint; returns what failed (empty: nothing)."""
    failures: list[str] = []
    with httpx.Client(base_url=target.url, timeout=30) as client:
        for endpoint in target.endpoints:
            for name, body in HOSTILE.items():
                try:
                    send_and_check(target, client, endpoint, body)
                    assert client.get("/_sim/").status_code == 200
                except (AssertionError, httpx.HTTPError, ValueError) as exc:
                    failures.append(f"{endpoint} with {name}: {type(exc).__name__}: {exc}")
            try:
                target.still_works(client, f"after {endpoint}")
            except (AssertionError, httpx.HTTPError, ValueError) as exc:
                failures.append(f"broken after {endpoint}: {type(exc).__name__}: {exc}")
    return failures


@pytest.mark.parametrize("check_contracts", [True, False])
@pytest.mark.parametrize("which", ["signal", "waha"])
async def test_the_fake_survives_the_corpus_on_every_endpoint(
    nursery: trio.Nursery, which: str, check_contracts: bool
) -> None:
    target = await start_target(nursery, which, check_contracts=check_contracts)
    failures = await trio.to_thread.run_sync(_hammer, target)
    assert failures == []
    assert target.fake.violations == []
