"""Names: contact and group names from memory, the store's cache and WAHA, each trusted for
its TTL on the injected wall clock; misses remembered; the start-up sync.

The ``names`` fixture trusts a contact name for an hour and a group subject for two.
"""

from __future__ import annotations

import attrs
import pytest
from relay_fakes import CAROL, DAVE, FAMILY, SESSION, FakeWaha, WallClock, error_response

from whatsignal.errors import StorageError
from whatsignal.relay import Names
from whatsignal.relay import names as names_module
from whatsignal.storage import Contact, SqliteStore

CONTACT_LOOKUP = "GET /api/contacts"
GROUP_LOOKUP = f"GET /api/{SESSION}/groups/{FAMILY}"


def lookups(fake_waha: FakeWaha, route: str = CONTACT_LOOKUP) -> int:
    """How often WAHA was asked for a name."""
    return len(fake_waha.upstream.calls(route))


def restarted(names: Names) -> Names:
    """The same Names after a bridge restart: empty memory, same store, WAHA and clock."""
    return attrs.evolve(names)


async def test_a_contact_name_is_asked_of_waha_once_within_its_ttl(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.contacts[CAROL] = "Carol"

    assert await names.contact(SESSION, CAROL) == "Carol"
    clock.advance(3599)
    assert await names.contact(SESSION, CAROL) == "Carol"
    assert lookups(fake_waha) == 1

    fake_waha.contacts[CAROL] = "Carol Smith"
    clock.advance(2)
    assert await names.contact(SESSION, CAROL) == "Carol Smith"
    assert lookups(fake_waha) == 2


async def test_the_store_keeps_names_across_a_restart_for_their_ttl(
    names: Names, fake_waha: FakeWaha, clock: WallClock, store: SqliteStore
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    await names.contact(SESSION, CAROL)
    assert await store.get_contact(SESSION, CAROL) == Contact(
        SESSION, CAROL, "Carol", "+4917000000001", clock.now
    )
    clock.advance(1800)

    assert await restarted(names).contact(SESSION, CAROL) == "Carol"
    assert lookups(fake_waha) == 1

    fake_waha.contacts[CAROL] = "Carol Smith"
    clock.advance(1801)  # the stored name is older than the TTL now
    assert await restarted(names).contact(SESSION, CAROL) == "Carol Smith"
    assert lookups(fake_waha) == 2


async def test_a_name_from_the_store_is_trusted_only_until_its_ttl_ends(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    await names.contact(SESSION, CAROL)  # stored now
    clock.advance(3000)
    after_restart = restarted(names)
    assert await after_restart.contact(SESSION, CAROL) == "Carol"  # from the store

    fake_waha.contacts[CAROL] = "Carol Smith"
    clock.advance(700)  # 3700 s after WAHA was asked: past the one-hour TTL

    assert await after_restart.contact(SESSION, CAROL) == "Carol Smith"


async def test_an_outdated_stored_name_is_used_when_waha_cannot_answer(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    await names.contact(SESSION, CAROL)
    clock.advance(7200)
    fake_waha.upstream.script(CONTACT_LOOKUP, error_response(500, "down"))

    assert await restarted(names).contact(SESSION, CAROL) == "Carol"


async def test_an_unknown_contact_is_asked_for_once_per_miss_ttl(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    assert await names.contact(SESSION, DAVE) is None
    clock.advance(names_module.NAME_MISS_TTL)
    assert await names.contact(SESSION, DAVE) is None
    assert lookups(fake_waha) == 1

    fake_waha.contacts[DAVE] = "Dave"
    clock.advance(1)
    assert await names.contact(SESSION, DAVE) == "Dave"
    assert lookups(fake_waha) == 2


async def test_a_failing_contact_lookup_is_a_remembered_miss(
    names: Names, fake_waha: FakeWaha
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    fake_waha.upstream.script(CONTACT_LOOKUP, error_response(500, "down"))

    assert await names.contact(SESSION, CAROL) is None
    assert await names.contact(SESSION, CAROL) is None
    assert lookups(fake_waha) == 1


async def test_a_group_subject_is_trusted_for_the_group_ttl(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.groups[FAMILY] = "Family"

    assert await names.group(SESSION, FAMILY) == "Family"
    clock.advance(7199)
    assert await names.group(SESSION, FAMILY) == "Family"
    assert await restarted(names).group(SESSION, FAMILY) == "Family"  # from the store
    assert lookups(fake_waha, GROUP_LOOKUP) == 1

    fake_waha.groups[FAMILY] = "Family 🏡"
    clock.advance(2)
    assert await names.group(SESSION, FAMILY) == "Family 🏡"
    assert lookups(fake_waha, GROUP_LOOKUP) == 2


async def test_an_unknown_group_is_named_by_its_id_and_asked_for_once(
    names: Names, fake_waha: FakeWaha
) -> None:
    assert await names.group(SESSION, FAMILY) == "120363000000000001"
    assert await names.group(SESSION, FAMILY) == "120363000000000001"
    assert lookups(fake_waha, GROUP_LOOKUP) == 1


async def test_an_outdated_stored_subject_is_used_when_waha_cannot_answer(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.groups[FAMILY] = "Family"
    await names.group(SESSION, FAMILY)
    clock.advance(10_000)
    fake_waha.upstream.script(GROUP_LOOKUP, error_response(500, "down"))

    assert await restarted(names).group(SESSION, FAMILY) == "Family"


async def test_cached_answers_from_memory_only_and_only_within_the_ttl(
    names: Names, fake_waha: FakeWaha, clock: WallClock
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    assert names.cached("contact", SESSION, CAROL) is None

    await names.contact(SESSION, CAROL)

    assert names.cached("contact", SESSION, CAROL) == "Carol"
    assert names.cached("contact", "work", CAROL) is None
    assert names.cached("group", SESSION, CAROL) is None
    clock.advance(3601)
    assert names.cached("contact", SESSION, CAROL) is None


async def test_a_full_memory_starts_over_and_the_store_still_knows_every_name(
    names: Names, fake_waha: FakeWaha, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(names_module, "NAME_CACHE_MAX", 2)
    people = {f"49170000001{i}@c.us": f"Person {i}" for i in range(3)}
    fake_waha.contacts.update(people)
    for contact_id in people:
        await names.contact(SESSION, contact_id)

    first = next(iter(people))
    assert names.cached("contact", SESSION, first) is None  # memory was cleared
    assert await names.contact(SESSION, first) == "Person 0"
    assert lookups(fake_waha) == 3  # from the store, not WAHA


async def test_a_text_without_mentions_needs_no_lookup(names: Names, fake_waha: FakeWaha) -> None:
    assert await names.with_mention_names(SESSION, "mail me at a@b.de") == "mail me at a@b.de"
    assert fake_waha.upstream.requests == []


# Start-up sync ----------------------------------------------------------------------------


async def test_sync_stores_every_name_and_survives_a_failing_session(
    names: Names, fake_waha: FakeWaha, store: SqliteStore, clock: WallClock
) -> None:
    fake_waha.contacts.update({CAROL: "Carol", DAVE: "Dave"})
    fake_waha.groups[FAMILY] = "Family"
    fake_waha.upstream.script("GET /api/contacts/all", error_response(500, "broken session"))

    stored = await names.sync(["broken", SESSION], contacts=True, groups=True)

    assert stored == 3
    assert await store.get_contact(SESSION, DAVE) == Contact(
        SESSION, DAVE, "Dave", "+4917000000002", clock.now
    )
    assert await store.get_contact("broken", DAVE) is None
    group = await store.get_group(SESSION, FAMILY)
    assert group is not None
    assert group.name == "Family"
    assert names.cached("contact", SESSION, CAROL) == "Carol"
    assert names.cached("group", SESSION, FAMILY) == "Family"
    asked = len(fake_waha.upstream.requests)
    assert await names.contact(SESSION, CAROL) == "Carol"
    assert await names.group(SESSION, FAMILY) == "Family"
    assert len(fake_waha.upstream.requests) == asked  # the first message needs no lookup


@pytest.mark.parametrize(
    ("contacts", "groups", "asked"),
    [
        pytest.param(True, False, ["GET /api/contacts/all"], id="contacts-only"),
        pytest.param(False, True, [f"GET /api/{SESSION}/groups"], id="groups-only"),
        pytest.param(False, False, [], id="neither"),
    ],
)
async def test_sync_asks_only_for_what_is_configured(
    names: Names, fake_waha: FakeWaha, contacts: bool, groups: bool, asked: list[str]
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    fake_waha.groups[FAMILY] = "Family"

    stored = await names.sync([SESSION], contacts=contacts, groups=groups)

    assert stored == len(asked)
    assert [f"{r.method} {r.url.path}" for r in fake_waha.upstream.requests] == asked


async def test_mentions_are_looked_up_bounded_and_the_rest_stay_numbers(
    names: Names, fake_waha: FakeWaha
) -> None:
    numbers = [f"49170{n:07d}" for n in range(200)]
    for number in numbers:
        fake_waha.contacts[f"{number}@c.us"] = f"N{number[-3:]}"
    body = " ".join(f"@{n}" for n in numbers + numbers)  # each twice

    shown = await names.with_mention_names(SESSION, body)

    limit = names_module.MENTION_LOOKUPS
    assert lookups(fake_waha) == limit  # not one per mention, not one per number
    words = shown.split()
    assert words[:limit] == [f"@N{n[-3:]}" for n in numbers[:limit]]
    assert words[limit:200] == [f"@{n}" for n in numbers[limit:]]
    assert words[200 : 200 + limit] == words[:limit]  # the second mention of a number too


async def test_a_failing_store_during_mention_lookups_is_one_storage_error(names: Names) -> None:
    class BrokenCaches:
        async def get_contact(self, session: str, contact_id: str) -> None:
            raise StorageError("disk I/O error")

    broken = attrs.evolve(names, store=BrokenCaches())

    with pytest.raises(StorageError, match="name lookup failed"):  # not an exception group
        await broken.with_mention_names(SESSION, "hi @4917000000001 and @4917000000002")
