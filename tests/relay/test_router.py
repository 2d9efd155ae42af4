"""Router: which WAHA session and chat each Signal envelope goes to, decided through its seams.

Covers the rules of :mod:`whatsignal.relay.router`: strangers are never forwarded (and counted);
read receipts, edits, reactions and deletes follow the mapping of their target; a quote resolves
by its Signal timestamp, then by the quoted ``"Name: ..."`` text, else the sender is told; an
unquoted message goes to the latest chat, or where the previous message went if that is more
recent; the ``/help`` and ``/to`` commands; the ``"*"`` default channel; and how senders who hide
their number are recognised. The mappings live in a real in-memory SqliteStore, signal-cli's
contact list is an ``httpx.MockTransport`` behind the real SignalClient, and the clock is a list
the test moves.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import attrs
import httpx
import pytest
import trio

from whatsignal.channels import ChannelMap, Route
from whatsignal.clients import SignalClient, open_http_client
from whatsignal.convert import commands
from whatsignal.metrics import Metrics
from whatsignal.models.signal_api import SigReceived
from whatsignal.relay.mutes import MuteBook
from whatsignal.relay.notices import NOTICE_NO_CHAT, NOTICE_UNKNOWN_QUOTE, Notices
from whatsignal.relay.portals import PortalKeeper
from whatsignal.relay.router import NOTICE_SIGNAL_GROUP, Decision, Router, SenderUnknown
from whatsignal.serde import parse_signal_received
from whatsignal.storage import Direction, Group, InboundEvent, MessageMapping, SqliteStore

BRIDGE = "+4915100000001"
OTHER_BRIDGE = "+4915100000009"

# WhatsApp chats of the bridged accounts.
CAROL = "4917000000003@c.us"
DAN = "4917000000004@c.us"
FAMILY = "120363000000000001@g.us"
NEW_CHAT = "491701234567@c.us"


@attrs.frozen
class Person:
    """A Signal user as signal-cli reports them: number (None when hidden) and service id."""

    number: str | None
    uuid: str
    name: str

    @property
    def address(self) -> str:
        """What signal-cli puts in ``source``: the number, or the uuid when it is hidden."""
        return self.number or self.uuid


ALICE = Person("+4915100000002", "5d1c8a0e-7f62-4c1b-9a43-2f0e6b8d1a11", "Alice")
HIDDEN_ALICE = Person(None, ALICE.uuid, "Alice")  # Alice after hiding her number
BOB = Person("+4915100000003", "a3f4b2c1-1e2d-4c5b-8a9f-0b1c2d3e4f50", "Bob")
EVE = Person("+4915100000004", "e0e0e0e0-1111-4222-8333-444455556666", "Eve")
BRIDGE_UUID = "b81d6f2c-0000-4000-8000-00000000b41d"

# Alice reads two WhatsApp accounts (personal, business), Bob a third, all through BRIDGE.
CHANNELS = ChannelMap(
    {
        "personal": Route("personal", "+4915100000002", BRIDGE),
        "business": Route("business", "+4915100000002", BRIDGE),
        "work": Route("work", "+4915100000003", BRIDGE),
    }
)
# The "*" channel: every discovered session goes to Alice.
DEFAULT_ONLY = ChannelMap({}, default=Route("*", "+4915100000002", BRIDGE))

_stamps = itertools.count(1_700_000_500_000, 1000)
_rows = itertools.count(1)


# Envelopes, shaped as signal-cli 0.14 prints them -------------------------------------------


def received(sender: Person | None, *, account: str = BRIDGE, **content: Any) -> SigReceived:
    """One received item ``{"envelope": ..., "account": ...}``, parsed as the receiver does."""
    stamp = next(_stamps)
    env: dict[str, Any] = {"timestamp": stamp, "serverReceivedTimestamp": stamp + 37}
    if sender is not None:
        env.update(
            source=sender.address,
            sourceNumber=sender.number,
            sourceUuid=sender.uuid,
            sourceName=sender.name,
            sourceDevice=1,
        )
    for name, value in content.items():
        if name == "dataMessage":
            value = {"timestamp": stamp, "expiresInSeconds": 0, "viewOnce": False, **value}
        env[name] = value
    return parse_signal_received({"envelope": env, "account": account})


def text(
    sender: Person | None,
    message: str | None,
    *,
    quote: dict[str, Any] | None = None,
    account: str = BRIDGE,
    **extra: Any,
) -> SigReceived:
    data: dict[str, Any] = {"message": message, **extra}
    if quote is not None:
        data["quote"] = quote
    return received(sender, account=account, dataMessage=data)


def quoting(target: int, quoted_text: str | None) -> dict[str, Any]:
    """A quote of a message the bridge number sent (a forwarded WhatsApp message)."""
    return {
        "id": target,
        "author": BRIDGE,
        "authorNumber": BRIDGE,
        "authorUuid": BRIDGE_UUID,
        "text": quoted_text,
        "attachments": [],
    }


def reaction(sender: Person, target: int) -> SigReceived:
    react = {
        "emoji": "👍",
        "targetAuthor": BRIDGE,
        "targetAuthorNumber": BRIDGE,
        "targetAuthorUuid": BRIDGE_UUID,
        "targetSentTimestamp": target,
        "isRemove": False,
    }
    return received(sender, dataMessage={"message": None, "reaction": react})


def deletion(sender: Person, target: int) -> SigReceived:
    return received(sender, dataMessage={"message": None, "remoteDelete": {"timestamp": target}})


def edit(sender: Person, target: int) -> SigReceived:
    new = {"timestamp": next(_stamps), "message": "fixed typo", "expiresInSeconds": 0}
    return received(sender, editMessage={"targetSentTimestamp": target, "dataMessage": new})


def read_receipt(sender: Person, *targets: int) -> SigReceived:
    receipt = {
        "when": next(_stamps),
        "isDelivery": False,
        "isRead": True,
        "isViewed": False,
        "timestamps": list(targets),
    }
    return received(sender, receiptMessage=receipt)


def typing(sender: Person) -> SigReceived:
    return received(sender, typingMessage={"action": "STARTED", "timestamp": next(_stamps)})


# What the bridge remembers -------------------------------------------------------------------


def bridged(
    session: str,
    chat: str,
    stamp: int,
    *,
    at: float,
    name: str | None = "Carol",
    destination: str = "+4915100000002",
    direction: Direction = "wa_to_signal",
) -> MessageMapping:
    """A message bridged at ``at`` between WhatsApp chat ``chat`` and Signal timestamp ``stamp``."""
    return MessageMapping(
        session=session,
        whatsapp_id=f"false_{chat}_{stamp}",
        chat_id=chat,
        bridge_number=BRIDGE,
        destination=destination,
        signal_timestamp=stamp,
        direction=direction,
        created_at=at,
        sender_name=name,
    )


@attrs.define(eq=False)
class SignalContacts:
    """signal-cli's ``GET /v1/contacts/{number}``: answers ``contacts``, or no answer at all."""

    contacts: list[dict[str, Any]] = attrs.Factory(list)
    down: bool = False
    asked: list[str] = attrs.Factory(list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(f"{request.method} {request.url.raw_path.decode()}")
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=self.contacts)


@attrs.define(eq=False)
class Running:
    """The sessions the bridge knows now (the session table, as the router sees it)."""

    names: list[str] = attrs.Factory(list)

    def known(self) -> Sequence[str]:
        return list(self.names)


@attrs.define(eq=False, kw_only=True)
class World:
    """A router over a running store, with the collaborators a test steers."""

    store: SqliteStore
    signal: SignalClient
    contacts: SignalContacts
    metrics: Metrics = attrs.Factory(Metrics)
    running: Running = attrs.Factory(Running)
    now: list[float] = attrs.Factory(lambda: [2000.0])
    router: Router = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.router = self.new_router(CHANNELS)

    def new_router(self, channels: ChannelMap) -> Router:
        """A router as the bridge builds it (a fresh one is a restarted bridge)."""
        return Router(
            store=self.store,
            signal=self.signal,
            channels=channels,
            sessions=self.running,
            metrics=self.metrics,
            clock=lambda: self.now[0],
            portals=PortalKeeper(
                store=self.store,
                groups=self.signal.group_api,
                notices=Notices(signal=self.signal),
                clock=lambda: self.now[0],
            ),
            mutes=MuteBook(store=self.store, clock=lambda: self.now[0]),
        )

    async def decide(self, item: SigReceived) -> Decision:
        return await self.router.decide(item)

    async def remember(self, *mappings: MessageMapping) -> None:
        """Record mappings the way a worker does: with the journal row that produced them."""
        row = InboundEvent(
            source="whatsapp",
            key=f"wa:test:msg:{next(_rows)}",
            queue=mappings[0].session,
            chat=mappings[0].chat_id,
            kind="message",
            payload=b"{}",
            received_at=mappings[0].created_at,
        )
        (row_id,) = await self.store.journal([row])
        assert row_id is not None
        await self.store.complete(row_id, mappings=mappings)

    @property
    def strangers(self) -> float:
        value: float = self.metrics.strangers._value.get()
        return value


@pytest.fixture
async def world(nursery: trio.Nursery) -> AsyncIterator[World]:
    store: SqliteStore = await nursery.start(SqliteStore(":memory:").run)
    contacts = SignalContacts()
    transport = httpx.MockTransport(contacts.handle)
    async with open_http_client("http://signal:8080", timeout=5, transport=transport) as http:
        yield World(store=store, signal=SignalClient(http), contacts=contacts)


def routed(session: str, chat: str) -> Decision:
    return Decision(session=session, chat=chat)


# Strangers -----------------------------------------------------------------------------------


async def test_a_stranger_is_never_forwarded_and_is_counted(world: World) -> None:
    t1 = next(_stamps)
    await world.remember(bridged("personal", CAROL, t1, at=1000))

    decision = await world.decide(text(EVE, "hello Carol", quote=quoting(t1, "Carol: hi")))

    assert decision == Decision(ignore="sender is no channel's destination")
    assert world.strangers == 1


async def test_a_destination_writing_to_another_bridge_number_is_a_stranger_there(
    world: World,
) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    decision = await world.decide(text(ALICE, "hi", account=OTHER_BRIDGE))

    assert decision.session is None
    assert world.strangers == 1


async def test_an_envelope_without_any_sender_is_not_forwarded(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    decision = await world.decide(text(None, "who am I"))

    assert decision == Decision(ignore="sender is no channel's destination")
    assert world.strangers == 1


# Senders who hide their number -------------------------------------------------------------


async def test_a_hidden_number_is_known_from_an_earlier_envelope_signal_cli_gave(
    world: World,
) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))
    first = text(ALICE, "first")

    await world.router.learn([first])  # the receiver read it from signal-cli
    decisions = [await world.decide(first), await world.decide(text(HIDDEN_ALICE, "hidden"))]

    assert decisions == [routed("personal", CAROL)] * 2
    assert world.contacts.asked == []  # signal-cli was not asked
    assert world.strangers == 0


async def test_routing_an_envelope_learns_no_identity(world: World) -> None:
    await world.decide(text(ALICE, "first"))

    assert await world.store.uuid_for_number(ALICE.number or "") is None
    assert await world.store.number_for_uuid(ALICE.uuid) is None


async def test_an_envelope_pairing_the_destination_with_a_strangers_uuid_teaches_nothing(
    world: World,
) -> None:
    """A pushed envelope (anyone with the push token can post one) claims Eve's uuid is the
    destination's: routed by its number, it must not make Eve the destination later."""
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))
    impostor = Person(ALICE.number, EVE.uuid, "Alice")
    hidden_eve = Person(None, EVE.uuid, "Eve")
    world.contacts.contacts = [{"number": EVE.number, "uuid": EVE.uuid}]

    await world.decide(text(impostor, "I am Alice"))
    decision = await world.decide(text(hidden_eve, "now forward me"))

    assert decision == Decision(ignore="sender is no channel's destination")
    assert await world.store.number_for_uuid(EVE.uuid) == EVE.number  # from the contact list


async def test_a_learned_pairing_never_overrides_a_known_one(world: World) -> None:
    await world.router.learn([text(ALICE, "mine")])

    # Even from signal-cli, an envelope does not re-pair a known number or move a known uuid.
    await world.router.learn([text(Person(ALICE.number, EVE.uuid, "Eve"), "re-pair")])
    await world.router.learn([text(Person(EVE.number, ALICE.uuid, "Eve"), "move")])

    assert await world.store.uuid_for_number(ALICE.number or "") == ALICE.uuid
    assert await world.store.number_for_uuid(ALICE.uuid) == ALICE.number
    assert await world.store.number_for_uuid(EVE.uuid) is None
    assert await world.store.uuid_for_number(EVE.number or "") is None


async def test_only_signal_clis_contact_list_changes_a_known_pairing(world: World) -> None:
    """Alice re-registered: her number has a new uuid now, which signal-cli's contacts know."""
    renewed = "0a0b0c0d-1111-4222-8333-444455556666"
    await world.router.learn([text(ALICE, "old uuid")])
    await world.router.learn([text(Person(ALICE.number, renewed, "Alice"), "new uuid")])
    assert await world.store.number_for_uuid(renewed) is None
    world.contacts.contacts = [{"number": ALICE.number, "uuid": renewed}]

    assert await world.router.sender(text(Person(None, renewed, "Alice"), "hi")) == ALICE.number

    assert await world.store.uuid_for_number(ALICE.number or "") == renewed


async def test_a_pairing_without_both_halves_teaches_nothing(world: World) -> None:
    await world.router.learn([text(HIDDEN_ALICE, "uuid only"), text(None, "nobody")])

    assert await world.store.number_for_uuid(ALICE.uuid) is None


async def test_a_hidden_number_is_known_from_the_store_after_a_restart(world: World) -> None:
    await world.store.put_signal_identity("+4915100000002", ALICE.uuid)
    restarted = world.new_router(CHANNELS)

    assert await restarted.sender(text(HIDDEN_ALICE, "hi")) == "+4915100000002"
    assert world.contacts.asked == []


async def test_a_hidden_number_is_looked_up_in_signal_contacts_once(world: World) -> None:
    world.contacts.contacts = [
        {"number": "+4915100000003", "uuid": BOB.uuid, "name": "Bob", "profile_name": "Bob"},
        {"number": None, "uuid": "c0ffee00-0000-4000-8000-000000000001", "name": ""},
        {"number": "+4915100000005", "uuid": "", "name": "no uuid"},
        {"number": "+4915100000002", "uuid": ALICE.uuid, "name": "Alice", "profile_name": "A"},
    ]

    assert await world.router.sender(text(HIDDEN_ALICE, "hi")) == "+4915100000002"
    assert await world.router.sender(text(HIDDEN_ALICE, "again")) == "+4915100000002"

    assert world.contacts.asked == ["GET /v1/contacts/%2B4915100000001"]
    # Every complete contact is remembered, so Bob will not cost a lookup either.
    assert await world.store.number_for_uuid(BOB.uuid) == "+4915100000003"
    assert await world.store.number_for_uuid("c0ffee00-0000-4000-8000-000000000001") is None
    assert await world.store.uuid_for_number("+4915100000005") is None


async def test_a_hidden_number_signal_cli_does_not_know_is_a_stranger(world: World) -> None:
    world.contacts.contacts = [{"number": "+4915100000003", "uuid": BOB.uuid}]
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    decision = await world.decide(text(HIDDEN_ALICE, "hi"))

    assert decision == Decision(ignore="sender is no channel's destination")
    assert world.strangers == 1


async def test_a_hidden_number_stays_unknown_while_signal_contacts_cannot_be_fetched(
    world: World,
) -> None:
    world.contacts.down = True
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    with pytest.raises(SenderUnknown):
        await world.router.sender(text(HIDDEN_ALICE, "hi"))
    decision = await world.decide(text(HIDDEN_ALICE, "hi"))

    # Neither guessed into a chat nor thrown away as a stranger's: asked again later.
    assert decision == Decision(ignore="sender not known yet", retry_after=5.0)
    assert world.metrics.strangers._value.get() == 0
    assert len(world.contacts.asked) == 2
    world.contacts.down = False
    world.contacts.contacts = [{"number": ALICE.number, "uuid": ALICE.uuid}]
    assert (await world.decide(text(HIDDEN_ALICE, "hi"))).session == "personal"


async def test_a_number_in_source_alone_is_the_sender(world: World) -> None:
    """Older signal-cli versions put the number in ``source`` and nothing else."""
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))
    stamp = next(_stamps)
    item = parse_signal_received(
        {
            "account": BRIDGE,
            "envelope": {
                "source": "+4915100000002",
                "timestamp": stamp,
                "dataMessage": {"timestamp": stamp, "message": "hi"},
            },
        }
    )

    assert await world.decide(item) == routed("personal", CAROL)
    assert world.contacts.asked == []


async def test_a_known_identity_is_not_looked_up_again_for_every_envelope(world: World) -> None:
    await world.router.learn([text(ALICE, "one")])
    await world.router.learn([text(Person(ALICE.number, EVE.uuid, "Eve"), "refused")])
    stats = (world.store.stats.reads, world.store.stats.writes)

    for _ in range(3):
        await world.router.learn(
            [text(ALICE, "more"), text(Person(ALICE.number, EVE.uuid, "E"), "x")]
        )
        assert await world.router.sender(text(ALICE, "more")) == "+4915100000002"

    assert (world.store.stats.reads, world.store.stats.writes) == stats


# Receipts, edits, reactions and deletes follow their target --------------------------------

FOLLOWERS: dict[str, Callable[[Person, int], SigReceived]] = {
    "read receipt": read_receipt,
    "edit": edit,
    "reaction": reaction,
    "delete": deletion,
}


@pytest.mark.parametrize("kind", FOLLOWERS)
async def test_an_action_on_a_message_goes_to_that_messages_chat(world: World, kind: str) -> None:
    target = next(_stamps)
    await world.remember(
        bridged("business", DAN, target, at=1000),
        bridged("personal", CAROL, next(_stamps), at=1500),  # the latest chat is elsewhere
    )

    assert await world.decide(FOLLOWERS[kind](ALICE, target)) == routed("business", DAN)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("read receipt", "receipt for unknown messages"),
        ("edit", "edit of unknown message"),
        ("reaction", "reaction to unknown message"),
        ("delete", "delete of unknown message"),
    ],
)
async def test_an_action_on_an_unknown_message_is_dropped_without_a_notice(
    world: World, kind: str, reason: str
) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    assert await world.decide(FOLLOWERS[kind](ALICE, 42)) == Decision(ignore=reason)


async def test_a_read_receipt_follows_the_first_message_it_names_that_is_known(
    world: World,
) -> None:
    target = next(_stamps)
    await world.remember(bridged("business", DAN, target, at=1000))

    assert await world.decide(read_receipt(ALICE, 42, target)) == routed("business", DAN)


async def test_a_reaction_to_an_old_message_does_not_redirect_the_next_message(
    world: World,
) -> None:
    old = next(_stamps)
    await world.remember(
        bridged("personal", CAROL, old, at=1000), bridged("personal", DAN, next(_stamps), at=1500)
    )

    assert await world.decide(reaction(ALICE, old)) == routed("personal", CAROL)
    assert await world.decide(text(ALICE, "anyway")) == routed("personal", DAN)


async def test_a_message_bridged_to_someone_else_is_not_followed(world: World) -> None:
    """Bob shares the bridge number with Alice; her messages' timestamps are not his to use."""
    alices = next(_stamps)
    await world.remember(bridged("personal", CAROL, alices, at=1000))

    assert await world.decide(reaction(BOB, alices)) == Decision(
        ignore="reaction to unknown message"
    )
    decision = await world.decide(text(BOB, "hi", quote=quoting(alices, "Carol: hi")))
    assert decision == Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)


# Nothing to send -----------------------------------------------------------------------------


async def test_typing_and_blank_messages_go_nowhere_and_say_nothing(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    assert await world.decide(typing(ALICE)) == Decision(ignore="nothing to bridge")
    assert await world.decide(text(ALICE, "  \n ")) == Decision(ignore="empty message")


async def test_an_attachment_without_text_goes_to_the_latest_chat(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))
    photo = {
        "contentType": "image/jpeg",
        "filename": None,
        "id": "k3Jd9.jpg",
        "size": 48213,
        "uploadTimestamp": 1_700_000_000_000,
    }

    assert await world.decide(text(ALICE, None, attachments=[photo])) == routed("personal", CAROL)


# Quotes ----------------------------------------------------------------------------------------


async def test_a_quote_goes_to_the_quoted_messages_chat_not_the_latest(world: World) -> None:
    quoted = next(_stamps)
    await world.remember(
        bridged("personal", CAROL, quoted, at=1000),
        bridged("business", DAN, next(_stamps), at=1500, name="Dan"),
    )

    decision = await world.decide(text(ALICE, "yes", quote=quoting(quoted, "Carol: dinner?")))

    assert decision == routed("personal", CAROL)


async def test_an_unknown_quote_is_resolved_by_the_name_in_its_text(world: World) -> None:
    await world.remember(
        bridged("personal", CAROL, next(_stamps), at=1000),
        bridged("business", DAN, next(_stamps), at=1500, name="Dan"),
    )

    decision = await world.decide(text(ALICE, "yes", quote=quoting(42, "Carol: dinner?")))

    assert decision == routed("personal", CAROL)


async def test_an_unknown_quote_naming_a_group_goes_to_that_group(world: World) -> None:
    await world.store.put_group(Group("personal", FAMILY, "Family", 0.0))
    await world.remember(
        bridged("personal", FAMILY, next(_stamps), at=1000),
        bridged("personal", DAN, next(_stamps), at=1500, name="Dan"),
    )

    decision = await world.decide(text(ALICE, "yes", quote=quoting(42, "Carol in Family: ok?")))

    assert decision == routed("personal", FAMILY)


async def test_a_group_without_a_cached_subject_is_named_by_its_id(world: World) -> None:
    await world.remember(bridged("personal", FAMILY, next(_stamps), at=1000))

    quote = quoting(42, "Carol in 120363000000000001: ok?")
    assert await world.decide(text(ALICE, "yes", quote=quote)) == routed("personal", FAMILY)


@pytest.mark.parametrize(
    ("carols_latest_chat", "quoted_text"),
    [
        pytest.param(FAMILY, "Carol: private question", id="direct quote, group chat"),
        pytest.param(CAROL, "Carol in Family: group question", id="group quote, direct chat"),
        pytest.param(FAMILY, "Carol in Work: other group", id="another group"),
    ],
)
async def test_a_quoted_name_whose_latest_chat_is_not_the_quoted_kind_is_not_sent(
    world: World, carols_latest_chat: str, quoted_text: str
) -> None:
    await world.store.put_group(Group("personal", FAMILY, "Family", 0.0))
    await world.remember(bridged("personal", carols_latest_chat, next(_stamps), at=1000))

    decision = await world.decide(text(ALICE, "answer", quote=quoting(42, quoted_text)))

    assert decision == Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)


@pytest.mark.parametrize(
    "quoted_text",
    [None, "a note to self", "Zed: nobody by that name", ": no name"],
)
async def test_an_unknown_quote_without_a_known_name_is_not_sent_and_the_sender_is_told(
    world: World, quoted_text: str | None
) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    decision = await world.decide(text(ALICE, "reply", quote=quoting(42, quoted_text)))

    assert decision == Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)


# No quote: the latest chat, or where the previous message went ------------------------------


async def test_an_unquoted_message_goes_to_the_latest_chat_across_sessions(world: World) -> None:
    await world.remember(
        bridged("personal", CAROL, next(_stamps), at=1000),
        bridged("business", DAN, next(_stamps), at=1500, name="Dan"),
    )

    assert await world.decide(text(ALICE, "hello")) == routed("business", DAN)


async def test_the_latest_chat_counts_messages_sent_from_signal_too(world: World) -> None:
    await world.remember(
        bridged("personal", CAROL, next(_stamps), at=1000),
        bridged("business", DAN, next(_stamps), at=1500, direction="signal_to_wa", name=None),
    )

    assert await world.decide(text(ALICE, "hello")) == routed("business", DAN)


async def test_a_follow_up_goes_where_the_previous_message_went_until_a_newer_one_arrives(
    world: World,
) -> None:
    old = next(_stamps)
    await world.remember(
        bridged("personal", CAROL, old, at=1000),
        bridged("personal", DAN, next(_stamps), at=1500, name="Dan"),
    )

    world.now[0] = 2000.0
    quoted = await world.decide(text(ALICE, "sure", quote=quoting(old, "Carol: lunch?")))
    world.now[0] = 2001.0
    # The reply is not mapped until delivered: the follow-up must not overtake it to Dan.
    follow_up = await world.decide(text(ALICE, "at noon"))
    await world.remember(bridged("personal", DAN, next(_stamps), at=2500, name="Dan"))
    world.now[0] = 2600.0
    after_dan = await world.decide(text(ALICE, "and you, Dan?"))

    assert quoted == follow_up == routed("personal", CAROL)
    assert after_dan == routed("personal", DAN)


async def test_with_no_chat_at_all_the_sender_is_told_how_to_pick_one(world: World) -> None:
    assert await world.decide(text(ALICE, "anyone?")) == Decision(
        ignore="no chat to reply to", notice=NOTICE_NO_CHAT
    )


# Commands ------------------------------------------------------------------------------------


async def test_help_is_answered_in_signal_even_with_a_quote(world: World) -> None:
    quoted = next(_stamps)
    await world.remember(bridged("personal", CAROL, quoted, at=1000))

    decision = await world.decide(text(ALICE, "/help", quote=quoting(quoted, "Carol: hi")))

    assert decision == Decision(ignore="command", notice=commands.HELP)


@pytest.mark.parametrize(
    ("message", "notice"),
    [
        ("/frobnicate now", "⚠️ whatsignal: unknown command /frobnicate; /help lists them"),
        ("/to Carol hello", "⚠️ whatsignal: usage: /to +491701234567 your text"),
        ("/to +1234567890123456 hi", "⚠️ whatsignal: +1234567890123456 is not a phone number"),
    ],
)
async def test_a_bad_command_is_answered_with_what_is_wrong(
    world: World, message: str, notice: str
) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    assert await world.decide(text(ALICE, message)) == Decision(
        ignore="invalid command", notice=notice
    )


async def test_to_starts_a_chat_in_the_only_session_of_the_sender(world: World) -> None:
    assert await world.decide(text(BOB, "/to +49 170 1234567 hello")) == routed("work", NEW_CHAT)


async def test_to_uses_the_session_of_the_latest_chat_when_there_are_several(
    world: World,
) -> None:
    await world.remember(bridged("business", DAN, next(_stamps), at=1000))

    assert await world.decide(text(ALICE, "/to +491701234567 hi")) == routed("business", NEW_CHAT)


async def test_to_asks_which_session_when_there_are_several_and_no_chat(world: World) -> None:
    decision = await world.decide(text(ALICE, "/to +491701234567 hi"))

    assert decision == Decision(
        ignore="session not given",
        notice="⚠️ whatsignal: say which WhatsApp session, e.g. /to personal:... "
        "(business, personal)",
    )


async def test_to_with_a_session_goes_through_that_session(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    decision = await world.decide(text(ALICE, "/to business:+491701234567 hi"))

    assert decision == routed("business", NEW_CHAT)


async def test_to_through_a_session_that_does_not_serve_the_sender_is_refused(
    world: World,
) -> None:
    decision = await world.decide(text(ALICE, "/to work:+491701234567 hi"))

    assert decision == Decision(
        ignore="unknown session",
        notice="⚠️ whatsignal: no WhatsApp session 'work' serves you here",
    )


async def test_a_follow_up_after_to_goes_to_the_new_chat(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    started = await world.decide(text(ALICE, "/to personal:+491701234567 hi there"))
    world.now[0] += 1
    follow_up = await world.decide(text(ALICE, "it's Alice, new number"))

    assert started == follow_up == routed("personal", NEW_CHAT)


async def test_a_doubled_slash_is_an_ordinary_message(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))

    assert await world.decide(text(ALICE, "//shrug")) == routed("personal", CAROL)


# The "*" default channel --------------------------------------------------------------------


async def test_the_default_channel_serves_every_session_running_or_not(world: World) -> None:
    router = world.new_router(DEFAULT_ONLY)
    world.running.names = ["phone1", "phone2"]
    await world.remember(bridged("phone2", CAROL, next(_stamps), at=1000))

    assert await router.decide(text(ALICE, "hi")) == routed("phone2", CAROL)

    world.running.names = []  # phone2 stopped or is not listed yet: the reply waits for it
    assert await router.decide(text(ALICE, "hi")) == routed("phone2", CAROL)


async def test_a_message_while_no_session_runs_is_not_dropped_silently(world: World) -> None:
    router = world.new_router(DEFAULT_ONLY)
    await world.remember(bridged("phone1", CAROL, next(_stamps), at=1000))
    world.running.names = []  # phone1's session stopped a moment ago

    decision = await router.decide(text(ALICE, "are you there?"))

    assert decision.session is not None or decision.notice is not None


async def test_an_unquoted_message_never_goes_to_an_older_chat_of_another_session(
    world: World,
) -> None:
    router = world.new_router(DEFAULT_ONLY)
    world.running.names = ["phone1", "phone2"]
    await world.remember(
        bridged("phone2", DAN, next(_stamps), at=1000, name="Dan"),
        bridged("phone1", CAROL, next(_stamps), at=1500),
    )
    assert await router.decide(text(ALICE, "hi Carol")) == routed("phone1", CAROL)
    world.now[0] += 1
    world.running.names = ["phone2"]  # phone1's session stopped a moment ago

    decision = await router.decide(text(ALICE, "and one more thing, Carol"))

    assert decision.session in (None, "phone1")


# Signal groups -------------------------------------------------------------------------------


async def test_a_message_in_a_signal_group_is_not_forwarded(world: World) -> None:
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))
    group = {
        "groupId": "kN2D8rWJ3q3E0o0dWm5x1m0u7o3ZfQe9n0mWq1mX8mE=",
        "groupName": "Book club",
        "revision": 1,
        "type": "DELIVER",
    }

    target = next(_stamps)
    await world.remember(bridged("personal", CAROL, target, at=1001))
    in_group = [
        text(ALICE, "see you all thursday", groupInfo=group),
        text(ALICE, "yes", groupInfo=group, quote=quoting(target, "Carol: hi")),
        received(
            ALICE,
            editMessage={
                "targetSentTimestamp": target,
                "dataMessage": {"timestamp": next(_stamps), "message": "x", "groupInfo": group},
            },
        ),
    ]
    told = await world.decide(in_group[0])
    assert told == Decision(ignore="signal group message", notice=NOTICE_SIGNAL_GROUP)
    for item in in_group[1:]:  # told once per group, not again
        assert await world.decide(item) == Decision(ignore="signal group message")
    # The same text in the one-to-one conversation goes through.
    assert (await world.decide(text(ALICE, "see you all thursday"))).session == "personal"


async def test_strangers_in_a_signal_group_are_ignored_silently(world: World) -> None:
    group = {"groupId": "Z3JvdXA=", "groupName": "Neighbours", "revision": 1, "type": "DELIVER"}
    stranger = Person("+15559990000", "0f0e0d0c-0b0a-4908-8706-050403020100", "Zed")

    decision = await world.decide(text(stranger, "anyone?", groupInfo=group))

    assert decision == Decision(ignore="signal group message")
    assert world.metrics.strangers._value.get() == 0  # not counted as writing to the bridge


async def test_each_group_is_told_once(world: World) -> None:
    first = {"groupId": "Zmlyc3Q=", "revision": 1, "type": "DELIVER"}
    second = {"groupId": "c2Vjb25k", "revision": 1, "type": "DELIVER"}
    for group in (first, second):
        assert (await world.decide(text(ALICE, "hi", groupInfo=group))).notice == (
            NOTICE_SIGNAL_GROUP
        )
    assert (await world.decide(text(ALICE, "hi", groupInfo=first))).notice is None


# Mutation-testing gaps (docs/testing.md) ----------------------------------------------------


async def test_a_batch_learns_every_new_pairing_after_a_known_one(world: World) -> None:
    await world.router.learn([text(ALICE, "known first")])

    await world.router.learn([text(ALICE, "again"), text(BOB, "new")])

    assert await world.store.number_for_uuid(BOB.uuid) == BOB.number


async def test_a_quoted_direct_message_never_goes_to_a_group_without_a_cached_subject(
    world: World,
) -> None:
    await world.remember(bridged("personal", FAMILY, next(_stamps), at=1000))

    decision = await world.decide(text(ALICE, "answer", quote=quoting(42, "Carol: private")))

    assert decision == Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)


async def test_a_quoted_name_looks_only_in_the_senders_sessions(world: World) -> None:
    """A later message from a Carol in a session that no longer serves Alice (reconfigured)
    does not hide Alice's own chat with her."""
    await world.remember(bridged("personal", CAROL, next(_stamps), at=1000))
    await world.remember(bridged("retired", DAN, next(_stamps), at=1500))

    decision = await world.decide(text(ALICE, "yes", quote=quoting(42, "Carol: dinner?")))

    assert decision == routed("personal", CAROL)


async def test_a_quoted_name_is_found_through_the_default_channel(world: World) -> None:
    world.router = world.new_router(DEFAULT_ONLY)
    await world.remember(bridged("phone1", CAROL, next(_stamps), at=1000))
    await world.remember(bridged("phone2", DAN, next(_stamps), at=1500, name="Dan"))

    decision = await world.decide(text(ALICE, "yes", quote=quoting(42, "Carol: dinner?")))

    assert decision == routed("phone1", CAROL)


async def test_a_quote_found_by_its_timestamp_wins_over_the_name_in_its_text(world: World) -> None:
    """Carol wrote in two sessions; the quoted message is the older one: its own chat (and its
    own session) answers, not the latest message of someone called Carol."""
    quoted = next(_stamps)
    await world.remember(bridged("personal", CAROL, quoted, at=1000))
    await world.remember(bridged("business", NEW_CHAT, next(_stamps), at=1500))

    decision = await world.decide(text(ALICE, "yes", quote=quoting(quoted, "Carol: dinner?")))

    assert decision == routed("personal", CAROL)


async def test_a_control_command_reaches_the_sessions_the_default_channel_serves(
    world: World,
) -> None:
    world.router = world.new_router(DEFAULT_ONLY)
    world.running.names = ["phone1"]

    decision = await world.decide(text(ALICE, "/status"))

    assert decision.control is not None
    assert decision.control.sessions == ("phone1",)
