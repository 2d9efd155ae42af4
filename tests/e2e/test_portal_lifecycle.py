"""Portals end to end, their later life: a renamed WhatsApp group renames its portal, and
``/portal`` makes a new portal for a chat whose portal the user left.

FakeWaha, FakeSignal and a real bridge over HTTP, as in test_portals.py.
"""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BRIDGE, world
from e2e_tools import WA_ALICE, WA_BOB, signal_texts
from test_portals import PORTAL_CHANNELS, arrives, group_named, portals, wa_message

from whatsignal.relay.portals import NOTICE_LEFT, NOTICE_REOPENED
from whatsignal.testing import Fault


async def test_renaming_the_whatsapp_group_renames_its_portal(tmp_path: Path) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        group = w.waha.add_group("Climbing crew", session="personal")
        wa_message(w, WA_BOB, "Saturday?", "Bob", chat_id=group)
        await arrives(w, "Bob: Saturday?")
        portal = group_named(w, "Climbing crew")

        w.waha.rename_group(group, "Bouldering crew for the weekend trips", session="personal")
        cut = "Bouldering crew for the weekend…"  # Signal's 32 characters
        await w.until(lambda: w.signal.groups[portal.internal_id].name == cut)
        assert len(portals(w)) == 1  # renamed, not made again

        wa_message(w, WA_BOB, "Sunday then", "Bob", chat_id=group)
        assert (await arrives(w, "Bob: Sunday then")).recipients == (portal.id,)


async def test_a_rename_failing_in_signal_holds_no_message_back(tmp_path: Path) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        group = w.waha.add_group("Book club", session="personal")
        wa_message(w, WA_BOB, "Chapter 3", "Bob", chat_id=group)
        await arrives(w, "Bob: Chapter 3")
        portal = group_named(w, "Book club")
        w.signal.add_fault(Fault(path="/v1/groups/*", method="PUT", count=None, status=500))

        renamed = w.waha.rename_group(group, "Reading circle", session="personal")
        wa_message(w, WA_BOB, "Chapter 4", "Bob", chat_id=group)
        assert (await arrives(w, "Bob: Chapter 4")).recipients == (portal.id,)
        key = f"wa:personal:group:{group}:{renamed['timestamp']}"
        assert await w.row_done(key) == ["done"]  # failed without harm: no dead letter
        assert w.signal.groups[portal.internal_id].name == "Book club"


async def test_portal_quoting_a_message_of_a_left_chat_makes_a_new_portal(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        wa_message(w, WA_ALICE, "first", "Alice")
        await arrives(w, "first")
        old = group_named(w, "Alice")
        update = w.signal.leave_group(old.id, ALICE_PHONE)
        assert await w.envelopes_done(update) == ["done"]
        await w.until(lambda: NOTICE_LEFT.format(name="Alice") in signal_texts(w, ALICE_PHONE))
        wa_message(w, WA_ALICE, "hello again", "Alice")
        in_one_to_one = await arrives(w, "Alice: hello again")

        command = w.signal.inject_envelope(
            ALICE_PHONE,
            message="/portal",
            quote_timestamp=in_one_to_one.timestamp,
            quote_author=BRIDGE,
        )
        assert await w.envelopes_done(command) == ["done"]
        await w.until(lambda: NOTICE_REOPENED.format(name="Alice") in signal_texts(w))
        [new] = [g for g in portals(w) if g.internal_id != old.internal_id]
        assert new.name == "Alice" and ALICE_PHONE in new.members

        wa_message(w, WA_ALICE, "there you are", "Alice")
        assert (await arrives(w, "there you are")).recipients == (new.id,)


async def test_portal_n_from_chats_makes_a_new_portal(tmp_path: Path) -> None:
    async with world(tmp_path, channels=PORTAL_CHANNELS, sessions=("personal",)) as w:
        wa_message(w, WA_ALICE, "first", "Alice")
        await arrives(w, "first")
        old = group_named(w, "Alice")
        update = w.signal.leave_group(old.id, ALICE_PHONE)
        assert await w.envelopes_done(update) == ["done"]

        listing = w.signal.inject_envelope(ALICE_PHONE, message="/chats")
        assert await w.envelopes_done(listing) == ["done"]
        command = w.signal.inject_envelope(ALICE_PHONE, message="/portal 1")
        assert await w.envelopes_done(command) == ["done"]
        await w.until(lambda: len(portals(w)) == 2)

        wa_message(w, WA_ALICE, "new group?", "Alice")
        sent = await arrives(w, "new group?")
        assert sent.recipients != (old.id,) and sent.recipients[0].startswith("group.")
