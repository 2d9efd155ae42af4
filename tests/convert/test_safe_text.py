"""convert.safe: text that always encodes, file names that stay file names."""

from __future__ import annotations

import json

import pytest

from whatsignal.convert.safe import MAX_FILENAME_BYTES, clean_strings, clean_text, safe_filename


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("plain", "plain"),
        ("emoji 😀 fine", "emoji 😀 fine"),
        ("half \ud83d", "half \ufffd"),
        ("\udc00 low first", "\ufffd low first"),
        ("\ud83d\ud83d", "\ufffd\ufffd"),
        ("pair \ud83d\ude00 in two", "pair 😀 in two"),
        ("", ""),
    ],
)
def test_clean_text(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned
    cleaned.encode("utf-8")  # always encodes


def test_json_escapes_of_half_a_pair_become_replacement_characters() -> None:
    decoded = json.loads(
        '{"body": "a \\ud83d b", "n\\udc00": ["\\ud83d", 1, null, {"k": "\\udc00"}]}'
    )
    assert clean_strings(decoded) == {
        "body": "a \ufffd b",
        "n\ufffd": ["\ufffd", 1, None, {"k": "\ufffd"}],
    }
    json.dumps(clean_strings(decoded), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("photo.jpg", "photo.jpg"),
        ("résumé (final).pdf", "résumé (final).pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("a/b/", "file"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("tab\tand\nnewline.txt", "tabandnewline.txt"),
        ("line\u2028sep.txt", "linesep.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u2066iso\u2069late.txt", "isolate.txt"),
        ('what?<>:"|*.txt', "what_______.txt"),
        ("..", "file"),
        (".", "file"),
        ("", "file"),
        (None, "file"),
        ("   ", "file"),
        (".bashrc", "file.bashrc"),
        ("...pdf", "file.pdf"),
        ("trailing. . .", "trailing"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("console.txt", "console.txt"),
        ("x.averyveryverylongextension", "x.averyveryverylongextension"),
        ("half\ud83d.png", "half\ufffd.png"),
    ],
)
def test_safe_filename(name: str | None, safe: str) -> None:
    assert safe_filename(name) == safe


def test_a_name_with_nothing_left_takes_the_types_extension() -> None:
    assert safe_filename("../", "application/pdf") == "file.pdf"
    assert safe_filename("\x00", "image/jpeg; charset=binary") == "file.jpg"
    assert safe_filename("", "application/x-unknown") == "file"


@pytest.mark.parametrize("stem", ["x" * 1000, "é" * 1000, "😀" * 1000])
def test_a_long_name_is_cut_from_the_stem_and_keeps_its_extension(stem: str) -> None:
    safe = safe_filename(stem + ".pdf")
    assert safe.endswith(".pdf")
    assert len(safe.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert safe[:-4] and set(safe[:-4]) == {stem[0]}


def test_an_overlong_extension_counts_as_stem() -> None:
    safe = safe_filename("a." + "x" * 1000)
    assert len(safe.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert safe.startswith("a.xxx")
