"""What the intake journals, under which key, and what it refuses or ignores."""

from __future__ import annotations

import json
from typing import Any

import pytest

from whatsignal.channels import ChannelMap, Route
from whatsignal.errors import PayloadError
from whatsignal.intake import Intake
from whatsignal.metrics import Metrics
from whatsignal.serde import parse_waha_event
from whatsignal.storage import InboundEvent


class _NoBells:
    def ring(self, queue: str) -> None:
        raise AssertionError("whatsapp_event() rings nobody")


def _intake() -> Intake:
    return Intake(
        store=None,  # type: ignore[arg-type]  # whatsapp_event() does not touch the store
        channels=ChannelMap({"default": Route("default", "+15550000002", "+15550000001")}),
        doorbells=_NoBells(),
        metrics=Metrics(),
        clock=lambda: 1_700_000_000.0,
    )


def _row(event: str, payload: dict[str, Any], session: str = "default") -> InboundEvent | str:
    raw = json.dumps({"event": event, "session": session, "payload": payload}).encode()
    return _intake().whatsapp_event(parse_waha_event(raw), raw)


MSG = {"id": "false_1@c.us_A", "from": "1@c.us", "fromMe": False, "body": "hi"}


def test_message_and_message_any_share_one_key() -> None:
    one, two = _row("message", MSG), _row("message.any", MSG)
    assert isinstance(one, InboundEvent)
    assert isinstance(two, InboundEvent)
    assert one.key == two.key == "wa:default:msg:false_1@c.us_A"
    assert (one.queue, one.chat, one.kind) == ("default", "1@c.us", "message")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({**MSG, "fromMe": True}, "own message"),
        ({**MSG, "from": "status@broadcast"}, "status or newsletter"),
        ({**MSG, "from": "123@newsletter"}, "status or newsletter"),
        ({**MSG, "body": "  "}, "empty system message"),
    ],
)
def test_ignored_messages(payload: dict[str, Any], reason: str) -> None:
    assert _row("message", payload) == reason


def test_a_location_or_contact_card_is_not_empty() -> None:
    located = {**MSG, "body": "", "location": {"latitude": "1", "longitude": "2", "live": False}}
    assert isinstance(_row("message", located), InboundEvent)
    assert isinstance(_row("message", {**MSG, "body": "", "vCards": ["BEGIN:VCARD"]}), InboundEvent)


def test_unconfigured_sessions_and_unknown_events_are_ignored() -> None:
    assert _row("message", MSG, session="other") == "session has no channel"
    assert _row("poll.vote", {}) == "event 'poll.vote' is not bridged"


def test_acks_by_level_or_by_name() -> None:
    by_level = _row("message.ack", {"id": "true_1@c.us_B", "ack": 3})
    by_name = _row("message.ack", {"id": "true_1@c.us_B", "ackName": "read"})
    assert isinstance(by_level, InboundEvent)
    assert isinstance(by_name, InboundEvent)
    assert by_level.key == by_name.key == "wa:default:ack:true_1@c.us_B:3:"
    with pytest.raises(PayloadError, match="neither ack nor a known ackName"):
        _row("message.ack", {"id": "true_1@c.us_B", "ackName": "SOMETHING"})


def test_revoked_needs_the_revoked_id() -> None:
    with pytest.raises(PayloadError, match="revokedMessageId"):
        _row("message.revoked", {"after": {"from": "1@c.us"}})
    row = _row("message.revoked", {"revokedMessageId": "A", "after": {"from": "1@c.us"}})
    assert isinstance(row, InboundEvent)
    assert (row.key, row.chat) == ("wa:default:revoked:A", "1@c.us")
