"""Relay: each row goes to its direction through its session's channel, and a row given up on
is told to the user in Signal (messages only, naming the chat as the user knows it)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from relay_fakes import (
    BRIDGE,
    CAROL,
    FAMILY,
    ME,
    ROUTE,
    SESSION,
    FakeSignal,
    FakeWaha,
    data_message,
    error_response,
    signal_row,
    wa_message,
    waha_row,
)

from whatsignal.channels import ChannelMap, Route
from whatsignal.clients import SignalClient
from whatsignal.errors import PayloadError
from whatsignal.relay import Names, Notices, Relay, ToSignal, ToWhatsApp
from whatsignal.relay.mutes import MuteBook
from whatsignal.relay.notices import dead_from_signal, dead_from_whatsapp
from whatsignal.storage import JournalRow, SqliteStore


@pytest.fixture
def relay(
    to_signal: ToSignal,
    to_whatsapp: ToWhatsApp,
    names: Names,
    signal_client: SignalClient,
    store: SqliteStore,
) -> Relay:
    """The relay of a bridge whose only channel is the ``personal`` session's."""
    return Relay(
        channels=ChannelMap({SESSION: ROUTE}),
        to_signal=to_signal,
        to_whatsapp=to_whatsapp,
        names=names,
        notices=Notices(signal=signal_client),
        mutes=MuteBook(store=store, clock=lambda: 1_700_000_000.0),
    )


async def test_a_whatsapp_row_is_relayed_to_signal(
    relay: Relay, fake_signal: FakeSignal, fake_waha: FakeWaha
) -> None:
    (made,) = await relay.handle(waha_row("message", wa_message("hi", push_name="Carol")))

    assert fake_signal.sends()[0]["message"] == "Carol: hi"
    assert made.direction == "wa_to_signal"
    assert fake_waha.sent("sendText") == []


async def test_a_signal_row_is_relayed_to_whatsapp(
    relay: Relay, fake_signal: FakeSignal, fake_waha: FakeWaha
) -> None:
    (made,) = await relay.handle(signal_row(data_message(1_700_000_200_000, "hi Carol")))

    assert fake_waha.sent("sendText")[0]["text"] == "hi Carol"
    assert made.direction == "signal_to_wa"
    assert fake_signal.sends() == []


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(waha_row("message", wa_message("hi"), session="gone"), id="whatsapp"),
        pytest.param(signal_row(data_message(1, "hi"), session="gone"), id="signal"),
    ],
)
async def test_a_row_of_a_session_without_a_channel_is_a_payload_error(
    relay: Relay, fake_signal: FakeSignal, fake_waha: FakeWaha, row: JournalRow
) -> None:
    with pytest.raises(PayloadError, match="gone"):
        await relay.handle(row)

    assert fake_signal.upstream.requests == []
    assert fake_waha.upstream.requests == []


async def test_the_default_channel_serves_a_session_without_its_own(
    relay: Relay, fake_signal: FakeSignal
) -> None:
    relay.channels = ChannelMap({}, default=Route("*", ME, BRIDGE))

    (made,) = await relay.handle(waha_row("message", wa_message("a lead"), session="sales"))

    assert made.session == "sales"
    assert fake_signal.sends()[0]["recipients"] == [ME]


# Dead letters -----------------------------------------------------------------------------


def notices(fake_signal: FakeSignal) -> list[str]:
    """The texts signal-cli was asked to send to the user from the bridge number."""
    sends = fake_signal.sends()
    assert all(s["number"] == BRIDGE and s["recipients"] == [ME] for s in sends), sends
    return [s["message"] for s in sends]


async def test_a_dead_whatsapp_message_is_told_naming_the_chat_by_its_cached_name(
    relay: Relay, names: Names, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    await names.contact(SESSION, CAROL)
    row = waha_row("message", wa_message("hi"))

    await relay.dead(row)

    assert notices(fake_signal) == [dead_from_whatsapp("Carol", row.id)]
    assert "Carol" in notices(fake_signal)[0]
    assert f"#{row.id}" in notices(fake_signal)[0]


async def test_a_dead_group_message_is_told_naming_the_group(
    relay: Relay, names: Names, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.groups[FAMILY] = "Family"
    await names.group(SESSION, FAMILY)
    row = waha_row("message", wa_message("hi", from_=FAMILY))

    await relay.dead(row)

    assert notices(fake_signal) == [dead_from_whatsapp("Family", row.id)]


@pytest.mark.parametrize(
    ("chat", "label"),
    [
        pytest.param(CAROL, "+4917000000001", id="contact-by-number"),
        pytest.param(FAMILY, FAMILY, id="group-by-id"),
        pytest.param("214748364701234@lid", "WhatsApp contact …1234", id="lid-never-bare"),
    ],
)
async def test_a_dead_message_from_an_unnamed_chat_is_told_naming_its_number(
    relay: Relay, fake_signal: FakeSignal, chat: str, label: str
) -> None:
    row = waha_row("message", wa_message("hi", from_=chat))

    await relay.dead(row)

    assert notices(fake_signal) == [dead_from_whatsapp(label, row.id)]


async def test_a_dead_message_without_a_chat_is_told_naming_the_session(
    relay: Relay, fake_signal: FakeSignal
) -> None:
    row = attrs.evolve(waha_row("message", wa_message("hi")), chat=None)

    await relay.dead(row)

    assert notices(fake_signal) == [dead_from_whatsapp(f"session {SESSION}", row.id)]


async def test_a_dead_signal_message_is_told_to_its_sender(
    relay: Relay, fake_signal: FakeSignal
) -> None:
    row = signal_row(data_message(1_700_000_200_000, "hi"))

    await relay.dead(row)

    assert notices(fake_signal) == [dead_from_signal(SESSION, row.id)]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        pytest.param("message.ack", {"id": "true_x_1", "ack": 3}, id="ack"),
        pytest.param(
            "message.reaction",
            {"id": "r", "from": CAROL, "reaction": {"text": "👍", "messageId": "m"}},
            id="reaction",
        ),
        pytest.param("message.revoked", {"revokedMessageId": "m"}, id="revoke"),
    ],
)
async def test_a_dead_whatsapp_event_that_is_no_message_is_not_told(
    relay: Relay, fake_signal: FakeSignal, event: str, payload: dict[str, Any]
) -> None:
    await relay.dead(waha_row(event, payload))

    assert fake_signal.upstream.requests == []


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param(
            {"timestamp": 5, "receiptMessage": {"timestamps": [1], "isRead": True}},
            id="read-receipt",
        ),
        pytest.param(
            data_message(5, reaction={"emoji": "👍", "targetSentTimestamp": 1}), id="reaction"
        ),
    ],
)
async def test_a_dead_signal_event_that_is_no_message_is_not_told(
    relay: Relay, fake_signal: FakeSignal, envelope: dict[str, Any]
) -> None:
    await relay.dead(signal_row(envelope))

    assert fake_signal.upstream.requests == []


async def test_a_dead_row_of_a_session_without_a_channel_is_not_told(
    relay: Relay, fake_signal: FakeSignal
) -> None:
    await relay.dead(waha_row("message", wa_message("hi"), session="gone"))

    assert fake_signal.upstream.requests == []


async def test_a_notice_that_cannot_be_sent_does_not_raise(
    relay: Relay, fake_signal: FakeSignal
) -> None:
    fake_signal.upstream.script("POST /v2/send", error_response(500, "signal-cli is down"))

    await relay.dead(waha_row("message", wa_message("hi")))

    assert len(fake_signal.upstream.requests) == 1
