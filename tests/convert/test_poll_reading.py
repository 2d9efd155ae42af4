"""Reading WhatsApp polls from each engine's data, and their readable text."""

from __future__ import annotations

from whatsignal.convert.polls import Poll, poll_text, whatsapp_poll


def test_noweb_and_gows_polls_are_read_from_the_protocol_message() -> None:
    data = {
        "message": {
            "pollCreationMessageV3": {
                "name": "Where?",
                "options": [{"optionName": "Park"}, {"optionName": "Beach"}, {"x": 1}, "bad"],
                "selectableOptionsCount": 1,
            }
        }
    }
    assert whatsapp_poll(data) == Poll("Where?", ("Park", "Beach"), multiple=False)


def test_a_question_the_data_lacks_comes_from_the_body() -> None:
    noweb = {"message": {"pollCreationMessage": {"options": "junk"}}}
    assert whatsapp_poll(noweb, "From body") == Poll("From body", (), multiple=True)
    webjs = {"type": "poll_creation", "pollSelectableOptionsCount": True}
    assert whatsapp_poll(webjs, "Q") == Poll("Q", (), multiple=True)


def test_other_messages_are_not_polls() -> None:
    assert whatsapp_poll(None) is None
    assert whatsapp_poll({"type": "chat", "message": {"conversation": "hi"}}) is None


def test_only_a_question_with_two_options_can_be_native() -> None:
    assert Poll("Q", ("a", "b"), multiple=False).native
    assert not Poll(" ", ("a", "b"), multiple=False).native
    assert not Poll("Q", ("a",), multiple=False).native


def test_a_poll_without_question_still_lists_its_options() -> None:
    assert poll_text(Poll("", ("a", "b"), multiple=False)) == "📊 Poll (one answer)\n1. a\n2. b"
