"""Votes between the two sides' ways of naming options, and a vote told in words (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from whatsignal.convert.poll_votes import answer_numbers, option_names, vote_text

OPTIONS = ("Pizza", "Sushi", "Salad")


def test_signal_indexes_name_options_in_the_polls_order_once_each() -> None:
    assert option_names(OPTIONS, [2, 0, 2]) == ("Pizza", "Salad")
    assert option_names(OPTIONS, []) == ()  # withdrawn
    assert option_names(OPTIONS, [3]) is None  # not an option of this poll
    assert option_names(OPTIONS, [-1]) is None


def test_option_texts_become_signal_answers_numbered_from_one() -> None:
    assert answer_numbers(OPTIONS, ["Salad", "Pizza"]) == [1, 3]
    assert answer_numbers(OPTIONS, ["Pasta"]) is None
    assert answer_numbers(OPTIONS, []) == []


@given(st.lists(st.integers(min_value=0, max_value=2), max_size=5))
def test_the_two_namings_agree(indexes: list[int]) -> None:
    names = option_names(OPTIONS, indexes)
    assert names is not None
    assert answer_numbers(OPTIONS, names) == sorted({i + 1 for i in indexes})


def test_a_vote_in_words_says_who_voted_for_what() -> None:
    assert vote_text("Carol", ["Pizza", "Sushi"]) == "📊 Carol voted: Pizza, Sushi"
    assert vote_text("Carol", []) == "📊 Carol withdrew their vote"
    assert vote_text("Dan", ["Pizza"], group="Family") == "📊 Dan in Family voted: Pizza"
    assert (
        vote_text("Dan", [], unreadable=True) == "📊 Dan voted (WhatsApp could not read the vote)"
    )
