"""Portals that must not be lost nor made twice, end to end: a group signal-cli made whose
answer never reached the bridge (or a bridge killed before it stored the answer) is found again
by the marker in its description and reused; a number without a profile name gets one and the
group is made; a portal whose group is gone sends the message 1:1 and is made again later."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BRIDGE, World, world
from e2e_tools import WA_ALICE, signal_texts

from whatsignal.channels import Route
from whatsignal.relay.portals import PROFILE_NAME, marker
from whatsignal.service import Bridge
from whatsignal.storage import Portal
from whatsignal.testing import Fault
from whatsignal.testing._signal_envelopes import Group
from whatsignal.testing._signal_groups import create_group
from whatsignal.testing.signal_cli import SentMessage

CHANNELS = [
    {
        "whatsappSessionName": "personal",
        "signalDestinationPhoneNumber": ALICE_PHONE,
        "portals": True,
    }
]
ALICE_CHAT = WA_ALICE.lstrip("+") + "@c.us"
ROUTE = Route("personal", ALICE_PHONE, BRIDGE, portals=True)


def groups(w: World) -> list[Group]:
    return list(w.signal.groups.values())


async def arrives(w: World, text: str) -> SentMessage:
    await w.until(lambda: text in signal_texts(w))
    [found] = [m for m in w.signal.messages if m.message == text]
    return found


def says(w: World, body: str) -> None:
    w.waha.inject_message("personal", from_=WA_ALICE, body=body, notify_name="Alice")


async def restart(w: World) -> None:
    """Stop the bridge at once and start it again on the same database."""
    store = w.parts.store
    w.bridge.stop_now()
    await w.until(lambda: store.thread_ident is None)
    again = Bridge(w.bridge.config)
    await w.nursery.start(again.run)
    w.waha.webhook_url = f"{again.url}/webhook/whatsapp"


async def test_a_group_made_but_never_stored_is_found_again_after_a_restart(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=CHANNELS, sessions=("personal",)) as w:
        # signal-cli makes the group, but its answer never reaches the bridge.
        lost = Fault(path="/v1/groups/*", method="POST", carry_out=True, drop=True)
        w.signal.add_fault(lost)
        says(w, "first")
        assert (await arrives(w, "Alice: first")).recipients == (ALICE_PHONE,)  # not lost
        assert lost.hits == 1
        [made] = groups(w)
        assert f"[{marker(ROUTE, ALICE_CHAT)}]" in made.description

        await restart(w)
        says(w, "second")
        assert (await arrives(w, "second")).recipients == (made.id,)
        assert groups(w) == [made]  # reused, not made twice


async def test_a_creating_portal_with_its_group_upstream_is_reused(tmp_path: Path) -> None:
    async with world(tmp_path, channels=CHANNELS, sessions=("personal",)) as w:
        # What a bridge killed between creating the group and storing it leaves behind.
        await w.parts.store.put_portal(
            Portal(BRIDGE, ALICE_PHONE, "personal", ALICE_CHAT, "creating", 1.0, name="Alice")
        )
        other = create_group(w.signal, BRIDGE, {"name": "Other", "members": [ALICE_PHONE]})
        made = create_group(
            w.signal,
            BRIDGE,
            {
                "name": "Alice",
                "members": [ALICE_PHONE],
                "description": f"mirrored [{marker(ROUTE, ALICE_CHAT)}]",
            },
        )
        says(w, "hello")
        assert (await arrives(w, "hello")).recipients == (made.id,)
        assert groups(w) == [other, made]


async def test_a_number_without_a_profile_name_gets_one_and_its_portal(tmp_path: Path) -> None:
    async with world(tmp_path, channels=CHANNELS, sessions=("personal",)) as w:
        w.signal.profile_required = True
        says(w, "hi there")
        sent = await arrives(w, "hi there")
        [made] = groups(w)
        assert sent.recipients == (made.id,)
        assert w.signal.profile_names[BRIDGE] == PROFILE_NAME


async def test_a_portal_whose_group_is_gone_falls_back_and_is_made_again(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, channels=CHANNELS, sessions=("personal",)) as w:
        says(w, "one")
        await arrives(w, "one")
        [first] = groups(w)
        del w.signal.groups[first.internal_id]  # signal-cli forgot it
        says(w, "two")
        assert (await arrives(w, "Alice: two")).recipients == (ALICE_PHONE,)
        says(w, "three")
        await arrives(w, "three")
        [second] = groups(w)
        assert second.id != first.id
        assert [m.recipients for m in w.signal.messages if m.message == "three"] == [(second.id,)]
