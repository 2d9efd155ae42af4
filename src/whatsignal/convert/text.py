"""How bridged messages read, and how the bridge reads them back.

WhatsApp -> Signal text is ``"{name}: {body}"`` in a direct chat and ``"{name} in {group}: {body}"``
in a group, as the Go whatsignal wrote it, so a user's existing Signal history stays consistent.
The reverse (:func:`quoted_sender`) recovers the name from a quoted bridged message when the
mapping is gone.
"""

from __future__ import annotations

import re

__all__ = [
    "chat_number",
    "contains_url",
    "format_incoming",
    "location_text",
    "mention_numbers",
    "message_id_candidates",
    "quoted_sender",
    "reply_context",
    "vcard_text",
    "with_mentions",
]

REPLY_SNIPPET = 60

_URL_RE = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
# "Name: body" or "Name in Group: body"; the name may not contain a colon or a newline.
_QUOTED_RE = re.compile(r"^(?P<name>[^:\n]{1,80}?)(?: in (?P<group>[^:\n]{1,100}))?: ")
# "@491701234567" in a WhatsApp text: a mention, by number.
_MENTION_RE = re.compile(r"(?<![\w@])@(\d{6,15})\b")


def format_incoming(name: str, body: str, group: str | None = None) -> str:
    """The Signal text for a WhatsApp message from ``name`` (in ``group``, when a group chat)."""
    if group:
        return f"{name} in {group}: {body}"
    return f"{name}: {body}"


def reply_context(quoted: str) -> str:
    """A line saying what a message answers, when Signal cannot quote it natively."""
    one_line = " ".join(quoted.split())
    if len(one_line) > REPLY_SNIPPET:
        one_line = one_line[: REPLY_SNIPPET - 1].rstrip() + "…"
    return f'↪ in reply to "{one_line}"'


def quoted_sender(text: str | None) -> tuple[str, str | None] | None:
    """``(name, group)`` from a quoted bridged text, or None when it does not look like one."""
    if not text:
        return None
    match = _QUOTED_RE.match(text)
    if match is None:
        return None
    name = match.group("name").strip()
    if not name:
        return None
    return name, (match.group("group").strip() if match.group("group") else None)


def contains_url(text: str) -> bool:
    """Whether ``text`` has a link (WAHA's link preview is only asked for then)."""
    return _URL_RE.search(text) is not None


def chat_number(chat_id: str) -> str | None:
    """The E.164 number of a direct chat id (``491701234567@c.us`` -> ``+491701234567``)."""
    user, _, domain = chat_id.partition("@")
    if domain in ("c.us", "s.whatsapp.net") and user.isdigit():
        return "+" + user
    return None


def message_id_candidates(reply_id: str, chat_id: str, participant: str | None) -> list[str]:
    """Serialized ids a quoted (bare) WhatsApp id may have been stored under, most likely first."""
    if "_" in reply_id and reply_id.split("_", 1)[0] in ("true", "false"):
        return [reply_id]
    found = [f"false_{chat_id}_{reply_id}", f"true_{chat_id}_{reply_id}"]
    if participant:
        found += [
            f"false_{chat_id}_{reply_id}_{participant}",
            f"true_{chat_id}_{reply_id}_{participant}",
        ]
    found.append(reply_id)
    return found


def location_text(
    latitude: object,
    longitude: object,
    *,
    label: str | None = None,
    url: str | None = None,
    live: bool = False,
) -> str:
    """A shared location as text Signal shows with a tappable map link."""
    head = "📍 Live location" if live else "📍 Location"
    if label:
        head += f": {label}"
    try:
        lat, lng = float(str(latitude)), float(str(longitude))
    except ValueError:
        return f"{head}\n{url}" if url else head
    link = f"https://maps.google.com/?q={lat:.6f},{lng:.6f}"
    return f"{head}\n{link}" + (f"\n{url}" if url and url != link else "")


def vcard_text(vcard: str) -> str:
    """A shared contact card as one line: ``👤 Name: +49..., +1...``."""
    name = ""
    phones: list[str] = []
    for raw in vcard.splitlines():
        key, _, value = raw.partition(":")
        field = key.split(";", 1)[0].strip().upper()
        if field == "FN" and value.strip():
            name = value.strip()
        elif field == "TEL" and value.strip():
            phones.append(value.strip())
    label = name or "contact"
    return f"👤 {label}: {', '.join(phones)}" if phones else f"👤 {label}"


def mention_numbers(body: str) -> list[str]:
    """The numbers ``@mentioned`` in a WhatsApp text, each once, in order."""
    return list(dict.fromkeys(_MENTION_RE.findall(body)))


def with_mentions(body: str, names: dict[str, str | None]) -> str:
    """``@<number>`` becomes ``@<name>`` where ``names`` knows one (WhatsApp shows names there;
    the raw text only has the numbers)."""
    return _MENTION_RE.sub(lambda m: "@" + (names.get(m.group(1)) or m.group(1)), body)
