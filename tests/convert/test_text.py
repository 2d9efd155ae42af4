"""How bridged messages read, and how names and ids are recovered from them."""

from __future__ import annotations

import pytest

from whatsignal.convert.text import (
    chat_number,
    contains_url,
    format_incoming,
    location_text,
    message_id_candidates,
    quoted_sender,
    reply_context,
    vcard_text,
)


def test_format_incoming_direct_and_group() -> None:
    assert format_incoming("Carol", "Hi") == "Carol: Hi"
    assert format_incoming("Dave", "Tonight?", "Book club") == "Dave in Book club: Tonight?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Carol: Hello there", ("Carol", None)),
        ("Carol Nguyen: Hello: with colon", ("Carol Nguyen", None)),
        ("Dave in Book club: Tonight?", ("Dave", "Book club")),
        ("+15551234567: hi", ("+15551234567", None)),
        ("no sender here", None),
        (": empty name", None),
        ("", None),
        (None, None),
        ("line one\nCarol: not at the start", None),
    ],
)
def test_quoted_sender(text: str | None, expected: tuple[str, str | None] | None) -> None:
    assert quoted_sender(text) == expected


@pytest.mark.parametrize(
    ("text", "has_url"),
    [
        ("see https://example.org/x", True),
        ("www.example.org", True),
        ("HTTP://EXAMPLE.ORG", True),
        ("no link, just example.org", False),
        ("", False),
    ],
)
def test_contains_url(text: str, has_url: bool) -> None:
    assert contains_url(text) is has_url


def test_chat_number_only_for_direct_chats() -> None:
    assert chat_number("491701234567@c.us") == "+491701234567"
    assert chat_number("491701234567@s.whatsapp.net") == "+491701234567"
    assert chat_number("120363000000000000@g.us") is None
    assert chat_number("12345@lid") is None
    assert chat_number("abc@c.us") is None


def test_message_id_candidates() -> None:
    assert message_id_candidates("false_1@c.us_X", "1@c.us", None) == ["false_1@c.us_X"]
    assert message_id_candidates("X", "1@c.us", None) == ["false_1@c.us_X", "true_1@c.us_X", "X"]
    group = message_id_candidates("X", "9@g.us", "2@c.us")
    assert group[:2] == ["false_9@g.us_X", "true_9@g.us_X"]
    assert "false_9@g.us_X_2@c.us" in group
    assert group[-1] == "X"


def test_reply_context_is_one_short_line() -> None:
    assert reply_context("see you\n at  5") == '↪ in reply to "see you at 5"'
    long = reply_context("x" * 200)
    assert long.endswith('…"')
    assert len(long) < 90


def test_location_text() -> None:
    assert location_text("52.52", "13.405", label="Brandenburg Gate") == (
        "📍 Location: Brandenburg Gate\nhttps://maps.google.com/?q=52.520000,13.405000"
    )
    assert location_text(1.5, -2.25, live=True).startswith("📍 Live location\n")
    assert location_text("x", "y", url="https://maps.example/p") == (
        "📍 Location\nhttps://maps.example/p"
    )
    assert location_text(None, None) == "📍 Location"


def test_vcard_text() -> None:
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:Kim Lee\nTEL;type=CELL;waid=4917:+49 170 1234\nEND:VCARD"
    assert vcard_text(card) == "👤 Kim Lee: +49 170 1234"
    assert vcard_text("BEGIN:VCARD\nEND:VCARD") == "👤 contact"
