"""WhatsApp polls in Signal, end to end: a native Signal poll where the payload carries its
question and options, else (or where signal-cli refuses polls) a text with numbered options."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BRIDGE, world


async def test_a_whatsapp_poll_arrives_as_a_native_signal_poll_mapped_like_a_message(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        poll = w.waha.inject_message(
            "personal",
            from_="+4917000000001",
            notify_name="Carol",
            poll=("Lunch *today*?", ["Pizza", "Sushi", "2*3"], False),
        )
        await w.until(lambda: len(w.signal.polls) == 1)
        (sent,) = w.signal.polls
        assert (sent.number, sent.recipient) == (BRIDGE, ALICE_PHONE)
        assert sent.question == "Carol: Lunch *today*?"
        assert sent.answers == ("Pizza", "Sushi", "2*3")
        assert not sent.multiple
        assert w.to_signal() == []  # the poll itself, not a text about it
        # Mapped like a message: a reaction to the WhatsApp poll lands on the Signal poll.
        w.waha.inject_reaction(
            "personal", from_="+4917000000001", message_id=poll["id"], reaction="👍"
        )
        await w.until(lambda: any(r.path.startswith("/v1/reactions/") for r in w.signal.sent))
        (reaction,) = [r.body for r in w.signal.sent if r.path.startswith("/v1/reactions/")]
        assert reaction["timestamp"] == sent.timestamp
        assert reaction["target_author"] == BRIDGE


async def test_a_poll_signal_cli_refuses_arrives_as_text_with_numbered_options(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        w.signal.polls_refused = True
        w.waha.inject_message(
            "personal",
            from_="+4917000000001",
            notify_name="Carol",
            poll=("Where?", ["Park", "Beach"], True),
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        (sent,) = w.to_signal()
        assert sent.message == (
            "Carol: 📊 Poll (several answers allowed): Where?\n1. Park\n2. Beach"
        )
        assert w.signal.polls == []


async def test_a_poll_without_options_arrives_as_text(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message(
            "personal", from_="+4917000000001", notify_name="Carol", poll=("Ideas?", [], False)
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        assert w.to_signal()[0].message == "Carol: 📊 Poll (one answer): Ideas?"
        assert w.signal.polls == []
