"""The bridge's webhook in a session's list: replaced alone, kept in place, left when right."""

from __future__ import annotations

from whatsignal.waha_hooks import (
    BRIDGE_EVENTS,
    bridge_hook,
    is_bridge_hook,
    missing_events,
    with_bridge_hook,
)

WANTED = bridge_hook("http://whatsignal:8082/", "k" * 40)


def test_the_hook_points_at_the_webhook_path_with_every_event_signed() -> None:
    assert WANTED["url"] == "http://whatsignal:8082/webhook/whatsapp"
    assert WANTED["events"] == list(BRIDGE_EVENTS)
    assert WANTED["hmac"] == {"key": "k" * 40}


def test_only_the_bridges_own_hooks_are_replaced_in_place() -> None:
    crm = {"url": "https://crm.example/hook", "events": ["message"]}
    old = {"url": "http://old:1/webhook/whatsapp/", "events": ["message"]}
    dup = {"url": "http://older:2/webhook/whatsapp", "events": ["*"]}
    assert with_bridge_hook([old, crm, dup], WANTED) == [WANTED, crm]
    assert with_bridge_hook([crm], WANTED) == [crm, WANTED]
    assert with_bridge_hook([], WANTED) == [WANTED]


def test_an_equal_hook_is_left_alone_whatever_the_order_of_its_events() -> None:
    same = {**WANTED, "events": list(reversed(WANTED["events"]))}
    assert with_bridge_hook([same], WANTED) is None
    assert with_bridge_hook([same, same], WANTED) == [WANTED]  # two: one goes
    for changed in (
        {**WANTED, "hmac": {"key": "other"}},
        {**WANTED, "hmac": None},
        {**WANTED, "events": ["message"]},
        {**WANTED, "retries": None},
        {**WANTED, "customHeaders": [{"name": "X", "value": "y"}]},
    ):
        assert with_bridge_hook([changed], WANTED) == [WANTED]


def test_what_counts_as_the_bridges_hook_and_its_missing_events() -> None:
    assert is_bridge_hook("https://bridge.example/webhook/whatsapp")
    assert not is_bridge_hook("https://bridge.example/webhook/whatsapp/extra")
    assert not is_bridge_hook(None)
    assert missing_events(["*"]) == []
    assert missing_events(["message", "session.status"]) == [
        "message.reaction",
        "message.ack",
        "message.edited",
        "message.revoked",
        "presence.update",
        "group.v2.update",
        "poll.vote",
        "poll.vote.failed",
    ]
