"""Shared data for the configuration tests: a minimal valid config and two environments."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parents[2]

DEV_ENV = {"WHATSIGNAL_ENV": "development"}
SECURE_ENV = {
    "WHATSAPP_API_KEY": "waha-key-0123456789",
    "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET": "w" * 40,
    "WHATSIGNAL_ADMIN_TOKEN": "a" * 32,
    "WHATSIGNAL_ENCRYPTION_SECRET": "e" * 32,
    "WHATSIGNAL_ENCRYPTION_SALT": "s" * 16,
    "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT": "l" * 16,
}

_MINIMAL: dict[str, Any] = {
    "whatsapp": {"api_base_url": "http://localhost:3000"},
    "signal": {"rpc_url": "http://localhost:8080", "intermediaryPhoneNumber": "+4915112345678"},
    "channels": [
        {"whatsappSessionName": "default", "signalDestinationPhoneNumber": "+491701234567"}
    ],
    "database": {"path": "whatsignal.db"},
}


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A fresh copy of the smallest valid configuration (mutate it freely)."""
    return copy.deepcopy(_MINIMAL)


@pytest.fixture
def dev_env() -> dict[str, str]:
    """The environment of development mode (no secrets needed)."""
    return dict(DEV_ENV)


@pytest.fixture
def secure_env() -> dict[str, str]:
    """A complete secure-mode environment: every secret set and long enough."""
    return dict(SECURE_ENV)


@pytest.fixture
def fixtures() -> Path:
    """The directory of the test fixture files."""
    return FIXTURES


@pytest.fixture
def repo() -> Path:
    """The repository root (where config.yaml, examples/ and docs/ live)."""
    return REPO
