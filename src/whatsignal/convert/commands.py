"""Commands the destination can write to the bridge number in Signal.

A message starting with ``/`` is a command (``//`` at the start sends a literal ``/``):

``/help``
    what the commands are.
``/to +491701234567 text``
    start (or continue) a WhatsApp chat with that number, without quoting anything;
    ``/to session:+4917... text`` picks the session when the destination has several.

Pure: parsing only. The router and the worker both read commands through :func:`parse`.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["HELP", "Command", "parse"]

HELP = (
    "whatsignal commands:\n"
    "/to +491701234567 your text - write to a WhatsApp number (a new chat, or an existing one)\n"
    "/to session:+491701234567 your text - the same, through a given WhatsApp session\n"
    "/help - this list\n"
    "Anything else goes to the chat of the message you quote, or to your latest chat. "
    "Start a message with // to send one that begins with /."
)

_TO = re.compile(
    r"^/to\s+(?:(?P<session>[A-Za-z0-9_-]{1,64}):)?(?P<number>\+?[\d\s()-]{8,20}?)\s+(?P<text>\S.*)$",
    re.S,
)


@attrs.frozen
class Command:
    """A parsed command. ``name`` is ``help``, ``to``, ``escaped`` (a literal ``/`` text) or
    ``invalid``; ``text`` is what to send (``to``, ``escaped``) or why it is invalid."""

    name: str
    text: str = ""
    number: str | None = None
    session: str | None = None


def parse(message: str | None) -> Command | None:
    """The command in a Signal text, or None when it is an ordinary message."""
    if not message or not message.startswith("/"):
        return None
    if message.startswith("//"):
        return Command("escaped", text=message[1:])
    word = message.split(maxsplit=1)[0].lower()
    if word == "/help":
        return Command("help")
    if word == "/to":
        match = _TO.match(message)
        if match is None:
            return Command("invalid", text="usage: /to +491701234567 your text")
        digits = re.sub(r"\D", "", match.group("number"))
        if not 8 <= len(digits) <= 15:
            return Command("invalid", text=f"{match.group('number')} is not a phone number")
        return Command(
            "to", text=match.group("text"), number="+" + digits, session=match.group("session")
        )
    return Command("invalid", text=f"unknown command {word}; /help lists them")
