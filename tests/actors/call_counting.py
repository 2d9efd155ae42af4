"""Work counted, not timed: how many Python calls (generator steps included) a piece of code
makes, so a test can tell linear from quadratic on a shared machine."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable


async def python_calls(work: Callable[[], Awaitable[object]]) -> int:
    """The Python calls made while ``work()`` runs (every task's, so keep others quiet)."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        await work()
    finally:
        sys.setprofile(None)
    return calls
