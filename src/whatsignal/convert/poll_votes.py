"""Votes on bridged polls, between the two sides' ways of naming an option (pure).

Signal names the options of a vote by their place in the poll: signal-cli's ``optionIndexes``
count from 0, signal-cli-rest-api's ``selected_answers`` from 1. WAHA names them by their text
(``selectedOptions``, and ``votes`` of ``sendPollVote``). The bridged poll's options, kept in
the order the Signal poll was made with, translate between them.

Where a vote cannot be a native Signal vote, it is told as a line of text sent as a reply to
the bridged poll (:func:`vote_text`).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["answer_numbers", "option_names", "vote_text"]


def option_names(options: Sequence[str], indexes: Sequence[int]) -> tuple[str, ...] | None:
    """The options Signal's 0-based ``indexes`` choose, in the poll's order and once each;
    None when an index is not one of the poll's (a vote on another poll, or a broken one)."""
    if any(not 0 <= index < len(options) for index in indexes):
        return None
    return tuple(options[index] for index in sorted(set(indexes)))


def answer_numbers(options: Sequence[str], names: Sequence[str]) -> list[int] | None:
    """signal-cli-rest-api's 1-based ``selected_answers`` for the options named ``names``;
    None when a name is not one of the poll's options."""
    numbers: set[int] = set()
    for name in names:
        if name not in options:
            return None
        numbers.add(options.index(name) + 1)
    return sorted(numbers)


def vote_text(
    voter: str, chosen: Sequence[str], *, group: str | None = None, unreadable: bool = False
) -> str:
    """A vote told in words: ``"Carol voted: Pizza, Sushi"``, ``"Carol withdrew their vote"``.

    Args:
        voter: the voter's name.
        chosen: the options chosen (none: the vote was withdrawn).
        group: the WhatsApp group's name where the text does not go to the group's own
            portal (the one-to-one conversation carries every chat).
        unreadable: WhatsApp delivered the vote but not what it chose (``poll.vote.failed``).
    """
    who = f"{voter} in {group}" if group else voter
    if unreadable:
        return f"📊 {who} voted (WhatsApp could not read the vote)"
    if not chosen:
        return f"📊 {who} withdrew their vote"
    return f"📊 {who} voted: {', '.join(chosen)}"
