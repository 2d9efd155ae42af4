"""Which WhatsApp messages are view-once, by each engine's data."""

from __future__ import annotations

from typing import Any

import pytest

from whatsignal.models.waha import WaMessage
from whatsignal.relay.to_signal import view_once


@pytest.mark.parametrize(
    ("data", "once"),
    [
        ({"isViewOnce": True}, True),  # WEBJS
        ({"message": {"viewOnceMessageV2": {"message": {}}}}, True),  # NOWEB / GOWS
        ({"message": {"imageMessage": {}}}, False),
        ({"isViewOnce": "yes", "message": "?"}, False),  # not what an engine sends
        (None, False),
    ],
)
def test_view_once_is_read_from_the_engine_data(data: dict[str, Any] | None, once: bool) -> None:
    assert view_once(WaMessage(id="x", from_="1@c.us", data=data)) is once
