"""Signal text styles -> WhatsApp markup.

Signal sends formatting as ranges beside the text (``textStyles``: start, length, style), counted
in UTF-16 code units as Java counts them; WhatsApp marks it up inside the text (``*bold*``,
``_italic_``, ``~strike~``, ```` ```mono``` ````). Spoilers have no WhatsApp form and stay
plain. WhatsApp only honours a marker next to a non-space character, so a range's surrounding
spaces are left outside the markers. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from whatsignal.convert import commands

__all__ = ["WHATSAPP_MARKS", "outgoing_text", "signal_styles_to_whatsapp"]

WHATSAPP_MARKS = {"BOLD": "*", "ITALIC": "_", "STRIKETHROUGH": "~", "MONOSPACE": "```"}


def _utf16_to_index(text: str) -> list[int]:
    """``table[u]`` is the Python index of UTF-16 offset ``u`` (``len(table) == units + 1``)."""
    table: list[int] = []
    for index, char in enumerate(text):
        table.extend([index] * (2 if ord(char) > 0xFFFF else 1))
    table.append(len(text))
    return table


def signal_styles_to_whatsapp(text: str, styles: Sequence[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, length, style)`` range wrapped in WhatsApp's markers.

    Ranges outside the text, of unknown styles, or of only spaces are ignored.
    """
    if not styles or not text:
        return text
    table = _utf16_to_index(text)
    inserts: list[tuple[int, int, str]] = []  # (position, order, marker)
    for start, length, style in styles:
        mark = WHATSAPP_MARKS.get(style.upper())
        if mark is None or length <= 0 or start < 0 or start + length > len(table) - 1:
            continue
        begin, end = table[start], table[start + length]
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if begin == end:
            continue
        # Closing markers go before opening ones at the same position, so that adjacent
        # ranges stay separate ("*a**b*" is never produced as "*a*" + "*b*" merged).
        inserts.append((begin, 1, mark))
        inserts.append((end, 0, mark))
    out = text
    for position, _order, mark in sorted(inserts, key=lambda i: (i[0], i[1]), reverse=True):
        out = out[:position] + mark + out[position:]
    return out


def outgoing_text(raw: str, styles: Sequence[tuple[int, int, str]]) -> str:
    """The WhatsApp text of a Signal message: a command's prefix removed (``/to +49... text``,
    ``//text``) with the style ranges shifted to match, then Signal's styles as markup."""
    command = commands.parse(raw)
    if command is not None and command.name in ("to", "escaped") and raw.endswith(command.text):
        prefix = raw[: len(raw) - len(command.text)]
        shift = len(prefix.encode("utf-16-le")) // 2  # style offsets count UTF-16 units
        styles = [
            (start - shift, length, style) for start, length, style in styles if start >= shift
        ]
        raw = command.text
    return signal_styles_to_whatsapp(raw, styles)
