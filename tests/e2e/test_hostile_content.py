"""Hostile content end to end: what a stranger can put in a message never breaks the bridge.

A lone surrogate in a WhatsApp text (JSON ``"\\ud83d"`` parses to one in Python) still arrives
in Signal, with U+FFFD in its place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_harness import World, message_key, world
from e2e_tools import WA_ALICE, post_webhook, signal_texts


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replaced(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, old, new) for v in value]
    return value


def _quiet_message(w: World, **fields: Any) -> dict[str, Any]:
    """A WAHA ``message`` event built by the fake but not delivered (the test posts it).

    The fake cannot encode a lone surrogate itself, so ``<HIGH>`` and ``<LOW>`` in the fields
    become ``\ud83d`` and ``\udc00`` in the event afterwards."""
    url, w.waha.webhook_url = w.waha.webhook_url, None
    try:
        w.waha.inject_message("personal", from_=WA_ALICE, **fields)
    finally:
        w.waha.webhook_url = url
    event = _replaced(w.waha.events[-1], "<HIGH>", "\ud83d")
    return dict(_replaced(event, "<LOW>", "\udc00"))


async def test_a_lone_surrogate_in_a_whatsapp_text_still_reaches_signal(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        event = _quiet_message(w, body="broken <HIGH> emoji", notify_name="Al<LOW>ice")
        answer = await post_webhook(w, event)  # json.dumps writes the "\ud83d" escape
        assert answer.status_code == 200
        assert await w.row_done(message_key("personal", event["payload"])) == ["done"]
        assert signal_texts(w) == ["Al\ufffdice: broken \ufffd emoji"]
