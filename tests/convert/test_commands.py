"""Parsing what the destination writes to the bridge number as commands."""

from __future__ import annotations

import pytest

from whatsignal.convert.commands import Command, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("hello", None),
        ("", None),
        ("/help", Command("help")),
        ("/HELP me", Command("help")),
        ("//etc/hosts is a file", Command("escaped", text="/etc/hosts is a file")),
        ("/to +4917012345678 hi there", Command("to", "hi there", "+4917012345678")),
        ("/to 4917012345678 hi", Command("to", "hi", "+4917012345678")),
        (
            "/to work:+4917012345678 report\nline 2",
            Command("to", "report\nline 2", "+4917012345678", "work"),
        ),
        ("/to +49(170)1234-5678 hi", Command("to", "hi", "+4917012345678")),
        ("/to +4917012345678", Command("invalid", "usage: /to +491701234567 your text")),
        ("/to 12345 hi", Command("invalid", "usage: /to +491701234567 your text")),
        (
            "/to +1234567890123456789 hi",
            Command("invalid", "+1234567890123456789 is not a phone number"),
        ),
        ("/frobnicate", Command("invalid", "unknown command /frobnicate; /help lists them")),
        ("/TO +4917012345678 hi", Command("to", "hi", "+4917012345678")),
        ("/status", Command("status")),
        ("/Status   work ", Command("status", session="work")),
        ("/restart default", Command("restart", session="default")),
        ("/START", Command("start")),
        ("/stop a b", Command("invalid", "usage: /stop session")),
        ("/pair", Command("pair")),
        ("/pair  default", Command("pair", session="default")),
        ("/pair +4917012345678", Command("pair", number="+4917012345678")),
        (
            "/Pair default 4917012345678",
            Command("pair", number="+4917012345678", session="default"),
        ),
        (
            "/pair default +12",
            Command(
                "invalid", "usage: /pair session, or /pair session +491701234567 for a pairing code"
            ),
        ),
        ("  /status", Command("status")),
        ("/retry", Command("retry")),
        ("/RETRY work", Command("retry", session="work")),
        ("/chats", Command("chats")),
        ("/chats 3", Command("invalid", "usage: /chats")),
        ("/to 3 see you", Command("to", "see you", index=3)),
        ("/To  12  two\nlines", Command("to", "two\nlines", index=12)),
        ("/to 3", Command("invalid", "usage: /to N your text (N from /chats)")),
        ("/mute", Command("mute")),
        ("/Mute 2", Command("mute", index=2)),
        ("/unmute  4 ", Command("unmute", index=4)),
        (
            "/mute Bob",
            Command(
                "invalid",
                "usage: /mute N (N from /chats), or /mute quoting a message of the chat",
            ),
        ),
    ],
)
def test_parse(text: str | None, expected: Command | None) -> None:
    assert parse(text) == expected
