"""WahaClient's LID lookups: the phone number behind a ``@lid`` id and the other way round,
read as WAHA's docs show them (pn may be null) and as engines vary them."""

from __future__ import annotations

import httpx
import pytest
from client_helpers import Upstream, check_waha

from whatsignal.clients import LidAnswer, WahaClient
from whatsignal.clients._waha_lids import lid_id, phone_chat_id
from whatsignal.errors import ApiError, TransportError
from whatsignal.testing.contract import waha_examples


def docs_example(heading: str, *, pn_null: bool = False) -> object:
    for item in waha_examples()["examples"]:
        parsed = item.get("parsed")
        if (
            item.get("heading") == heading
            and isinstance(parsed, dict)
            and (parsed.get("pn") is None) == pn_null
        ):
            return parsed
    raise LookupError(heading)


@pytest.mark.parametrize(
    ("heading", "pn_null", "asked", "path", "answer"),
    [
        (
            "Get Phone Number by LID",
            False,
            "123123123@lid",
            b"/api/my%20session/lids/123123123%40lid",
            LidAnswer("123123123@lid", "123456789@c.us"),
        ),
        (
            "Get Phone Number by LID",
            True,
            "123123123@lid",
            b"/api/my%20session/lids/123123123%40lid",
            LidAnswer("123123123@lid", None),
        ),
        (
            "Get LID by Phone Number",
            False,
            "123456789@c.us",
            b"/api/my%20session/lids/pn/123456789%40c.us",
            LidAnswer("123123123@lid", "123456789@c.us"),
        ),
    ],
)
async def test_the_docs_examples_are_read(
    waha: WahaClient,
    upstream: Upstream,
    heading: str,
    pn_null: bool,
    asked: str,
    path: bytes,
    answer: LidAnswer,
) -> None:
    body = docs_example(heading, pn_null=pn_null)
    upstream.answer(httpx.Response(200, json=body))
    lids = waha.lids
    got = await (lids.phone_of if asked.endswith("@lid") else lids.lid_of)("my session", asked)
    assert got == answer
    # The id is one percent-encoded path segment: @ is %40 (and so is the session's space).
    assert upstream.last.url.raw_path == path
    check_waha("get", "/api/{session}/lids/{lid}", body)


async def test_404_means_no_partner_and_other_errors_raise(
    waha: WahaClient, upstream: Upstream
) -> None:
    upstream.answer(httpx.Response(404, json={"message": "Cannot GET", "statusCode": 404}))
    assert await waha.lids.lid_of("default", "49170@c.us") == LidAnswer(None, "49170@c.us")
    upstream.answer(httpx.Response(500, json={"statusCode": 500}))
    with pytest.raises(ApiError):
        await waha.lids.phone_of("default", "1@lid")
    upstream.answer(httpx.ConnectError("refused"))
    with pytest.raises(TransportError):
        await waha.lids.phone_of("default", "1@lid")


@pytest.mark.parametrize("body", [[], {"lid": "1@lid", "pn": 491701234567}, {"pn": ["x"]}])
async def test_a_malformed_answer_is_an_api_error(
    waha: WahaClient, upstream: Upstream, body: object
) -> None:
    upstream.answer(httpx.Response(200, json=body))
    with pytest.raises(ApiError):
        await waha.lids.phone_of("default", "1@lid")


async def test_engine_spellings_are_read_as_chat_ids(waha: WahaClient, upstream: Upstream) -> None:
    upstream.answer(httpx.Response(200, json={"lid": "77", "pn": "4917:3@s.whatsapp.net"}))
    assert await waha.lids.phone_of("default", "77@lid") == LidAnswer("77@lid", "4917@c.us")
    # An answer that echoes no id keeps the one asked about; a pn that is no number is none.
    upstream.answer(httpx.Response(200, json={"pn": "someone@g.us"}))
    assert await waha.lids.phone_of("default", "77@lid") == LidAnswer("77@lid", None)


@pytest.mark.parametrize(
    ("value", "phone", "lid"),
    [
        ("491701234567@c.us", "491701234567@c.us", None),
        ("491701234567", "491701234567@c.us", "491701234567@lid"),
        ("491701234567@s.whatsapp.net", "491701234567@c.us", None),
        ("214748364701234@lid", None, "214748364701234@lid"),
        ("120363@g.us", None, None),
        ("+49170", None, None),
        ("١٢٣@c.us", None, None),  # Arabic-Indic digits are no WhatsApp number
        (None, None, None),
        (42, None, None),
    ],
)
def test_id_readers(value: object, phone: str | None, lid: str | None) -> None:
    assert phone_chat_id(value) == phone
    assert lid_id(value) == lid
