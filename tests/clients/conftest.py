"""Fixtures for the client tests."""

from __future__ import annotations

import pytest
from client_helpers import Upstream


@pytest.fixture
def upstream() -> Upstream:
    """A scripted upstream; give it answers with ``upstream.answer(...)``."""
    return Upstream()
