"""Hostile content end to end: what a stranger can put in a message never breaks the bridge.

- a lone surrogate in a WhatsApp text (JSON ``"\\ud83d"`` parses to one in Python) still arrives
  in Signal, with U+FFFD in its place;
- an envelope on the push path that pairs the destination's number with a stranger's uuid does
  not make the bridge take that stranger for the destination; pairings signal-cli hands out on
  its websocket are learned.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from bridge_harness import ALICE_PHONE, World, message_key, world
from e2e_tools import (
    WA_ALICE,
    chat_of,
    forward,
    get,
    post_webhook,
    push_line,
    send_texts,
    signal_texts,
)

from whatsignal.testing import Fault

PUSH_TOKEN = "p" * 32
STRANGER = "+15559990000"
STRANGER_UUID = "e0e0e0e0-1111-4222-8333-444455556666"
ALICE_UUID = "9d2a0c8e-0000-4000-8000-0000000000a1"


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


async def test_a_pushed_envelope_cannot_pair_the_destination_with_a_strangers_uuid(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, extra={"signal": {"webhookToken": PUSH_TOKEN}}) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        forged = push_line("claims to be Alice", 1_900_000_000_100, uuid=STRANGER_UUID)
        path = f"/webhook/signal?token={PUSH_TOKEN}"
        assert (await post_webhook(w, forged, signature=None, path=path)).status_code == 200
        assert await w.envelopes_done(forged["params"]) == ["done"]

        # The stranger writes from Signal, hiding their number.
        hidden = w.signal.inject_envelope(
            STRANGER, sender_uuid=STRANGER_UUID, message="forward me", number_hidden=True
        )

        assert await w.envelopes_done(hidden) == ["done"]
        assert "forward me" not in [c["text"] for c in send_texts(w)]
        assert w.bridge.metrics.strangers._value.get() == 1
        assert await w.parts.store.number_for_uuid(STRANGER_UUID) == STRANGER  # contacts said


async def test_a_pairing_signal_cli_hands_out_is_learned(tmp_path: Path) -> None:
    # signal-cli's contact list cannot be read: only what its websocket gave can tell Alice.
    faults = [Fault(path="/v1/contacts/*", count=None, status=503)]
    async with world(tmp_path, signal_faults=faults) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        shown = w.signal.inject_envelope(ALICE_PHONE, sender_uuid=ALICE_UUID, message="one")
        assert await w.envelopes_done(shown) == ["done"]
        hidden = w.signal.inject_envelope(
            ALICE_PHONE, sender_uuid=ALICE_UUID, message="two", number_hidden=True
        )
        assert await w.envelopes_done(hidden) == ["done"]
        assert [(c["chatId"], c["text"]) for c in send_texts(w)] == [
            (chat_of(WA_ALICE), "one"),
            (chat_of(WA_ALICE), "two"),
        ]


WA_SECRET = "the vault code is 4711 and the key lies under the blue mat"
SIGNAL_SECRET = "meet me at the north gate at midnight, come alone"


async def test_upstream_errors_quoting_the_message_keep_neither_text_nor_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="whatsignal")  # httpx's own lines stay off, as run
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        # signal-cli names the recipient and quotes the message; WAHA echoes text and chat.
        echo = f'Failed to send message to "{ALICE_PHONE}": "Alice: {WA_SECRET}"'
        w.signal.add_fault(Fault(path="/v2/send", count=None, status=400, body={"error": echo}))
        payload = w.waha.inject_message(
            "personal", from_=WA_ALICE, body=WA_SECRET, notify_name="Alice"
        )
        assert await w.row_done(message_key("personal", payload)) == ["dead"]

        rejected = f"text {SIGNAL_SECRET} for chatId {chat_of(WA_ALICE)} rejected"
        w.waha.fault(
            "/api/sendText",
            count=None,
            status=400,
            body={"statusCode": 400, "message": rejected, "error": "Bad Request"},
        )
        reply = w.signal.inject_envelope(ALICE_PHONE, message=SIGNAL_SECRET)
        assert await w.envelopes_done(reply) == ["dead"]

        stored = [row.last_error or "" for row in await w.parts.store.dead_letters()]
        letters = (await get(w, "/admin/dead-letters")).text
        status = await get(w, "/session/status")
        shown = status.json()["sessions"]["personal"]["last_error"] or ""
        assert len(stored) == 2 and all("HTTP 400" in error for error in stored)
        assert "HTTP 400" in shown
        logged = [r.getMessage() for r in caplog.records if r.name.startswith("whatsignal")]
        assert any("dead letter" in line for line in logged)
        for where in [*stored, letters, status.text, shown, *logged]:
            for secret in (WA_SECRET, SIGNAL_SECRET, "vault code", "north gate"):
                assert secret not in where, where
            for number in (ALICE_PHONE, WA_ALICE):
                assert number.lstrip("+") not in where, where
