"""Votes on bridged polls both ways, and presence subscriptions surviving a session restart,
end to end: FakeWaha, FakeSignal and a real bridge over HTTP.

ALICE_PHONE reads the ``personal`` session in Signal; WA_CAROL writes polls on WhatsApp.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bridge_harness import ALICE_PHONE, BRIDGE, World, world
from e2e_tools import WA_CAROL, WA_DAN, chat_of, send_texts, signal_texts
from test_portals import PORTAL_CHANNELS, group_named

from whatsignal.relay.poll_votes import NOTICE_UNKNOWN_POLL
from whatsignal.testing import Fault
from whatsignal.testing._signal_polls import SentPoll, SentVote

FAMILY = "120363000000000001@g.us"


async def bridged_poll(
    w: World, *, group: str | None = None, multiple: bool = True
) -> tuple[dict[str, Any], SentPoll]:
    """Carol's WhatsApp poll, once the bridge made it a Signal poll."""
    payload = w.waha.inject_message(
        "personal",
        from_=WA_CAROL,
        chat_id=group,
        notify_name="Carol",
        poll=("Lunch?", ["Pizza", "Sushi", "Salad"], multiple),
    )
    await w.until(lambda: len(w.signal.polls) == 1)
    return payload, w.signal.polls[0]


async def whatsapp_text_arrives(w: World, text: str) -> None:
    """Alice writes ``text`` (quoting nothing): a fact that proves what she sent before it was
    handled, since one chat's rows go in order."""
    w.signal.inject_envelope(ALICE_PHONE, message=text)
    await w.until(lambda: any(body["text"] == text for body in send_texts(w)))


async def test_a_signal_vote_is_cast_on_the_whatsapp_poll_once_and_never_echoes_back(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        poll, sent = await bridged_poll(w)
        vote = w.signal.inject_poll_vote(ALICE_PHONE, poll_timestamp=sent.timestamp, options=[2, 1])
        await w.until(lambda: len(w.whatsapp_calls("/api/sendPollVote")) == 1)
        (body,) = w.whatsapp_calls("/api/sendPollVote")
        assert body == {
            "session": "personal",
            "chatId": chat_of(WA_CAROL),
            "pollMessageId": poll["id"],
            "votes": ["Sushi", "Salad"],
        }
        # signal-cli hands the same envelope out again: still one vote in WhatsApp.
        w.signal.inject_envelope(ALICE_PHONE, raw=vote["envelope"])
        await w.envelopes_done(vote)
        await whatsapp_text_arrives(w, "after the vote")
        assert len(w.whatsapp_calls("/api/sendPollVote")) == 1
        # WAHA announced Alice's own vote (fromMe): nothing of it comes back to Signal.
        assert any(e["event"] == "poll.vote" for e in w.waha.events)
        await w.settled()
        assert w.to_signal() == [] and w.signal.poll_votes == []


async def test_a_withdrawn_signal_vote_is_withdrawn_in_whatsapp(tmp_path: Path) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        _, sent = await bridged_poll(w)
        w.signal.inject_poll_vote(ALICE_PHONE, poll_timestamp=sent.timestamp, options=[0])
        w.signal.inject_poll_vote(
            ALICE_PHONE, poll_timestamp=sent.timestamp, options=[], vote_count=2
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/sendPollVote")) == 2)
        votes = [body["votes"] for body in w.whatsapp_calls("/api/sendPollVote")]
        assert votes == [["Pizza"], []]


async def test_a_vote_on_an_unknown_poll_is_not_sent_and_told_once(tmp_path: Path) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        await bridged_poll(w)
        w.signal.inject_poll_vote(ALICE_PHONE, poll_timestamp=1_700_000_000_000, options=[0])
        await w.until(lambda: NOTICE_UNKNOWN_POLL in signal_texts(w, ALICE_PHONE))
        w.signal.inject_poll_vote(
            ALICE_PHONE, poll_timestamp=1_700_000_000_000, options=[1], vote_count=2
        )
        await whatsapp_text_arrives(w, "after the votes")
        assert signal_texts(w).count(NOTICE_UNKNOWN_POLL) == 1
        assert w.whatsapp_calls("/api/sendPollVote") == []


async def test_a_vote_in_a_direct_chat_is_the_bridge_numbers_then_changes_are_told(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        w.waha.add_contact(WA_CAROL, session="personal", name="Carol")
        poll, sent = await bridged_poll(w)
        vote = w.waha.inject_poll_vote(
            "personal", poll_id=poll["id"], from_=WA_CAROL, votes=["Sushi"]
        )
        await w.until(lambda: len(w.signal.poll_votes) == 1)
        assert w.signal.poll_votes == [SentVote(BRIDGE, ALICE_PHONE, BRIDGE, sent.timestamp, (2,))]
        # WAHA delivers the same vote again: the bridge votes once.
        w.waha.inject_event("poll.vote", "personal", vote)
        # A changed vote cannot replace a native one (signal-cli-rest-api sends every vote
        # with vote-count 1): it is told, as a reply to the poll.
        # (One at a time: WAHA sends each webhook on its own, so two at once may cross.)
        w.waha.inject_poll_vote(
            "personal", poll_id=poll["id"], from_=WA_CAROL, votes=["Pizza", "Salad"]
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        w.waha.inject_poll_vote("personal", poll_id=poll["id"], from_=WA_CAROL, votes=[])
        await w.until(lambda: len(w.to_signal()) == 2)
        changed, withdrawn = w.to_signal()
        assert changed.message == "📊 Carol voted: Pizza, Salad"
        assert withdrawn.message == "📊 Carol withdrew their vote"
        for told in (changed, withdrawn):
            assert told.recipients == (ALICE_PHONE,)
            assert (told.quote_timestamp, told.quote_author) == (sent.timestamp, BRIDGE)
        await w.settled()
        assert len(w.signal.poll_votes) == 1


async def test_a_vote_in_a_group_is_told_with_the_voters_name_and_an_unreadable_one_too(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        w.waha.add_group("Family", session="personal", group_id=FAMILY, participants=[WA_CAROL])
        w.waha.add_contact(WA_DAN, session="personal", name="Dan")
        poll, sent = await bridged_poll(w, group=FAMILY)
        w.waha.inject_poll_vote(
            "personal", poll_id=poll["id"], from_=WA_DAN, votes=["Pizza", "Sushi"]
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        w.waha.inject_poll_vote("personal", poll_id=poll["id"], from_=WA_DAN, votes=[], failed=True)
        await w.until(lambda: len(w.to_signal()) == 2)
        voted, unreadable = w.to_signal()
        assert voted.message == "📊 Dan in Family voted: Pizza, Sushi"
        assert unreadable.message == "📊 Dan in Family voted (WhatsApp could not read the vote)"
        assert voted.quote_timestamp == sent.timestamp
        assert w.signal.poll_votes == []  # a vote from the bridge number would name nobody


async def test_a_vote_overtaken_by_the_voters_later_vote_is_not_shown(tmp_path: Path) -> None:
    """WAHA posts each webhook on its own: Dan's changed vote may arrive before his first. The
    older one, arriving last, must not be what Signal shows last."""
    async with world(tmp_path, sessions=("personal",)) as w:
        w.waha.add_group("Family", session="personal", group_id=FAMILY, participants=[WA_CAROL])
        w.waha.add_contact(WA_DAN, session="personal", name="Dan")
        poll, _ = await bridged_poll(w, group=FAMILY)
        w.waha.hold_deliveries(2, session="personal", event="poll.vote", order="reverse")
        first = w.waha.inject_poll_vote(
            "personal", poll_id=poll["id"], from_=WA_DAN, votes=["Pizza"]
        )
        changed = copy.deepcopy(first)
        changed["vote"]["id"] = first["vote"]["id"] + "2"
        changed["vote"]["timestamp"] = first["vote"]["timestamp"] + 60
        changed["vote"]["selectedOptions"] = ["Salad"]
        w.waha.inject_event("poll.vote", "personal", changed)  # both held, then sent newest first

        def votes_journaled() -> bool:  # a delivery is recorded once the bridge answered it
            return sum(d.ok for d in w.waha.deliveries if d.event == "poll.vote") == 2

        await w.until(votes_journaled)
        # A later message in the same chat: once it is in Signal, both votes were handled.
        w.waha.inject_message("personal", from_=WA_DAN, chat_id=FAMILY, body="done voting")
        await w.until(lambda: any("done voting" in m.message for m in w.to_signal()))
        votes = [m.message for m in w.to_signal() if m.message.startswith("📊")]
        assert votes == ["📊 Dan in Family voted: Salad"]


async def test_in_a_groups_portal_a_vote_is_told_in_the_portal(tmp_path: Path) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        w.waha.add_group("Family", session="personal", group_id=FAMILY, participants=[WA_CAROL])
        w.waha.add_contact(WA_DAN, session="personal", name="Dan")
        poll, sent = await bridged_poll(w, group=FAMILY)
        family = group_named(w, "Family")
        assert sent.recipient == family.id
        w.waha.inject_poll_vote("personal", poll_id=poll["id"], from_=WA_DAN, votes=["Salad"])
        await w.until(lambda: len(w.to_signal()) == 1)
        (told,) = w.to_signal()
        assert (told.message, told.recipients) == ("📊 Dan voted: Salad", (family.id,))
        # Alice votes in the portal: the vote goes to the group's poll in WhatsApp.
        w.signal.inject_poll_vote(
            ALICE_PHONE, poll_timestamp=sent.timestamp, options=[0], group_id=family.internal_id
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/sendPollVote")) == 1)
        (body,) = w.whatsapp_calls("/api/sendPollVote")
        assert (body["chatId"], body["pollMessageId"], body["votes"]) == (
            FAMILY,
            poll["id"],
            ["Pizza"],
        )


async def test_portal_presence_is_subscribed_again_when_the_session_works_again(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        w.waha.inject_message("personal", from_=WA_CAROL, body="Hi", notify_name="Carol")
        watched = ("personal", chat_of(WA_CAROL))
        await w.until(lambda: watched in w.waha.presence_subscriptions)  # the portal was made
        w.waha.restart_session("personal")
        await w.waha.wait_for_status("personal", "STARTING")
        assert watched not in w.waha.presence_subscriptions  # WAHA forgot it
        await w.until(lambda: watched in w.waha.presence_subscriptions)
        carol = group_named(w, "Carol")
        w.waha.inject_presence("personal", chat_id=chat_of(WA_CAROL))
        typing = f"/v1/typing-indicator/{BRIDGE}"
        await w.until(
            lambda: any(r.path == typing and r.body["recipient"] == carol.id for r in w.signal.sent)
        )


async def test_a_vote_signal_cli_refuses_is_told_as_text(tmp_path: Path) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        w.waha.add_contact(WA_CAROL, session="personal", name="Carol")
        refused = {"error": "Invalid poll option index"}
        w.signal.add_fault(Fault(path=f"/v1/polls/{BRIDGE}/vote", status=400, body=refused))
        poll, sent = await bridged_poll(w)
        w.waha.inject_poll_vote("personal", poll_id=poll["id"], from_=WA_CAROL, votes=["Sushi"])
        await w.until(lambda: len(w.to_signal()) == 1)
        (told,) = w.to_signal()
        assert (told.message, told.quote_timestamp) == ("📊 Carol voted: Sushi", sent.timestamp)
        assert w.signal.poll_votes == []


async def test_a_vote_on_a_poll_that_never_crossed_is_left_in_whatsapp(tmp_path: Path) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        own = w.waha.inject_message(  # Alice's own poll, from her phone: never bridged
            "personal",
            from_=WA_CAROL,
            from_me=True,
            event="message.any",
            poll=("Dinner?", ["Soup", "Stew"], False),
        )
        w.waha.inject_poll_vote("personal", poll_id=own["id"], from_=WA_CAROL, votes=["Soup"])
        await bridged_poll(w)  # a later fact: Carol's own poll arrives after the vote
        await w.settled()
        assert w.to_signal() == [] and w.signal.poll_votes == []


async def test_a_signal_vote_naming_no_option_of_the_poll_is_given_up_and_told(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, sessions=("personal",)) as w:
        _, sent = await bridged_poll(w)
        vote = w.signal.inject_poll_vote(ALICE_PHONE, poll_timestamp=sent.timestamp, options=[7])
        assert await w.envelopes_done(vote) == ["dead"]
        await w.until(lambda: any("could not be delivered" in text for text in signal_texts(w)))
        assert w.whatsapp_calls("/api/sendPollVote") == []
