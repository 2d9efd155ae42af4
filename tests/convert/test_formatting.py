"""Signal's formatted ranges become WhatsApp markup."""

from __future__ import annotations

import pytest

from whatsignal.convert.formatting import signal_styles_to_whatsapp


@pytest.mark.parametrize(
    ("text", "styles", "expected"),
    [
        ("hello world", [(6, 5, "BOLD")], "hello *world*"),
        ("hello world", [(0, 5, "ITALIC"), (6, 5, "STRIKETHROUGH")], "_hello_ ~world~"),
        ("run ls -l now", [(4, 5, "MONOSPACE")], "run ```ls -l``` now"),
        ("secret stuff", [(0, 6, "SPOILER")], "secret stuff"),  # no WhatsApp spoiler
        ("pad  me ", [(3, 5, "BOLD")], "pad  *me* "),  # spaces stay outside the markers
        ("ab", [(0, 1, "BOLD"), (1, 1, "ITALIC")], "*a*_b_"),
        ("😀 big smile", [(3, 3, "BOLD")], "😀 *big* smile"),  # the emoji is 2 UTF-16 units
        ("short", [(3, 10, "BOLD")], "short"),  # out of range: ignored
        ("x", [(0, 1, "UNKNOWN")], "x"),
        ("   ", [(0, 3, "BOLD")], "   "),
        ("", [(0, 1, "BOLD")], ""),
        ("plain", [], "plain"),
    ],
)
def test_styles_to_markup(text: str, styles: list[tuple[int, int, str]], expected: str) -> None:
    assert signal_styles_to_whatsapp(text, styles) == expected
