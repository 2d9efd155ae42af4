"""Reading JSON with comments and trailing commas ("JSONC").

The Go whatsignal shipped a ``config.json.example`` with ``//`` comments that its own strict
parser rejected; users copied it anyway. We accept ``//`` line comments, ``/* */`` block
comments and a trailing comma before ``}`` or ``]``. Comments are blanked out with spaces
(newlines kept) rather than removed, so that the standard JSON parser's line and column numbers
still point into the user's file. A ``//`` inside a string (a URL) is left alone.
"""

from __future__ import annotations

import json
from typing import Any


class JsoncError(ValueError):
    """A syntax error; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _blank(text: str) -> str:
    """Replace every non-newline character of ``text`` by a space."""
    return "".join(ch if ch == "\n" else " " for ch in text)


def strip_comments(text: str) -> str:
    """Blank out comments and trailing commas, keeping every other character in place."""
    out: list[str] = []
    i, n = 0, len(text)
    last_comma: int | None = None  # index in ``out`` of a comma not yet followed by a value
    while i < n:
        ch = text[i]
        if ch == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
            last_comma = None
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(_blank(text[i:end]))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise JsoncError("unterminated /* comment", *_position(text, i))
            out.append(_blank(text[i : end + 2]))
            i = end + 2
        else:
            if ch in "}]" and last_comma is not None:
                out[last_comma] = " "
            if ch == ",":
                last_comma = len(out)
            elif not ch.isspace():
                last_comma = None
            out.append(ch)
            i += 1
    return "".join(out)


def parse_jsonc(text: str) -> Any:
    """Parse JSONC text.

    Raises:
        JsoncError: with the 1-based line and column of the first syntax error.
    """
    try:
        return json.loads(strip_comments(text))
    except json.JSONDecodeError as exc:
        raise JsoncError(exc.msg, exc.lineno, exc.colno) from None
