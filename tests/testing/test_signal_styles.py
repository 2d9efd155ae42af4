"""FakeSignal reads ``text_mode: "styled"`` as signal-cli-rest-api's textstyleparser.go does."""

from __future__ import annotations

import pytest

from whatsignal.testing._signal_styles import parse_styled


@pytest.mark.parametrize(
    ("message", "text", "styles"),
    [
        (
            "**bold** *it* ~s~ `m` ||sp||",
            "bold it s m sp",
            [
                (0, 4, "BOLD"),
                (5, 2, "ITALIC"),
                (8, 1, "STRIKETHROUGH"),
                (10, 1, "MONOSPACE"),
                (12, 2, "SPOILER"),
            ],
        ),
        # An unpaired marker is dropped, with no style.
        ("2*3=6", "23=6", []),
        ("***both***", "both", [(0, 4, "BOLD"), (0, 4, "ITALIC")]),
        # A backslash before a marker is dropped and makes the marker (or star run) text.
        ("\\*a\\* \\*** \\|| \\~ \\`", "*a* *** || ~ `", []),
        # Before anything else a backslash is text; nothing escapes a backslash.
        ("a\\b \\\\ \\\\*x*", "a\\b \\\\ \\*x", []),
        # A single pipe is text; an escaped one loses its backslash.
        ("a | b \\| c", "a | b | c", []),
        # A marker closes only the innermost open span; crossing spans style nothing.
        ("~a *b~ c*", "a b c", []),
        # Offsets count UTF-16 units.
        ("😀 **x**", "😀 x", [(3, 1, "BOLD")]),
        # A balanced pair with nothing between is a style of length 0.
        ("a``b", "ab", [(1, 0, "MONOSPACE")]),
    ],
)
def test_styled_text_reads_as_upstream_parses_it(
    message: str, text: str, styles: list[tuple[int, int, str]]
) -> None:
    assert parse_styled(message) == (text, styles)
