"""Commands the destination can write to the bridge number in Signal.

A message starting with ``/`` is a command (``//`` at the start sends a literal ``/``):

``/help``
    what the commands are.
``/to +491701234567 text``
    start (or continue) a WhatsApp chat with that number, without quoting anything;
    ``/to session:+4917... text`` picks the session when the destination has several.
``/status``, ``/start``, ``/stop``, ``/restart [session]``, ``/pair [session] [+phone]``,
``/retry [session]``
    see and steer the WhatsApp sessions of the destination's own channels (the controller,
    :mod:`whatsignal.actors.controller`, carries them out).
``/chats``, ``/to N text``, ``/mute [N]``, ``/unmute [N]``, ``/portal [N]``
    the recent chats, numbered; write to chat N of that list; mute or unmute a chat, or make
    it a new Signal group (N from the list, or the chat of the quoted message).
    :mod:`whatsignal.relay.chat_commands`.

Commands are case-insensitive and tolerate extra spaces; a mistake is answered with the usage.
Pure: parsing only. The router and the worker both read commands through :func:`parse`.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["CHATS", "CONTROL", "HELP", "Command", "parse"]

HELP = (
    "whatsignal commands:\n"
    "/to +491701234567 your text - write to a WhatsApp number (a new chat, or an existing one)\n"
    "/to session:+491701234567 your text - the same, through a given WhatsApp session\n"
    "/status - your WhatsApp sessions: their state, waiting messages, dead letters\n"
    "/pair [session] - link WhatsApp: the QR code to scan comes here\n"
    "/pair [session] +491701234567 - link WhatsApp with a pairing code instead\n"
    "/restart [session], /start [session], /stop [session] - steer a WhatsApp session\n"
    "/retry [session] - send your dead letters (messages given up on) again\n"
    "/chats - your recent chats, numbered, newest first\n"
    "/to N your text - write to chat N of the last /chats list\n"
    "/mute N, /unmute N - stop or resume forwarding chat N here (or quote one of its "
    "messages instead of N); a muted chat's messages stay in WhatsApp and are counted\n"
    "/portal N - a new Signal group for chat N after you left its group (or quote one of "
    "its messages instead of N)\n"
    "/help - this list\n"
    "Anything else goes to the chat of the message you quote, or to your latest chat. "
    "Start a message with // to send one that begins with /."
)

CONTROL = frozenset({"status", "start", "stop", "restart", "pair", "retry"})
"""The commands that see or steer sessions: the controller carries them out."""

_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PHONE = re.compile(r"\+?\d{8,15}")
_USAGE = {
    "status": "/status (or /status session)",
    "start": "/start session",
    "stop": "/stop session",
    "restart": "/restart session",
    "pair": "/pair session, or /pair session +491701234567 for a pairing code",
    "retry": "/retry (or /retry session)",
}
CHATS = frozenset({"chats", "mute", "unmute", "portal"})
"""The commands about the destination's chats (besides ``/to N``)."""
_CHAT_USAGE = {
    "chats": "/chats",
    "mute": "/mute N (N from /chats), or /mute quoting a message of the chat",
    "unmute": "/unmute N (N from /chats), or /unmute quoting a message of the chat",
    "portal": "/portal N (N from /chats), or /portal quoting a message of the chat",
}
_INDEX = re.compile(r"\d{1,3}")
_TO_INDEX = re.compile(r"^/to\s+(?P<index>\d{1,3})(?:\s+(?P<text>\S.*))?$", re.S | re.I)

_TO = re.compile(
    r"^/to\s+(?:(?P<session>[A-Za-z0-9_-]{1,64}):)?(?P<number>\+?[\d\s()-]{8,20}?)\s+(?P<text>\S.*)$",
    re.S | re.I,
)


@attrs.frozen
class Command:
    """A parsed command. ``name`` is ``help``, ``to``, ``escaped`` (a literal ``/`` text),
    ``invalid``, or one of :data:`CONTROL`; ``text`` is what to send (``to``, ``escaped``) or
    why it is invalid; ``number`` the phone number (``to``; ``pair`` with a pairing code);
    ``session`` the session named, if any; ``index`` the chat's number in the last
    ``/chats`` list (``to``, ``mute``, ``unmute``)."""

    name: str
    text: str = ""
    number: str | None = None
    session: str | None = None
    index: int | None = None


def parse(message: str | None) -> Command | None:
    """The command in a Signal text, or None when it is an ordinary message."""
    message = (message or "").lstrip()
    if not message.startswith("/"):
        return None
    if message.startswith("//"):
        return Command("escaped", text=message[1:])
    word = message.split(maxsplit=1)[0].lower()
    if word[1:] in CONTROL:
        return _control(word[1:], message.split()[1:])
    if word == "/help":
        return Command("help")
    if word[1:] in CHATS:
        return _chats(word[1:], message.split()[1:])
    if word == "/to" and (by_index := _TO_INDEX.match(message.strip())) is not None:
        if by_index.group("text") is None:
            return Command("invalid", text="usage: /to N your text (N from /chats)")
        return Command("to", text=by_index.group("text"), index=int(by_index.group("index")))
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


def _control(name: str, args: list[str]) -> Command:
    """``/status``, ``/start``, ``/stop``, ``/restart`` with an optional session; ``/pair`` with
    an optional session and an optional phone number (for a pairing code), in that order."""
    session: str | None = None
    number: str | None = None
    if args and _SESSION.fullmatch(args[0]) and not _PHONE.fullmatch(args[0]):
        session = args.pop(0)
    if name == "pair" and args and _PHONE.fullmatch(args[0]):
        number = "+" + args.pop(0).lstrip("+")
    if args:
        return Command("invalid", text=f"usage: {_USAGE[name]}")
    return Command(name, number=number, session=session)


def _chats(name: str, args: list[str]) -> Command:
    """``/chats``; ``/mute`` and ``/unmute`` with an optional chat number."""
    index: int | None = None
    if name != "chats" and args and _INDEX.fullmatch(args[0]):
        index = int(args.pop(0))
    if args:
        return Command("invalid", text=f"usage: {_CHAT_USAGE[name]}")
    return Command(name, index=index)
