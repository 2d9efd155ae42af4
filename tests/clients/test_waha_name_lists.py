"""WahaClient's bulk reads: every contact's and group's name, and one chat's recent history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from client_helpers import Upstream

from whatsignal.clients import WahaClient
from whatsignal.errors import ApiError
from whatsignal.testing.contract import waha_examples


def all_contacts_example() -> Any:
    for item in waha_examples()["examples"]:
        if item.get("heading") == "Get all contacts" and item.get("parsed") is not None:
            return item["parsed"]
    raise LookupError("Get all contacts")


async def test_contact_names_from_the_docs_example(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json=all_contacts_example()))
    assert await waha.contact_names("default") == {"11231231231@c.us": "Contact Name"}
    assert upstream.last.url.path == "/api/contacts/all"
    assert dict(upstream.last.url.params) == {"session": "default"}


async def test_contact_names_leave_out_what_has_no_name_or_no_id(
    waha: WahaClient, upstream: Upstream
) -> None:
    contacts = [
        {"id": "1@c.us", "name": None, "pushname": " Ann "},
        {"id": "2@c.us", "shortName": "  "},
        {"id": {"_serialized": "3@c.us"}, "name": "an id that is not a string"},
        "junk",
    ]
    upstream.answer(httpx.Response(200, json=contacts))
    assert await waha.contact_names("s") == {"1@c.us": "Ann"}


async def test_contact_names_need_an_array(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json={"1@c.us": {"name": "A"}}))
    with pytest.raises(ApiError, match="expected an array") as caught:
        await waha.contact_names("s")
    assert caught.value.status == 200


@pytest.mark.parametrize(
    "groups",
    [
        pytest.param(
            [
                {"id": {"_serialized": "1@g.us"}, "groupMetadata": {"subject": "Work"}},
                {"id": "2@g.us", "name": "Home"},
                {"id": "3@g.us", "subject": ""},
                {"subject": "no id"},
                "junk",
            ],
            id="array-webjs",
        ),
        pytest.param(
            {
                "1@g.us": {"id": "1@g.us", "subject": "Work"},
                "2@g.us": {"id": "2@g.us", "groupMetadata": "odd", "name": "Home"},
                "3@g.us": {"id": "3@g.us"},
                "4@g.us": None,
            },
            id="object-noweb",
        ),
    ],
)
async def test_group_names_in_both_engine_shapes(
    waha: WahaClient, upstream: Upstream, groups: Any
) -> None:
    upstream.answer(httpx.Response(200, json=groups))
    assert await waha.group_names("default") == {"1@g.us": "Work", "2@g.us": "Home"}
    assert upstream.last.url.raw_path == b"/api/default/groups"


async def test_group_names_need_an_array_or_an_object(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json="groups"))
    with pytest.raises(ApiError, match="expected an array or an object of groups") as caught:
        await waha.group_names("default")
    assert caught.value.status == 200


async def test_chat_messages_asks_for_the_window_and_keeps_objects(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(200, json=[{"id": "false_1@c.us_A"}, 3]))
    messages = await waha.chat_messages("default", "1@c.us", since=1700000000.9, limit=50)
    assert messages == [{"id": "false_1@c.us_A"}]
    assert upstream.last.url.raw_path.startswith(b"/api/default/chats/1%40c.us/messages?")
    assert dict(upstream.last.url.params) == {
        "limit": "50",
        "filter.timestamp.gte": "1700000000",
        "downloadMedia": "true",
    }
