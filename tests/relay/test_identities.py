"""Identities: the phone number behind a ``@lid`` id (and back), asked of WAHA at most as often
as its answer needs refreshing, never for longer than the lookup timeout, and one chat id per
person for routing."""

from __future__ import annotations

import attrs
import httpx
import pytest
import trio
from relay_fakes import CAROL, SESSION, FakeWaha, WallClock, error_response, json_response

from whatsignal.clients import WahaClient
from whatsignal.relay.identities import (
    LID_DOWN_SEC,
    LID_TIMEOUT,
    LID_UNKNOWN_TTL,
    Identities,
    canonical_chat,
    is_lid,
    lid_label,
)
from whatsignal.storage import LidPairing, SqliteStore

LID = "214748364701234@lid"
BY_LID = f"GET /api/{SESSION}/lids/{LID}"
BY_PHONE = f"GET /api/{SESSION}/lids/pn/{CAROL}"


@pytest.fixture
def identities(store: SqliteStore, waha_client: WahaClient, clock: WallClock) -> Identities:
    return Identities(store=store, lids=waha_client.lids, clock=clock)


def asked(fake_waha: FakeWaha, route: str = BY_LID) -> int:
    return len(fake_waha.upstream.calls(route))


def paired(lid: str | None = LID, pn: str | None = CAROL) -> httpx.Response:
    return json_response(200, {"lid": lid, "pn": pn})


async def test_a_known_pairing_is_asked_once_and_kept_across_a_restart(
    identities: Identities, fake_waha: FakeWaha, clock: WallClock, store: SqliteStore
) -> None:
    fake_waha.upstream.script(BY_LID, paired())
    assert await identities.phone_of(SESSION, LID) == CAROL
    clock.advance(365 * 86400.0)
    assert await identities.phone_of(SESSION, LID) == CAROL
    assert await attrs.evolve(identities).phone_of(SESSION, LID) == CAROL  # from the store
    # The pairing answers the other direction too, without asking.
    assert await attrs.evolve(identities).lid_of(SESSION, CAROL) == LID
    assert (asked(fake_waha), asked(fake_waha, BY_PHONE)) == (1, 0)
    assert await store.lid_pairing(SESSION, lid=LID) == LidPairing(
        SESSION, LID, CAROL, clock.now - 365 * 86400.0
    )


async def test_no_number_known_is_believed_for_a_while_then_asked_again(
    identities: Identities, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.upstream.script(BY_LID, paired(pn=None), paired())
    assert await identities.phone_of(SESSION, LID) is None
    clock.advance(LID_UNKNOWN_TTL - 1)
    assert await attrs.evolve(identities).phone_of(SESSION, LID) is None  # the store says so
    assert asked(fake_waha) == 1
    clock.advance(2)
    assert await identities.phone_of(SESSION, LID) == CAROL
    assert asked(fake_waha) == 2


async def test_a_phone_number_learns_its_lid(
    identities: Identities, fake_waha: FakeWaha, store: SqliteStore
) -> None:
    await store.put_lid_pairing(LidPairing(SESSION, LID, None, 0.0))  # seen by LID long ago
    fake_waha.upstream.script(BY_PHONE, paired())
    assert await identities.lid_of(SESSION, CAROL) == LID
    assert await canonical_chat(store, SESSION, LID) == CAROL


async def test_a_failing_waha_pauses_the_sessions_lookups(
    identities: Identities, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.upstream.script(BY_LID, error_response(500, "boom"))
    assert await identities.phone_of(SESSION, LID) is None
    assert await identities.lid_of(SESSION, CAROL) is None  # paused: not asked
    assert (asked(fake_waha), asked(fake_waha, BY_PHONE)) == (1, 0)
    clock.advance(LID_DOWN_SEC + 1)
    fake_waha.upstream.script(BY_LID, paired())
    assert await identities.phone_of(SESSION, LID) == CAROL
    identities.forget(SESSION)  # memory goes; the store still answers
    assert await identities.phone_of(SESSION, LID) == CAROL
    assert asked(fake_waha) == 2


async def test_a_slow_waha_costs_at_most_the_timeout(
    identities: Identities, fake_waha: FakeWaha, autojump_clock: trio.testing.MockClock
) -> None:
    async def slow(_: httpx.Request) -> httpx.Response:
        await trio.sleep(3600)
        return paired()

    fake_waha.upstream.script(BY_LID, slow)
    began = trio.current_time()
    assert await identities.phone_of(SESSION, LID) is None
    assert trio.current_time() - began == LID_TIMEOUT


async def test_canonical_chat_reads_the_store_only(store: SqliteStore) -> None:
    await store.put_lid_pairing(LidPairing(SESSION, LID, CAROL, 0.0))
    await store.put_lid_pairing(LidPairing(SESSION, "9@lid", None, 0.0))
    assert await canonical_chat(store, SESSION, LID) == CAROL
    assert await canonical_chat(store, SESSION, "9@lid") == "9@lid"
    assert await canonical_chat(store, SESSION, "8@lid") == "8@lid"
    assert await canonical_chat(store, "other", LID) == LID
    assert await canonical_chat(store, SESSION, "120363@g.us") == "120363@g.us"


def test_a_lid_is_never_a_name() -> None:
    assert lid_label(LID) == "WhatsApp contact …1234"
    assert lid_label("@lid") == "WhatsApp contact"
    assert is_lid(LID) and not is_lid(CAROL)
