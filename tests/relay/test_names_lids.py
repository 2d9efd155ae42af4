"""Names of people WAHA knows by a ``@lid`` id: the saved name of the number behind it, their
push name, their number, and never the LID's digits; mentioned LIDs likewise."""

from __future__ import annotations

from typing import Any

from relay_fakes import CAROL, FAMILY, SESSION, FakeWaha, json_response

from whatsignal.models.waha import WahaEvent, WaMessage
from whatsignal.relay import Names
from whatsignal.serde import parse_waha_payload

LID = "214748364701234@lid"
BY_LID = f"GET /api/{SESSION}/lids/{LID}"
BY_PHONE = f"GET /api/{SESSION}/lids/pn/{CAROL}"


def message(sender: str, *, push_name: str | None = None, group: bool = False) -> WaMessage:
    payload: dict[str, Any] = {"id": "false_x_AAA", "from": sender, "fromMe": False, "body": "hi"}
    if group:
        payload.update({"from": FAMILY, "participant": sender})
    if push_name is not None:
        payload["_data"] = {"notifyName": push_name}
    parsed = parse_waha_payload(WahaEvent("message", SESSION, payload))
    assert isinstance(parsed, WaMessage)
    return parsed


def known(pn: str | None = CAROL) -> Any:
    return json_response(200, {"lid": LID, "pn": pn})


async def test_a_lid_sender_gets_the_saved_name_of_the_number_behind_it(
    names: Names, fake_waha: FakeWaha
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    fake_waha.upstream.script(BY_LID, known())
    assert await names.sender(SESSION, message(LID, push_name="Caz")) == "Carol"


async def test_then_the_push_name_then_the_number(names: Names, fake_waha: FakeWaha) -> None:
    fake_waha.upstream.script(BY_LID, known())
    assert await names.sender(SESSION, message(LID, push_name="Caz")) == "Caz"
    assert await names.sender(SESSION, message(LID)) == "+4917000000001"


async def test_a_lid_without_number_or_push_name_is_a_label_not_digits(
    names: Names, fake_waha: FakeWaha
) -> None:
    fake_waha.upstream.script(BY_LID, known(pn=None))
    for group in (False, True):
        assert await names.sender(SESSION, message(LID, group=group)) == "WhatsApp contact …1234"


async def test_a_direct_phone_sender_learns_their_lid_and_a_group_member_does_not(
    names: Names, fake_waha: FakeWaha
) -> None:
    await names.sender(SESSION, message(CAROL, group=True))
    assert fake_waha.upstream.calls(BY_PHONE) == []
    fake_waha.upstream.script(BY_PHONE, known())
    assert await names.sender(SESSION, message(CAROL, push_name="Caz")) == "Caz"
    assert len(fake_waha.upstream.calls(BY_PHONE)) == 1
    assert await names.identities.phone_of(SESSION, LID) == CAROL  # learned, not asked


async def test_a_mentioned_lid_becomes_the_persons_name_or_number(
    names: Names, fake_waha: FakeWaha
) -> None:
    fake_waha.upstream.script(BY_LID, known(), known())
    body = f"ask @{LID.partition('@')[0]}"
    assert await names.with_mention_names(SESSION, body) == "ask @+4917000000001"
    fake_waha.contacts[CAROL] = "Carol"
    names.forget(SESSION)
    assert await names.with_mention_names(SESSION, body) == "ask @Carol"
