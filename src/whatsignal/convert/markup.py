"""WhatsApp markup -> Signal text styles, written in signal-cli-rest-api's styled text mode.

WhatsApp marks formatting up inside the text: ``*bold*``, ``_italic_``, ``~strike~`` and
```` ```mono``` ````. :func:`parse_whatsapp` reads it as plain text plus style ranges, following
WhatsApp's rules as the bridge applies them:

- ``*``, ``_`` and ``~`` open a span when the character before is not a letter or digit (or
  there is none) and the one after is not a space; the span closes at the first same marker,
  on the same line, that follows a non-space and is not followed by a letter or digit. So
  ``2*3=6`` and ``snake_case`` stay as written. A span's text may hold the other markers (a
  bold word inside italics), never its own;
- ```` ``` ```` opens a monospace span that ends at the next ```` ``` ````; its text is taken as
  written (no styles inside) and may span lines;
- a marker that opens or closes nothing is text.

:func:`render_styled` writes plain text and ranges in the markers signal-cli-rest-api's parser
reads with ``text_mode: "styled"`` (``**bold**``, ``*italic*``, ``~strike~``, `` `mono` ``).
That parser (``src/utils/textstyleparser.go`` upstream) drops a marker it cannot pair
(``2*3`` would read ``23``), and a backslash directly before ``*``, ``~``, `` ` `` or ``|``
makes that character (a whole run of ``*``, a pair of ``|``) text and is itself dropped. A
backslash before anything else is text, and there is no way to escape a backslash. So:

- every ``*``, ``~``, `` ` `` and ``|`` of the text is written with a backslash before it;
- a backslash of the text is written as it is, which needs the character after it not to be
  a marker: where a style starts or ends right after a backslash, that boundary moves before
  the backslash (the backslash takes the styles of what follows it);
- the parser reads ``***`` as one bold-and-italic marker and an escape as covering the whole
  run of stars, so two star markers (or an escaped star and a marker) are never written next to
  each other: an empty monospace span (`` `` ``) separates them. It reads as a style of length
  0, which Signal shows as nothing.

Offsets of the ranges count UTF-16 code units, as Signal does. Pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "Styled",
    "incoming",
    "join",
    "lines",
    "literal",
    "parse_whatsapp",
    "render_styled",
    "utf16_len",
]

_SPAN_STYLES = {"*": "BOLD", "_": "ITALIC", "~": "STRIKETHROUGH"}
_MONO = "```"
_SIGNAL_MARKS = {"BOLD": "**", "ITALIC": "*", "STRIKETHROUGH": "~", "MONOSPACE": "`"}
_ESCAPED = frozenset("*~`|")
_SEPARATOR = "``"


def utf16_len(text: str) -> int:
    """How many UTF-16 code units ``text`` takes (what Signal's offsets count)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


@attrs.frozen
class Styled:
    """Plain text with style ranges ``(start, end, style)`` in Python indices of ``text``.

    Ranges are nested or disjoint, never crossing.
    """

    text: str
    ranges: tuple[tuple[int, int, str], ...] = ()

    def __add__(self, other: Styled) -> Styled:
        shift = len(self.text)
        moved = tuple((s + shift, e + shift, style) for s, e, style in other.ranges)
        return Styled(self.text + other.text, self.ranges + moved)

    def signal_styles(self) -> list[tuple[int, int, str]]:
        """The ranges as Signal counts them: ``(start, length, style)`` in UTF-16 units."""
        return [
            (utf16_len(self.text[:s]), utf16_len(self.text[s:e]), style)
            for s, e, style in self.ranges
        ]


class _Reader:
    """One pass of :func:`parse_whatsapp` over a text (closers are looked up, not scanned)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.length = 0
        self.ranges: list[tuple[int, int, str]] = []
        self.closers = {mark: self._closers(mark) for mark in _SPAN_STYLES}
        self.monos = [i for i in range(len(text)) if text.startswith(_MONO, i)]
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]

    def _closers(self, mark: str) -> list[int]:
        text = self.text
        return [
            j
            for j, char in enumerate(text)
            if char == mark
            and j > 0
            and not text[j - 1].isspace()
            and (j + 1 == len(text) or not text[j + 1].isalnum())
        ]

    def _opens(self, i: int) -> bool:
        text = self.text
        return (i == 0 or not text[i - 1].isalnum()) and (
            i + 1 < len(text) and not text[i + 1].isspace()
        )

    def _emit(self, piece: str) -> None:
        if piece:
            self.out.append(piece)
            self.length += len(piece)

    def _first(self, positions: list[int], after: int, before: int) -> int | None:
        at = bisect.bisect_left(positions, after)
        if at < len(positions) and positions[at] < before:
            return positions[at]
        return None

    def read(self, lo: int, hi: int, active: frozenset[str]) -> None:
        text = self.text
        i = literal = lo
        while i < hi:
            char = text[i]
            if char == "`" and text.startswith(_MONO, i) and i + 3 <= hi:
                end = self._first(self.monos, i + 4, hi - 2)
                if end is not None:
                    self._emit(text[literal:i])
                    start = self.length
                    self._emit(text[i + 3 : end])
                    self.ranges.append((start, self.length, "MONOSPACE"))
                    i = literal = end + 3
                    continue
            elif char in _SPAN_STYLES and char not in active and self._opens(i):
                line_end = self._first(self.newlines, i, hi)
                end = self._first(self.closers[char], i + 2, hi if line_end is None else line_end)
                if end is not None:
                    self._emit(text[literal:i])
                    start = self.length
                    self.read(i + 1, end, active | {char})
                    self.ranges.append((start, self.length, _SPAN_STYLES[char]))
                    i = literal = end + 1
                    continue
            i += 1
        self._emit(text[literal:hi])


def parse_whatsapp(text: str) -> Styled:
    """The plain text and style ranges of a WhatsApp text (see the module docstring)."""
    if not any(mark in text for mark in ("*", "_", "~", _MONO)):
        return Styled(text)
    reader = _Reader(text)
    reader.read(0, len(text), frozenset())
    return Styled("".join(reader.out), tuple(reader.ranges))


def literal(text: str) -> Styled:
    """``text`` without styles (a name, a note): every character of it is shown as written."""
    return Styled(text)


def _boundary(text: str, position: int) -> int:
    while position > 0 and text[position - 1] == "\\":
        position -= 1
    return position


def _events(styled: Styled) -> tuple[dict[int, list[int]], list[tuple[int, int, str]]]:
    """Ranges with their boundaries moved off backslashes, and which start where."""
    text = styled.text
    moved = [
        (_boundary(text, s), _boundary(text, e), style)
        for s, e, style in styled.ranges
        if style in _SIGNAL_MARKS
    ]
    kept = [r for r in moved if r[0] < r[1]]
    starts: dict[int, list[int]] = {}
    # Outer ranges open first: by start, then the longer one.
    for index in sorted(range(len(kept)), key=lambda k: (kept[k][0], -kept[k][1])):
        starts.setdefault(kept[index][0], []).append(index)
    return starts, kept


def render_styled(styled: Styled) -> str:
    """``styled`` written for signal-cli-rest-api's ``text_mode: "styled"`` parser, so that the
    parser reads back exactly ``styled.text`` with its styles (see the module docstring)."""
    starts, ranges = _events(styled)
    out: list[str] = []
    stack: list[int] = []

    def put(piece: str) -> None:
        if piece.startswith("*") and out and out[-1].endswith("*"):
            out.append(_SEPARATOR)
        out.append(piece)

    text = styled.text
    for position in range(len(text) + 1):
        while stack and ranges[stack[-1]][1] == position:
            put(_SIGNAL_MARKS[ranges[stack.pop()][2]])
        for index in starts.get(position, ()):
            stack.append(index)
            put(_SIGNAL_MARKS[ranges[index][2]])
        if position < len(text):
            char = text[position]
            put("\\" + char if char in _ESCAPED else char)
    return "".join(out)


def join(parts: Iterable[Styled]) -> Styled:
    """The parts one after another."""
    result = Styled("")
    for part in parts:
        result = result + part
    return result


def incoming(name: str, body: Styled, group: str | None = None) -> Styled:
    """``"{name}: {body}"`` (``"{name} in {group}: ..."``) with the body's styles kept."""
    head = f"{name} in {group}: " if group else f"{name}: "
    return literal(head) + body


def in_portal(name: str, body: Styled, is_group: bool) -> Styled:
    """A message in its chat's own Signal group (a portal): the chat is the group, so a direct
    chat's messages need no name; a group's name each sender (styles of the body kept)."""
    return literal(f"{name}: ") + body if is_group else body


def lines(parts: Sequence[Styled]) -> Styled:
    """Non-empty parts joined by newlines."""
    kept = [part for part in parts if part.text]
    out: list[Styled] = []
    for index, part in enumerate(kept):
        if index:
            out.append(literal("\n"))
        out.append(part)
    return join(out)
