"""Sends shown once, in the relay: the ids a row's texts carry and the parts already sent.

Through the real clients over fake upstreams and a real in-memory store: a retry of a row
(the same journal row handled again) carries the id its first attempt stored, sends no part
WAHA already answered, and maps the message from the stored id when WAHA's answer names none.
"""

from __future__ import annotations

import httpx
import pytest
from relay_fakes import (
    CAROL,
    ROUTE,
    SESSION,
    FakeSignal,
    FakeWaha,
    data_message,
    error_response,
    json_response,
    signal_row,
)
from relay_helpers import KnownEngines

from whatsignal.relay import ToWhatsApp, UpstreamError
from whatsignal.relay.send_once import takes_ids
from whatsignal.storage import SendPart, SqliteStore

STAMP = 1_700_000_200_000
NEW_ID = f"GET /api/{SESSION}/new-message-id"


def voice_then_text() -> dict[str, object]:
    """A voice note with a text: two sends (a voice note takes no caption)."""
    attachment = {"id": "v1", "contentType": "audio/ogg", "filename": "n.ogg"}
    return data_message(STAMP, "listen", attachments=[attachment])


@pytest.mark.parametrize(
    ("engine", "expected"),
    [("GOWS", True), ("NOWEB", True), ("WEBJS", False), ("WPP", False), (None, False)],
)
def test_only_gows_and_noweb_take_pre_generated_ids(engine: str | None, expected: bool) -> None:
    assert takes_ids(engine) is expected


async def test_a_retry_carries_the_id_its_first_attempt_stored(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, engines: KnownEngines, store: SqliteStore
) -> None:
    engines[SESSION] = "GOWS"
    fake_waha.upstream.script(NEW_ID, json_response(200, {"id": "3EB0AAA"}))
    fake_waha.upstream.script("POST /api/sendText", error_response(500, "timeout inside"))
    row = signal_row(data_message(STAMP, "hello"))

    with pytest.raises(UpstreamError):
        await to_whatsapp.handle(ROUTE, row)
    assert await store.send_parts(row.key) == {0: SendPart(message_id="3EB0AAA")}
    (made,) = await to_whatsapp.handle(ROUTE, row)

    assert [b["id"] for b in fake_waha.sent("sendText")] == ["3EB0AAA", "3EB0AAA"]
    assert len(fake_waha.upstream.calls(NEW_ID)) == 1
    assert made.whatsapp_id == f"true_{CAROL}_SENT1"  # WAHA's answer, when it names one


async def test_an_answer_without_an_id_is_mapped_from_the_pre_generated_one(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, engines: KnownEngines
) -> None:
    engines[SESSION] = "NOWEB"
    fake_waha.upstream.script(NEW_ID, json_response(200, {"id": "3EB0BBB"}))
    fake_waha.upstream.script("POST /api/sendText", httpx.Response(201))

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(data_message(STAMP, "hello")))

    assert made.whatsapp_id == f"true_{CAROL}_3EB0BBB"


async def test_without_a_known_id_engine_no_id_is_asked_for(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, engines: KnownEngines
) -> None:
    engines[SESSION] = "WEBJS"
    await to_whatsapp.handle(ROUTE, signal_row(data_message(STAMP, "hello")))
    assert fake_waha.upstream.calls(NEW_ID) == []
    assert "id" not in fake_waha.sent("sendText")[0]


async def test_a_part_waha_answered_is_not_sent_again_when_a_later_one_fails(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, store: SqliteStore
) -> None:
    fake_signal.attachments["v1"] = b"OGG"
    fake_waha.upstream.script("POST /api/sendText", error_response(503, "busy"))
    row = signal_row(voice_then_text())

    with pytest.raises(UpstreamError):
        await to_whatsapp.handle(ROUTE, row)
    (made,) = await to_whatsapp.handle(ROUTE, row)

    assert len(fake_waha.sent("sendVoice")) == 1
    assert [b["text"] for b in fake_waha.sent("sendText")] == ["listen", "listen"]
    assert made.whatsapp_id == f"true_{CAROL}_SENT1"  # the voice note, sent by the first try
    # The last part is not recorded (the row's done follows); the voice note is.
    assert await store.send_parts(row.key) == {0: SendPart(sent_id=f"true_{CAROL}_SENT1")}
