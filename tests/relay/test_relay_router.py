"""Router: which session and chat the user's Signal envelope goes to, or why it goes nowhere.

Strangers are never forwarded; reactions, edits, deletes and receipts follow their target;
a quote picks its chat (by mapping, else by the quoted "Name: ..." text, else not at all);
``/to`` names a chat; an unquoted message goes to the latest chat, or to where the previous
message was just routed.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from relay_fakes import (
    BRIDGE,
    CAROL,
    DAVE,
    FAMILY,
    ME,
    ROUTE,
    SESSION,
    START,
    FakeSignal,
    WallClock,
    data_message,
    error_response,
    json_response,
    mapping,
    remember,
    signal_item,
)

from whatsignal.channels import ChannelMap, Route
from whatsignal.clients import SignalClient
from whatsignal.convert.commands import HELP
from whatsignal.metrics import Metrics
from whatsignal.relay import Decision, Router
from whatsignal.relay.notices import NOTICE_NO_CHAT, NOTICE_UNKNOWN_QUOTE
from whatsignal.serde import parse_signal_received
from whatsignal.storage import Group, SqliteStore

ME_UUID = "0f6d3c2a-1111-4222-8333-444455556666"
"""The user's Signal uuid."""
WORK = Route("work", ME, BRIDGE)
"""A second session whose chats also go to the user."""
STRANGER = "+15559998888"


@attrs.define
class Running:
    """The sessions that have a poller (the registry's view), set by the test."""

    sessions: list[str] = attrs.Factory(list)

    def running(self) -> list[str]:
        """The running sessions, as the registry reports them."""
        return self.sessions


@pytest.fixture
def router(
    store: SqliteStore, signal_client: SignalClient, metrics: Metrics, clock: WallClock
) -> Router:
    """The router of a bridge with two sessions for the user: ``personal`` and ``work``."""
    return Router(
        store=store,
        signal=signal_client,
        channels=ChannelMap({SESSION: ROUTE, "work": WORK}),
        sessions=Running([SESSION, "work"]),
        metrics=metrics,
        clock=clock,
    )


async def decide(router: Router, envelope: dict[str, Any], **item: Any) -> Decision:
    """The router's decision for one received envelope (``item``: see ``signal_item``)."""
    return await router.decide(parse_signal_received(signal_item(envelope, **item)))


def text(body: str, **extra: Any) -> dict[str, Any]:
    """A plain text message from the user."""
    return data_message(1_700_000_200_000, body, **extra)


def to(session: str, chat: str) -> Decision:
    """The decision to send to ``chat`` of ``session``."""
    return Decision(session=session, chat=chat)


# Senders ----------------------------------------------------------------------------------


async def test_a_stranger_is_never_forwarded(router: Router, metrics: Metrics) -> None:
    decision = await decide(router, text("hi"), sender=STRANGER)

    assert decision == Decision(ignore="sender is no channel's destination")
    assert metrics.registry.get_sample_value("whatsignal_signal_strangers_total") == 1


async def test_a_sender_showing_number_and_uuid_is_remembered_by_uuid(
    router: Router, store: SqliteStore
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1))

    assert await decide(router, {**text("hi"), "sourceUuid": ME_UUID}) == to(SESSION, CAROL)

    assert await store.number_for_uuid(ME_UUID) == ME
    hidden = {**text("again"), "sourceUuid": ME_UUID}
    assert await decide(router, hidden, sender=None) == to(SESSION, CAROL)


async def test_a_sender_hiding_the_number_is_found_in_signal_contacts(
    router: Router, store: SqliteStore, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1))
    fake_signal.upstream.script(
        f"GET /v1/contacts/{BRIDGE}",
        json_response(
            200,
            [
                {"number": STRANGER, "uuid": "aaaa-bbbb"},
                {"number": ME, "uuid": ME_UUID},
                {"number": None, "uuid": "no-number"},
            ],
        ),
    )

    decision = await decide(router, {**text("hi"), "source": ME_UUID}, sender=None)

    assert decision == to(SESSION, CAROL)
    assert await store.number_for_uuid("aaaa-bbbb") == STRANGER  # learnt on the way


@pytest.mark.parametrize(
    "contacts",
    [
        pytest.param(json_response(200, [{"number": STRANGER, "uuid": "x"}]), id="not-listed"),
        pytest.param(error_response(500, "down"), id="contacts-fail"),
    ],
)
async def test_an_unresolvable_uuid_is_a_stranger(
    router: Router, fake_signal: FakeSignal, contacts: Any
) -> None:
    fake_signal.upstream.script(f"GET /v1/contacts/{BRIDGE}", contacts)

    decision = await decide(router, {**text("hi"), "sourceUuid": ME_UUID}, sender=None)

    assert decision.ignore == "sender is no channel's destination"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param({"source": ME}, NOTICE_NO_CHAT, id="number-as-source"),
        pytest.param({}, None, id="no-source-at-all"),
    ],
)
async def test_the_source_field_alone_identifies_a_number_or_nobody(
    router: Router, source: dict[str, Any], expected: str | None
) -> None:
    decision = await decide(router, {**text("hi"), **source}, sender=None)

    assert decision.notice == expected


async def test_no_running_session_for_a_default_channel_routes_nowhere(
    router: Router,
) -> None:
    router.channels = ChannelMap({}, default=Route("*", ME, BRIDGE))
    router.sessions = Running([])

    assert await decide(router, text("hi")) == Decision(ignore="no session serves this destination")


# Events that follow their target ----------------------------------------------------------


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        pytest.param(
            {"timestamp": 9, "receiptMessage": {"timestamps": [5, 1], "isRead": True}},
            "receipt for unknown messages",
            id="receipt",
        ),
        pytest.param(
            {
                "timestamp": 9,
                "editMessage": {"targetSentTimestamp": 1, "dataMessage": {"timestamp": 9}},
            },
            "edit of unknown message",
            id="edit",
        ),
        pytest.param(
            data_message(9, reaction={"emoji": "👍", "targetSentTimestamp": 1}),
            "reaction to unknown message",
            id="reaction",
        ),
        pytest.param(
            data_message(9, remoteDelete={"timestamp": 1}), "delete of unknown message", id="delete"
        ),
    ],
)
async def test_an_event_about_a_message_goes_to_that_messages_chat(
    router: Router, store: SqliteStore, envelope: dict[str, Any], reason: str
) -> None:
    assert await decide(router, envelope) == Decision(ignore=reason)

    await remember(store, mapping(f"false_{DAVE}_X", 1, chat_id=DAVE, session="work"))

    assert await decide(router, envelope) == to("work", DAVE)


async def test_an_event_about_a_message_of_a_session_not_serving_the_user_goes_nowhere(
    router: Router, store: SqliteStore
) -> None:
    await remember(store, mapping(f"false_{DAVE}_X", 1, chat_id=DAVE, session="elsewhere"))

    decision = await decide(
        router, data_message(9, reaction={"emoji": "👍", "targetSentTimestamp": 1})
    )

    assert decision == Decision(ignore="reaction to unknown message")


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        pytest.param(
            {"timestamp": 9, "typingMessage": {"action": "STARTED"}},
            "nothing to bridge",
            id="typing",
        ),
        pytest.param(text("   "), "empty message", id="blank"),
    ],
)
async def test_an_envelope_with_nothing_to_send_goes_nowhere(
    router: Router, envelope: dict[str, Any], reason: str
) -> None:
    assert await decide(router, envelope) == Decision(ignore=reason)


# Quotes -----------------------------------------------------------------------------------


async def test_a_quote_of_a_bridged_message_goes_to_its_chat(
    router: Router, store: SqliteStore
) -> None:
    await remember(
        store,
        mapping(f"false_{DAVE}_Q", 1_700_000_050_000, chat_id=DAVE, session="work"),
        mapping(f"false_{CAROL}_NEWER", 1_700_000_060_000),
    )

    decision = await decide(router, text("yes", quote={"id": 1_700_000_050_000, "author": BRIDGE}))

    assert decision == to("work", DAVE)


@pytest.mark.parametrize(
    ("quoted_text", "latest_chat", "latest_name", "expected"),
    [
        pytest.param("Carol: lunch?", CAROL, "Carol", to(SESSION, CAROL), id="direct"),
        pytest.param("Dave in Family: lunch?", FAMILY, "Dave", to(SESSION, FAMILY), id="group"),
        pytest.param(
            "Dave in 120363000000000001: x", FAMILY, "Dave", to(SESSION, FAMILY), id="group-by-id"
        ),
        pytest.param("Dave in Work: lunch?", FAMILY, "Dave", None, id="another-group"),
        pytest.param("Dave: lunch?", FAMILY, "Dave", None, id="direct-quote-but-group-chat"),
        pytest.param("Carol in Family: x", CAROL, "Carol", None, id="group-quote-but-direct-chat"),
        pytest.param("Eve: lunch?", CAROL, "Carol", None, id="unknown-name"),
        pytest.param("no colon here", CAROL, "Carol", None, id="not-a-bridged-text"),
        pytest.param(None, CAROL, "Carol", None, id="no-text"),
    ],
)
async def test_a_quote_whose_mapping_is_gone_is_placed_by_its_quoted_name(
    router: Router,
    store: SqliteStore,
    quoted_text: str | None,
    latest_chat: str,
    latest_name: str,
    expected: Decision | None,
) -> None:
    """Only the named sender's latest chat is known, so it must be the kind of chat (direct,
    or the named group) the quoted text says; otherwise the reply is not sent at all."""
    await remember(
        store, mapping(f"false_{latest_chat}_L", 7, chat_id=latest_chat, sender_name=latest_name)
    )
    if latest_chat == FAMILY and "120363" not in (quoted_text or ""):
        await store.put_group(Group(SESSION, FAMILY, "Family", START))
    quote = {"id": 1_600_000_000_000, "author": BRIDGE, "text": quoted_text}

    decision = await decide(router, text("yes", quote=quote))

    assert decision == (
        expected or Decision(ignore="quoted message unknown", notice=NOTICE_UNKNOWN_QUOTE)
    )


# Commands ---------------------------------------------------------------------------------


async def test_help_is_answered_in_signal(router: Router) -> None:
    assert await decide(router, text("/help")) == Decision(ignore="command", notice=HELP)


async def test_a_bad_command_is_explained_in_signal(router: Router) -> None:
    decision = await decide(router, text("/frobnicate now"))

    assert decision.ignore == "invalid command"
    assert decision.notice == "⚠️ whatsignal: unknown command /frobnicate; /help lists them"


async def test_to_writes_to_a_number_in_the_session_of_the_latest_chat(
    router: Router, store: SqliteStore
) -> None:
    await remember(store, mapping(f"false_{DAVE}_X", 1, chat_id=DAVE, session="work"))

    decision = await decide(router, text("/to +49 170 0000003 hello"))

    assert decision == to("work", "491700000003@c.us")


async def test_to_names_its_session(router: Router) -> None:
    assert await decide(router, text("/to work:+491700000003 hi")) == to(
        "work", "491700000003@c.us"
    )


async def test_to_an_unknown_session_is_explained(router: Router) -> None:
    decision = await decide(router, text("/to sales:+491700000003 hi"))

    assert decision.ignore == "unknown session"
    assert decision.notice == "⚠️ whatsignal: no WhatsApp session 'sales' serves you here"


async def test_to_without_any_chat_asks_which_session_when_there_are_several(
    router: Router,
) -> None:
    decision = await decide(router, text("/to +491700000003 hi"))

    assert decision.ignore == "session not given"
    assert decision.notice is not None
    assert "personal, work" in decision.notice


async def test_to_without_any_chat_uses_the_only_session(router: Router) -> None:
    router.channels = ChannelMap({SESSION: ROUTE})

    assert await decide(router, text("/to +491700000003 hi")) == to(SESSION, "491700000003@c.us")


async def test_an_escaped_slash_is_an_ordinary_message(router: Router, store: SqliteStore) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1))

    assert await decide(router, text("//shrug")) == to(SESSION, CAROL)


# Unquoted messages ------------------------------------------------------------------------


async def test_an_unquoted_message_goes_to_the_latest_chat(
    router: Router, store: SqliteStore
) -> None:
    older = mapping(f"false_{CAROL}_A", 1)
    newer = attrs.evolve(
        mapping(f"false_{DAVE}_B", 2, chat_id=DAVE, session="work"), created_at=START - 30
    )
    await remember(store, older, newer)

    assert await decide(router, text("hi")) == to("work", DAVE)


async def test_without_any_chat_the_user_is_told_how_to_choose_one(router: Router) -> None:
    assert await decide(router, text("hi")) == Decision(
        ignore="no chat to reply to", notice=NOTICE_NO_CHAT
    )


async def test_a_follow_up_goes_where_the_previous_message_was_routed(
    router: Router, store: SqliteStore, clock: WallClock
) -> None:
    """A reply is only mapped once delivered: the follow-up must not overtake it."""
    await remember(store, mapping(f"false_{CAROL}_A", 1))
    await decide(router, text("/to work:+491700000003 first"))
    clock.advance(1)

    assert await decide(router, text("second")) == to("work", "491700000003@c.us")


async def test_a_newer_bridged_message_beats_an_older_routing(
    router: Router, store: SqliteStore, clock: WallClock
) -> None:
    await decide(router, text("/to work:+491700000003 first"))
    clock.advance(60)
    await remember(store, attrs.evolve(mapping(f"false_{CAROL}_A", 1), created_at=clock.now))

    assert await decide(router, text("second")) == to(SESSION, CAROL)


async def test_a_routing_to_a_session_that_stopped_is_forgotten(
    router: Router, store: SqliteStore
) -> None:
    router.channels = ChannelMap({SESSION: ROUTE}, default=Route("*", ME, BRIDGE))
    await remember(store, mapping(f"false_{CAROL}_A", 1))
    await decide(router, text("/to work:+491700000003 first"))
    router.sessions = Running([SESSION])  # work stopped: the "*" channel no longer serves it

    assert await decide(router, text("second")) == to(SESSION, CAROL)
