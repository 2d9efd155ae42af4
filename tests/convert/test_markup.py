"""WhatsApp markup becomes Signal styles, and nothing the sender wrote is lost on the way.

The rendered text is read back by FakeSignal's parser (``whatsignal.testing._signal_styles``,
which follows signal-cli-rest-api's ``textstyleparser.go``): what a Signal user sees is what that
parser reads, so every assertion here is made on what it reads.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from whatsignal.convert.markup import (
    Styled,
    in_portal,
    incoming,
    lines,
    literal,
    parse_whatsapp,
    render_styled,
    utf16_len,
)
from whatsignal.testing._signal_styles import parse_styled

ACCEPTANCE = "*urgent* and _soon_ ~old~ ```code``` 2*3=6"


def shown(styled: Styled) -> tuple[str, set[tuple[str, str]]]:
    """What Signal shows: the text, and which (text, style) spans are styled."""
    text, styles = parse_styled(render_styled(styled))
    units = text.encode("utf-16-le")
    spans = {(units[2 * s : 2 * (s + n)].decode("utf-16-le"), style) for s, n, style in styles if n}
    return text, spans


def per_unit(text: str, styles: list[tuple[int, int, str]]) -> list[frozenset[str]]:
    """The styles of each UTF-16 unit of ``text`` (ranges of length 0 show nothing)."""
    cover: list[set[str]] = [set() for _ in range(utf16_len(text))]
    for start, length, style in styles:
        for unit in range(start, start + length):
            cover[unit].add(style)
    return [frozenset(c) for c in cover]


def test_the_acceptance_sentence_reads_without_markers_and_with_its_styles() -> None:
    text, spans = shown(parse_whatsapp(ACCEPTANCE))
    assert text == "urgent and soon old code 2*3=6"
    assert spans == {
        ("urgent", "BOLD"),
        ("soon", "ITALIC"),
        ("old", "STRIKETHROUGH"),
        ("code", "MONOSPACE"),
    }


def test_a_bridged_message_keeps_the_senders_name_literal_and_the_body_styled() -> None:
    body = parse_whatsapp("*Heads up*: 5 * 3 = 15")
    text, spans = shown(incoming("**Star** | Bob", body, "Team `ops`"))
    assert text == "**Star** | Bob in Team `ops`: Heads up: 5 * 3 = 15"
    assert spans == {("Heads up", "BOLD")}


def test_literal_stars_pipes_backticks_and_backslashes_survive_unchanged() -> None:
    for raw in [
        "2*3=6",
        "a || b",
        "|| spoiler? ||",
        "use `ls` or ``x``",
        "C:\\path\\*.txt",
        "\\\\server\\share",
        "a\\|b and a\\~b and \\`",
        "5 ** 2",
        "~~ ** __",
        "end with \\",
    ]:
        assert shown(parse_whatsapp(raw)) == (raw, set()), raw


def test_whatsapp_rules_inside_words_and_across_lines() -> None:
    assert parse_whatsapp("snake_case_name and 2*3*4") == Styled("snake_case_name and 2*3*4")
    assert parse_whatsapp("*not\nbold*").ranges == ()
    assert parse_whatsapp("* not bold*").ranges == ()
    assert parse_whatsapp("```a\n*b*```") == Styled("a\n*b*", ((0, 5, "MONOSPACE"),))
    assert parse_whatsapp("*bold _and italic_*") == Styled(
        "bold and italic", ((5, 15, "ITALIC"), (0, 15, "BOLD"))
    )


def test_touching_star_styles_stay_apart() -> None:
    """The parser reads ``***`` as one marker: touching bold and italic are kept apart."""
    assert shown(parse_whatsapp("*a*_b_")) == ("ab", {("a", "BOLD"), ("b", "ITALIC")})
    assert shown(parse_whatsapp("*_a_ b*")) == ("a b", {("a", "ITALIC"), ("a b", "BOLD")})
    assert shown(parse_whatsapp("*a**b*")) == ("ab", {("a", "BOLD"), ("b", "BOLD")})
    assert shown(parse_whatsapp("*x\\*y*")) == ("x\\*y", {("x\\*y", "BOLD")})


def test_a_backslash_at_a_style_edge_is_kept_with_the_style_moved() -> None:
    """Nothing escapes a backslash upstream: one right before a marker would eat it, so the
    style boundary moves before the backslash instead."""
    assert shown(parse_whatsapp("*x\\* y")) == ("x\\ y", {("x", "BOLD")})
    assert shown(parse_whatsapp("a\\_b_")) == ("a\\b", {("\\b", "ITALIC")})


def test_offsets_count_utf16_units() -> None:
    styled = incoming("Ann 😀", parse_whatsapp("😀 *hi*"))
    text, styles = parse_styled(render_styled(styled))
    assert text == "Ann 😀: 😀 hi"
    assert styles == styled.signal_styles() == [(11, 2, "BOLD")]


def test_notes_join_as_plain_lines() -> None:
    body = lines([parse_whatsapp("_look_"), literal(""), literal("[media *not* fetched]")])
    assert shown(body) == ("look\n[media *not* fetched]", {("look", "ITALIC")})


_ALPHABET = st.sampled_from([*"ab 1\n*_~`|\\", "```", "😀", "é"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join), st.text(max_size=8))
@example(ACCEPTANCE, "Carol")
@example("*a\\*_b_ \\*`*", "x*")
def test_what_signal_reads_is_the_text_without_its_markup_with_its_styles(
    raw: str, name: str
) -> None:
    styled = incoming(name, parse_whatsapp(raw))
    text, styles = parse_styled(render_styled(styled))
    # Nothing lost: Signal shows exactly the plain text, which is the sender's text with only
    # the markers of recognised spans taken out.
    assert text == styled.text
    assert _is_subsequence(styled.text[len(name) + 2 :], raw)
    assert set(_leftover(styled.text[len(name) + 2 :], raw)) <= set("*_~`")
    # The right styles, unit by unit, except on a backslash next to a style edge.
    want = per_unit(text, styled.signal_styles())
    got = per_unit(text, styles)
    units = text.encode("utf-16-le")
    for unit, (w, g) in enumerate(zip(want, got, strict=True)):
        if units[2 * unit : 2 * unit + 2] != "\\".encode("utf-16-le"):
            assert w == g, (unit, text)


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


def _leftover(small: str, big: str) -> str:
    """The characters of ``big`` not matched by ``small`` (greedy, in order)."""
    out: list[str] = []
    i = 0
    for ch in big:
        if i < len(small) and small[i] == ch:
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def test_a_portal_message_keeps_its_styles_and_names_only_group_senders() -> None:
    body = parse_whatsapp("*soon*")
    direct = in_portal("Alice", body, is_group=False)
    group = in_portal("Bob", body, is_group=True)
    assert (direct.text, direct.ranges) == ("soon", body.ranges)
    assert group.text == "Bob: soon"
    assert render_styled(group) == "Bob: **soon**"
