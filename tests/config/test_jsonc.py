"""The JSON-with-comments reader."""

from __future__ import annotations

import pytest

from whatsignal.config._jsonc import JsoncError, parse_jsonc, strip_comments


def test_comments_and_trailing_commas_are_accepted() -> None:
    text = """
    // leading comment
    {
      /* block
         comment */ "a": [1, 2, 3,],  // trailing comma in a list
      "b": {"c": true,},
    }
    """
    assert parse_jsonc(text) == {"a": [1, 2, 3], "b": {"c": True}}


def test_double_slash_inside_a_string_is_kept() -> None:
    text = '{"url": "http://waha:3000/api", "re": "a /* not a comment */ b"} // real comment'
    assert parse_jsonc(text) == {"url": "http://waha:3000/api", "re": "a /* not a comment */ b"}


def test_escaped_quote_does_not_end_the_string() -> None:
    text = r'{"s": "say \"hi\" // still text", "t": "\\"} // comment'
    assert parse_jsonc(text) == {"s": 'say "hi" // still text', "t": "\\"}


def test_comma_inside_a_string_before_a_brace_is_kept() -> None:
    assert parse_jsonc('{"s": ",}"}') == {"s": ",}"}


def test_positions_survive_comment_removal() -> None:
    text = '{\n  /* one\n  two */ "a": 1\n}'
    stripped = strip_comments(text)
    assert len(stripped) == len(text)
    assert stripped.count("\n") == text.count("\n")


def test_syntax_error_reports_line_and_column_of_the_original_text() -> None:
    text = '{\n  // comment\n  "a": 1\n  "b": 2\n}'
    with pytest.raises(JsoncError) as info:
        parse_jsonc(text)
    assert (info.value.line, info.value.column) == (4, 3)


def test_unterminated_block_comment_is_an_error() -> None:
    with pytest.raises(JsoncError) as info:
        parse_jsonc('{"a": 1}\n  /* never closed')
    assert "unterminated" in info.value.message
    assert (info.value.line, info.value.column) == (2, 3)
