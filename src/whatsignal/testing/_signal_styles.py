"""How signal-cli-rest-api reads a message sent with ``text_mode: "styled"``.

Behaviour of upstream's ``src/utils/textstyleparser.go`` (read at bbernhard/signal-cli-rest-api
a08db23), reproduced for FakeSignal; signal-cli then gets the plain text and
``start:length:STYLE`` ranges counted in UTF-16 code units:

- ``*`` is italic, ``**`` bold, ``***`` one marker meaning both, ``~`` strikethrough, `` ` ``
  monospace, ``||`` spoiler. A run of stars is taken three, then two, then one at a time;
- a marker closes the span only if the innermost open span is of its kind; otherwise it opens
  a new one. Markers still open at the end are dropped, with no style (``2*3`` reads ``23``);
- a backslash directly before ``*``, ``~``, `` ` `` or ``|`` is dropped and makes what follows
  text: the whole star run (up to three), one ``~`` or `` ` ``, or a ``||`` pair (a single ``|``
  is text anyway). A backslash before anything else is text; nothing escapes a backslash.

Pure; independent of the bridge's own converter (which the property tests check against it).
"""

from __future__ import annotations

__all__ = ["parse_styled"]

_MARKERS = "*~`|"
_KINDS = {
    "*": ("ITALIC",),
    "**": ("BOLD",),
    "***": ("BOLD", "ITALIC"),
    "~": ("STRIKETHROUGH",),
    "`": ("MONOSPACE",),
    "||": ("SPOILER",),
}


def _units(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def _token(text: str, i: int) -> str | None:
    """The marker starting at ``i`` (star runs greedy, up to three), or None."""
    char = text[i]
    if char == "*":
        run = 1
        while run < 3 and text.startswith("*", i + run):
            run += 1
        return "*" * run
    if char in "~`":
        return char
    if text.startswith("||", i):
        return "||"
    return None


def parse_styled(message: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The text signal-cli sends and its ``(start, length, style)`` ranges, in the order the
    upstream parser emits them (a span's ranges when it closes)."""
    out: list[str] = []
    units = 0
    open_spans: list[tuple[str, int]] = []
    styles: list[tuple[int, int, str]] = []
    escaped = False
    i = 0
    while i < len(message):
        char = message[i]
        token = _token(message, i)
        if token is not None:
            i += len(token)
            if escaped:
                out.append(token)
                units += len(token)
            elif open_spans and open_spans[-1][0] == token:
                _kind, start = open_spans.pop()
                styles.extend((start, units - start, style) for style in _KINDS[token])
            else:
                open_spans.append((token, units))
            escaped = False
            continue
        if char == "\\" and i + 1 < len(message) and message[i + 1] in _MARKERS:
            escaped = True
            i += 1
            continue
        out.append(char)
        units += _units(char)
        escaped = char == "\\"
        i += 1
    return "".join(out), styles
