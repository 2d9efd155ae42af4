"""Fixtures for the client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from client_helpers import Upstream

from whatsignal.clients import WahaClient, open_http_client


@pytest.fixture
def upstream() -> Upstream:
    """A scripted upstream; give it answers with ``upstream.answer(...)``."""
    return Upstream()


@pytest.fixture
async def waha(upstream: Upstream) -> AsyncIterator[WahaClient]:
    """The real WAHA client (API key ``secret-key``) talking to :func:`upstream`."""
    async with open_http_client(
        "http://waha:3000", timeout=5, api_key="secret-key", transport=upstream.transport()
    ) as http:
        yield WahaClient(http)
