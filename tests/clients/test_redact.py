"""What an error text keeps (clients._redact) and which attachment ids pass (attachment_id_ok)."""

from __future__ import annotations

import pytest

from whatsignal.clients import attachment_id_ok, redact_error

SECRET = "Alice: meet me at the old mill at nine, bring the documents"


@pytest.mark.parametrize(
    ("text", "reduced"),
    [
        ("Couldn't read attachment - please try again later", None),
        ("Session status is not as expected (session status STARTING)", None),
        ('Untrusted Identity for "5d1c8a0e-7f62-4c1b-9a43-2f0e6b8d1a11"', None),
        ('Invalid group id "group.YWJj"', None),
        ('Unregistered user "+4915112345678"', 'Unregistered user "+***5678"'),
        ("text 'secret words' here", 'text "…" here'),
        ("unterminated “secret words", 'unterminated "…"'),
        ("«guillemets» and \u2018curly\u2019 and `ticks`", '"…" and "…" and "…"'),
        ("pair \ud83d alone", "pair \ufffd alone"),
        ("a  lot\n of   space", "a lot of space"),
        ("x" * 1000, "x" * 300),
    ],
)
def test_redact_error(text: str, reduced: str | None) -> None:
    assert redact_error(text) == (text if reduced is None else reduced)


@pytest.mark.parametrize(
    ("text", "reduced"),
    [
        (f"cannot send {SECRET} now", "cannot send … now"),
        (f"cannot send {SECRET[:25]}...", "cannot send …..."),  # an echo cut short
        ("chat +4915112345678 said ok", "chat +***5678 said …"),  # short strings: whole words
        ("looking okay", "looking okay"),
    ],
)
def test_the_strings_of_the_request_are_cut_out(text: str, reduced: str) -> None:
    sent = {"number": "+4915100000001", "recipients": ["+4915112345678"], "message": SECRET}
    assert redact_error(text, sent={**sent, "reaction": "ok"}) == reduced


@pytest.mark.parametrize(
    "attachment_id",
    [
        "Jq2fJ0qYs7KZbmUfNKXf.jpg",
        "Jq2fJ0qYs7KZbmUfNKXf",
        "4613285472934628479.pdf",
        "a_b-c.JPG",
        "Jq2fJ0qYs7KZbmUfNKXf.jpég",
        "Jq2fJ0qYs7KZbmUfNKXf.my file",
        "Jq2fJ0qYs7KZbmUfNKXf.",
        "x" * 255,
    ],
)
def test_ids_signal_cli_gives_pass(attachment_id: str) -> None:
    assert attachment_id_ok(attachment_id)


@pytest.mark.parametrize(
    "attachment_id",
    [None, "", ".", "..", "../x", "a/b", "a\\b", "x" * 256, "é" * 128, ".hidden", "a..b",
     "a\x00", "a.b\x7f", "%2e%2e", "a.\ud83d"],
)  # fmt: skip
def test_ids_signal_cli_cannot_give_fail(attachment_id: str | None) -> None:
    assert not attachment_id_ok(attachment_id)
