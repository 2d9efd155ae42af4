"""Typing news read from the wire: what counts as typing, what is stale, what is malformed."""

from __future__ import annotations

from typing import Any

import pytest

from whatsignal.convert.presence import TYPING_STALE, ChatTyping, chat_typing, signal_typing
from whatsignal.errors import PayloadError
from whatsignal.models.signal_api import SigEnvelope, SigReceived, SigTyping
from whatsignal.models.waha import WahaEvent

NOW = 1_700_000_000.0


def presence(states: list[Any], *, at: float | None = NOW, chat: Any = "1@c.us") -> WahaEvent:
    payload = {
        "id": chat,
        "presences": [{"participant": "2@c.us", "lastKnownPresence": s} for s in states],
    }
    return WahaEvent(
        "presence.update", "personal", payload, timestamp=None if at is None else at * 1000
    )


@pytest.mark.parametrize(
    ("states", "on"),
    [(["typing"], True), (["recording"], True), (["paused"], False), (["online", "typing"], True)],
)
def test_typing_while_any_participant_types(states: list[str], on: bool) -> None:
    assert chat_typing(presence(states), NOW) == ChatTyping("personal", "1@c.us", on)


def test_a_retried_presence_older_than_the_stale_limit_is_dropped() -> None:
    assert chat_typing(presence(["typing"], at=NOW - TYPING_STALE - 1), NOW) is None
    assert chat_typing(presence(["typing"], at=None), NOW) is not None  # no time: taken


@pytest.mark.parametrize(
    "event",
    [
        presence(["typing"], chat=None),
        presence([None]),
        WahaEvent("presence.update", "personal", {"id": "1@c.us", "presences": "x"}),
        WahaEvent("presence.update", "personal", {"id": "1@c.us", "presences": [1]}),
    ],
)
def test_a_malformed_presence_is_a_payload_error(event: WahaEvent) -> None:
    with pytest.raises(PayloadError):
        chat_typing(event, NOW)


def item(action: str | None, stamp_ms: int) -> SigReceived:
    typing = SigTyping(action, group_id="Z3JvdXA=") if action else None
    return SigReceived(
        envelope=SigEnvelope(timestamp=stamp_ms, typing_message=typing), account="+1"
    )


def test_signal_typing_reads_action_group_and_staleness() -> None:
    now_ms = int(NOW * 1000)
    news = signal_typing(item("STARTED", now_ms), {}, NOW)
    assert news is not None and news.on and news.group == "Z3JvdXA="
    stopped = signal_typing(item("STOPPED", now_ms), {}, NOW)
    assert stopped is not None and not stopped.on
    old = now_ms - int((TYPING_STALE + 5) * 1000)
    assert signal_typing(item("STARTED", old), {}, NOW) is None
    # The server's clock wins over a phone's that is far off.
    raw = {"envelope": {"serverReceivedTimestamp": now_ms}}
    assert signal_typing(item("STARTED", old), raw, NOW) is not None
    assert signal_typing(item(None, now_ms), {}, NOW) is None
