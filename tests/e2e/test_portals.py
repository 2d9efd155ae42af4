"""Portals end to end: with ``channels[].portals: true`` each WhatsApp chat gets a Signal group.

FakeWaha, FakeSignal and a real bridge over HTTP; ALICE_PHONE reads the ``personal`` session in
Signal, the WhatsApp people are WA_*.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_harness import ALICE_PHONE, BRIDGE, World, world
from e2e_tools import WA_ALICE, WA_BOB, WA_CAROL, chat_of, send_texts, signal_texts

from whatsignal.relay.portals import NOTICE_LEFT
from whatsignal.service import Bridge
from whatsignal.testing._signal_envelopes import Group
from whatsignal.testing.signal_cli import SentMessage

PORTAL_CHANNELS = [
    {
        "whatsappSessionName": "personal",
        "signalDestinationPhoneNumber": ALICE_PHONE,
        "portals": True,
    }
]


def portals(w: World) -> list[Group]:
    return list(w.signal.groups.values())


def group_named(w: World, name: str) -> Group:
    found = [g for g in portals(w) if g.name == name]
    assert len(found) == 1, [g.name for g in portals(w)]
    return found[0]


async def arrives(w: World, text: str) -> SentMessage:
    """Wait for the one Signal message with exactly this text."""
    await w.until(lambda: text in signal_texts(w))
    [found] = [m for m in w.signal.messages if m.message == text]
    return found


def wa_message(w: World, from_: str, body: str, name: str, **extra: Any) -> dict[str, Any]:
    return w.waha.inject_message("personal", from_=from_, body=body, notify_name=name, **extra)


async def test_first_message_makes_one_portal_named_after_the_chat_and_lands_there(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        wa_message(w, WA_ALICE, "Dinner tonight?", "Alice")
        sent = await arrives(w, "Dinner tonight?")  # no "Alice:" prefix in her own portal
        portal = group_named(w, "Alice")
        assert sent.recipients == (portal.id,)  # the REST id, never the internal one
        assert portal.members == (BRIDGE, ALICE_PHONE)
        entry = portal.entry()
        assert entry["admins"] == [BRIDGE]
        assert entry["invite_link"] == ""  # link off
        assert entry["permissions"]["add_members"] == "only-admins"
        assert entry["permissions"]["edit_group"] == "only-admins"
        assert "session personal" in portal.description

        wa_message(w, WA_ALICE, "8 pm?", "Alice")
        second = await arrives(w, "8 pm?")
        assert second.recipients == (portal.id,)
        assert len(portals(w)) == 1  # made once
        assert signal_texts(w, ALICE_PHONE) == []  # nothing in the 1:1 conversation


async def test_unquoted_answer_in_a_portal_reaches_its_chat_even_when_another_wrote_last(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        wa_message(w, WA_ALICE, "Are you coming?", "Alice")
        await arrives(w, "Are you coming?")
        wa_message(w, WA_BOB, "Call me", "Bob")
        await arrives(w, "Call me")
        alice = group_named(w, "Alice")

        item = w.signal.inject_envelope(ALICE_PHONE, message="Yes!", group_id=alice.internal_id)
        assert await w.envelopes_done(item) == ["done"]
        [reply] = send_texts(w)
        assert (reply["chatId"], reply["text"]) == (chat_of(WA_ALICE), "Yes!")
        assert not reply.get("reply_to")


async def test_quote_and_reaction_inside_a_portal_become_reply_to_and_a_reaction(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        first = wa_message(w, WA_ALICE, "Pizza or pasta?", "Alice")
        forwarded = await arrives(w, "Pizza or pasta?")
        alice = group_named(w, "Alice")

        quoted = w.signal.inject_envelope(
            ALICE_PHONE,
            message="Pizza",
            group_id=alice.internal_id,
            quote_timestamp=forwarded.timestamp,
            quote_author=BRIDGE,
        )
        reaction = w.signal.inject_envelope(
            ALICE_PHONE,
            reaction="❤️",
            reaction_target=forwarded.timestamp,
            reaction_author=BRIDGE,
            group_id=alice.internal_id,
        )
        assert await w.envelopes_done(quoted, reaction) == ["done", "done"]
        [reply] = send_texts(w)
        assert (reply["chatId"], reply["reply_to"]) == (chat_of(WA_ALICE), first["id"])
        [react] = w.whatsapp_calls("/api/reaction")
        assert (react["messageId"], react["reaction"]) == (first["id"], "❤️")

        # Alice reacts on WhatsApp to the user's answer: the reaction shows in the portal.
        answer = await w.parts.store.mapping_by_signal_timestamp(
            BRIDGE, quoted["envelope"]["timestamp"]
        )
        assert answer is not None and answer.signal_group == alice.id
        w.waha.inject_reaction(
            "personal", from_=WA_ALICE, message_id=answer.whatsapp_id, reaction="👍"
        )
        await w.until(lambda: any(r.path.startswith("/v1/reactions") for r in w.signal.sent))
        [shown] = [r.body for r in w.signal.sent if r.path.startswith("/v1/reactions")]
        assert (shown["recipient"], shown["target_author"]) == (alice.id, ALICE_PHONE)


async def test_a_whatsapp_group_portal_names_each_sender_and_its_answers_reach_the_group(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        group = w.waha.add_group("Climbing crew", session="personal")
        for who, name, text in ((WA_BOB, "Bob", "Saturday?"), (WA_CAROL, "Carol", "I'm in")):
            wa_message(w, who, text, name, chat_id=group)
            await arrives(w, f"{name}: {text}")
        portal = group_named(w, "Climbing crew")
        assert {m.recipients for m in w.signal.messages} == {(portal.id,)}

        item = w.signal.inject_envelope(ALICE_PHONE, message="Count me in", group_id=portal.id)
        assert await w.envelopes_done(item) == ["done"]
        [reply] = send_texts(w)
        assert reply["chatId"] == group


async def test_when_groups_cannot_be_made_the_message_arrives_in_the_one_to_one_conversation(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        w.signal.group_rate_limits = 1
        wa_message(w, WA_ALICE, "hello?", "Alice")
        sent = await arrives(w, "Alice: hello?")
        assert sent.recipients == (ALICE_PHONE,)
        assert portals(w) == []
        # Creation is paused after the 429: the next message goes 1:1 too, nothing is lost.
        wa_message(w, WA_ALICE, "still there?", "Alice")
        assert (await arrives(w, "Alice: still there?")).recipients == (ALICE_PHONE,)
        assert portals(w) == []


async def test_after_the_user_leaves_a_portal_the_chat_comes_to_the_one_to_one_conversation(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        wa_message(w, WA_ALICE, "first", "Alice")
        await arrives(w, "first")
        portal = group_named(w, "Alice")

        update = w.signal.leave_group(portal.id, ALICE_PHONE)
        assert await w.envelopes_done(update) == ["done"]
        notice = NOTICE_LEFT.format(name="Alice")
        await w.until(lambda: notice in signal_texts(w, ALICE_PHONE))

        wa_message(w, WA_ALICE, "are you there?", "Alice")
        assert (await arrives(w, "Alice: are you there?")).recipients == (ALICE_PHONE,)
        assert len(portals(w)) == 1  # not made again behind the user's back
        assert signal_texts(w, ALICE_PHONE).count(notice) == 1


async def test_after_a_restart_the_same_portal_is_used(tmp_path: Path) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        wa_message(w, WA_ALICE, "before", "Alice")
        await arrives(w, "before")
        portal = group_named(w, "Alice")
        store = w.parts.store
        w.bridge.stop_now()
        await w.until(lambda: store.thread_ident is None)  # the first bridge's store closed
        again = Bridge(w.bridge.config)
        await w.nursery.start(again.run)
        w.waha.webhook_url = f"{again.url}/webhook/whatsapp"

        wa_message(w, WA_ALICE, "after", "Alice")
        assert (await arrives(w, "after")).recipients == (portal.id,)
        assert len(portals(w)) == 1
