"""ToSignal: what a WhatsApp event becomes in the user's Signal conversation.

Messages (names, groups, quotes, mentions, locations, contact cards, media), edits, read
receipts, reactions and deletions, each through the real clients over fake upstreams and a
real in-memory store.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import pytest
import trio
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
    FakeWaha,
    WallClock,
    attachment_wire,
    error_response,
    json_response,
    mapping,
    no_answer,
    remember,
    wa_message,
    waha_row,
)

from whatsignal.convert.media import MB, MediaPolicy
from whatsignal.errors import PayloadError
from whatsignal.metrics import Metrics
from whatsignal.relay import Deferred, ToSignal, UpstreamError, Upstreams
from whatsignal.relay.to_signal import MEDIA_RETRY_WINDOW, NOT_FETCHED
from whatsignal.reliability import Failure
from whatsignal.storage import (
    ACK_DEVICE,
    ACK_PLAYED,
    ACK_READ,
    JournalRow,
    MessageMapping,
    SqliteStore,
)

FIRST_STAMP = 1_700_000_100_000
"""The Signal timestamp the fake signal-cli gives the first message sent."""
MEDIA_URL = "http://localhost:3000/api/files/personal/pic.jpg"
"""Where WAHA says a received file is (its default base URL: the bridge fetches it from WAHA)."""
MEDIA_PATH = "GET /api/files/personal/pic.jpg"


def forwarded(metrics: Metrics, kind: str) -> float:
    """How many WhatsApp events of ``kind`` the metrics count as bridged to Signal."""
    value = metrics.registry.get_sample_value(
        "whatsignal_forwarded_total", {"direction": "wa_to_signal", "kind": kind}
    )
    return value or 0.0


def only_send(fake_signal: FakeSignal) -> dict[str, Any]:
    """The one message signal-cli was asked to send."""
    sends = fake_signal.sends()
    assert len(sends) == 1, sends
    body: dict[str, Any] = sends[0]
    return body


def picture(**media: Any) -> dict[str, Any]:
    """The ``media`` of a WhatsApp photo (``media`` overrides its keys)."""
    return {"url": MEDIA_URL, "mimetype": "image/jpeg", "filename": "pic.jpg", **media}


# Messages ---------------------------------------------------------------------------------


async def test_a_direct_message_is_sent_as_name_and_body_and_mapped(
    to_signal: ToSignal,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    clock: WallClock,
    metrics: Metrics,
) -> None:
    fake_waha.contacts[CAROL] = "Carol"
    clock.advance(42)

    mappings = await to_signal.handle(ROUTE, waha_row("message", wa_message("hello")))

    assert only_send(fake_signal) == {
        "number": BRIDGE,
        "recipients": [ME],
        "message": "Carol: hello",
        "text_mode": "styled",
    }
    assert mappings == [
        MessageMapping(
            session=SESSION,
            whatsapp_id="false_4917000000001@c.us_AAA",
            chat_id=CAROL,
            bridge_number=BRIDGE,
            destination=ME,
            signal_timestamp=FIRST_STAMP,
            direction="wa_to_signal",
            created_at=clock.now,
            sender_name="Carol",
        )
    ]
    assert forwarded(metrics, "message") == 1


async def test_the_mapping_takes_the_timestamp_of_the_older_send_answer_too(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    """signal-cli-rest-api up to 0.100 answers one object instead of an array."""
    fake_signal.upstream.script("POST /v2/send", json_response(201, {"timestamp": "1700000123456"}))

    (made,) = await to_signal.handle(ROUTE, waha_row("message", wa_message("hi")))

    assert made.signal_timestamp == 1_700_000_123_456


async def test_a_group_message_names_the_sender_and_the_group(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.contacts[DAVE] = "Dave"
    fake_waha.groups[FAMILY] = "Family"
    message = wa_message(
        "dinner at 8", id=f"false_{FAMILY}_G1_{DAVE}", from_=FAMILY, participant=DAVE
    )

    (made,) = await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == "Dave in Family: dinner at 8"
    assert (made.chat_id, made.sender_name) == (FAMILY, "Dave")


async def test_a_group_without_a_known_subject_is_named_by_its_id(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    message = wa_message("hi", from_=FAMILY, participant=DAVE, push_name="Dave")

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == "Dave in 120363000000000001: hi"


@pytest.mark.parametrize(
    ("direction", "stored_id", "author"),
    [
        pytest.param("wa_to_signal", f"false_{CAROL}_QQQ", BRIDGE, id="quoting-whatsapp-message"),
        pytest.param("signal_to_wa", f"true_{CAROL}_QQQ", ME, id="quoting-users-own-message"),
    ],
)
async def test_a_reply_to_a_bridged_message_becomes_a_signal_quote(
    to_signal: ToSignal,
    store: SqliteStore,
    fake_signal: FakeSignal,
    direction: str,
    stored_id: str,
    author: str,
) -> None:
    await remember(store, mapping(stored_id, 1_700_000_050_000, direction=direction))
    reply = wa_message("yes!", push_name="Carol", replyTo={"id": "QQQ", "body": "coming?"})

    await to_signal.handle(ROUTE, waha_row("message", reply))

    sent = only_send(fake_signal)
    assert sent["message"] == "Carol: yes!"
    assert (sent["quote_timestamp"], sent["quote_author"]) == (1_700_000_050_000, author)


async def test_a_reply_in_a_group_finds_the_quoted_message_by_its_participant(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{FAMILY}_QQQ_{DAVE}", 1_700_000_050_000, chat_id=FAMILY))
    reply = wa_message(
        "me too",
        from_=FAMILY,
        participant=CAROL,
        push_name="Carol",
        replyTo={"id": "QQQ", "participant": DAVE, "body": "hungry"},
    )

    await to_signal.handle(ROUTE, waha_row("message", reply))

    assert only_send(fake_signal)["quote_timestamp"] == 1_700_000_050_000


async def test_a_reply_to_an_unknown_message_says_what_it_answers(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    reply = wa_message(
        "sure",
        push_name="Carol",
        replyTo={"id": "NEVER_BRIDGED", "body": "what about   dinner\ntomorrow?"},
    )

    await to_signal.handle(ROUTE, waha_row("message", reply))

    sent = only_send(fake_signal)
    assert sent["message"] == 'Carol: sure\n↪ in reply to "what about dinner tomorrow?"'
    assert "quote_timestamp" not in sent


async def test_a_reply_to_an_unknown_message_without_its_text_is_sent_as_it_is(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    reply = wa_message("sure", push_name="Carol", replyTo={"id": "NEVER_BRIDGED"})

    await to_signal.handle(ROUTE, waha_row("message", reply))

    assert only_send(fake_signal)["message"] == "Carol: sure"


async def test_mentions_show_the_contacts_names(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.contacts[DAVE] = "Dave"
    body = "@4917000000002 and @4917000000009, look"

    await to_signal.handle(ROUTE, waha_row("message", wa_message(body, push_name="Carol")))

    assert only_send(fake_signal)["message"] == "Carol: @Dave and @4917000000009, look"


async def test_a_location_becomes_a_map_link(to_signal: ToSignal, fake_signal: FakeSignal) -> None:
    place = {"latitude": 52.5163, "longitude": "13.3777", "name": "Brandenburger Tor"}
    message = wa_message("/9j/4AAQSkZJRg...", push_name="Carol", location=place)

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == (
        "Carol: 📍 Location: Brandenburger Tor\nhttps://maps.google.com/?q=52.516300,13.377700"
    )


async def test_contact_cards_become_one_line_each(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    cards = [
        "BEGIN:VCARD\nVERSION:3.0\nFN:Eve\nTEL;type=CELL:+49 170 1111\nEND:VCARD",
        "BEGIN:VCARD\nFN:Frank\nEND:VCARD",
    ]
    message = wa_message("", push_name="Carol", vCards=cards)

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == "Carol: 👤 Eve: +49 170 1111\n👤 Frank"


# Names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "push", "shown"),
    [
        pytest.param("Carol Smith", "Caro", "Carol Smith", id="saved-name-first"),
        pytest.param(None, "Caro", "Caro", id="then-push-name"),
        pytest.param(None, None, "+4917000000001", id="then-number"),
    ],
)
async def test_the_sender_is_shown_by_saved_name_then_push_name_then_number(
    to_signal: ToSignal,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    saved: str | None,
    push: str | None,
    shown: str,
) -> None:
    if saved:
        fake_waha.contacts[CAROL] = saved

    (made,) = await to_signal.handle(ROUTE, waha_row("message", wa_message("hi", push_name=push)))

    assert only_send(fake_signal)["message"] == f"{shown}: hi"
    assert made.sender_name == shown


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(error_response(500, "internal error"), id="waha-500"),
        pytest.param(no_answer(), id="no-answer"),
    ],
)
async def test_a_failing_name_lookup_never_fails_the_message(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, failure: Any
) -> None:
    fake_waha.upstream.script("GET /api/contacts", failure)
    fake_waha.upstream.script(f"GET /api/{SESSION}/groups/{FAMILY}", failure)
    message = wa_message("still here", from_=FAMILY, participant=CAROL, push_name="Caro")

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == "Caro in 120363000000000001: still here"


# Media ------------------------------------------------------------------------------------


async def test_media_is_downloaded_from_waha_and_attached(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.upstream.script(
        MEDIA_PATH, httpx.Response(200, content=b"JPEG", headers={"content-type": "image/jpeg"})
    )
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture())

    await to_signal.handle(ROUTE, waha_row("message", message))

    (download,) = fake_waha.upstream.calls(MEDIA_PATH)
    assert download.url.host == "waha"  # WAHA's "localhost" means WAHA itself
    sent = only_send(fake_signal)
    assert sent["message"] == "Carol: look"
    assert sent["base64_attachments"] == [attachment_wire(b"JPEG", "image/jpeg", "pic.jpg")]


async def test_a_captionless_photo_replying_to_an_unknown_message_has_no_empty_line(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.upstream.script(
        MEDIA_PATH, httpx.Response(200, content=b"JPEG", headers={"content-type": "image/jpeg"})
    )
    message = wa_message(
        None,
        push_name="Carol",
        hasMedia=True,
        media=picture(),
        replyTo={"id": "NEVER_BRIDGED", "body": "send me the plan"},
    )

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == 'Carol: ↪ in reply to "send me the plan"'


async def test_media_without_a_mime_type_takes_the_downloads_content_type(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.upstream.script(
        MEDIA_PATH, httpx.Response(200, content=b"PNG", headers={"content-type": "image/png"})
    )
    media = {"url": MEDIA_URL}
    message = wa_message(None, push_name="Carol", hasMedia=True, media=media)

    await to_signal.handle(ROUTE, waha_row("message", message))

    sent = only_send(fake_signal)
    assert sent["message"] == "Carol: "
    assert sent["base64_attachments"] == [attachment_wire(b"PNG", "image/png")]


@pytest.mark.parametrize(
    ("caption", "shown"),
    [
        pytest.param(
            "look", "Carol: look\n[media expired before it could be fetched]", id="caption"
        ),
        pytest.param(None, "Carol: [media expired before it could be fetched]", id="no-caption"),
    ],
)
async def test_media_that_expired_in_waha_is_a_note(
    to_signal: ToSignal, fake_signal: FakeSignal, caption: str | None, shown: str
) -> None:
    message = wa_message(caption, push_name="Carol", hasMedia=True, media=picture())

    await to_signal.handle(ROUTE, waha_row("message", message))  # the fake's files are all 404

    sent = only_send(fake_signal)
    assert sent["message"] == shown
    assert "base64_attachments" not in sent


async def test_media_over_its_class_limit_is_a_note(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    policy = MediaPolicy(max_bytes={"image": 4, "video": MB, "voice": MB, "document": MB})
    fake_waha.upstream.script(MEDIA_PATH, httpx.Response(200, content=b"0123456789"))
    message = wa_message("big one", push_name="Carol", hasMedia=True, media=picture())

    await attrs.evolve(to_signal, media=policy).handle(ROUTE, waha_row("message", message))

    sent = only_send(fake_signal)
    assert (
        sent["message"]
        == "Carol: big one\n[image too large to forward (limit 0 MB: media.maxSizeMB.image)]"
    )
    assert "base64_attachments" not in sent


async def test_media_waha_did_not_download_is_a_note(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    message = wa_message("look", push_name="Carol", hasMedia=True, media=None)

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == "Carol: look\n[media not downloaded by WAHA]"


async def stalls(request: httpx.Request) -> httpx.Response:
    """A WAHA that never answers the download."""
    await trio.sleep_forever()
    raise AssertionError("unreachable")  # pragma: no cover


async def test_a_download_slower_than_its_limit_defers_the_message(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.upstream.script(MEDIA_PATH, stalls)
    slow = attrs.evolve(to_signal, media=MediaPolicy(download_timeout=0.05))
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture())

    with pytest.raises(Deferred) as deferred:
        await slow.handle(ROUTE, waha_row("message", message))

    assert deferred.value.retry_after == 1.0
    assert fake_signal.sends() == []


def downloads(fake_waha: FakeWaha) -> list[httpx.Request]:
    """Every request WAHA saw that was not a name or LID lookup (the relay asks for those
    freely)."""
    return [
        r
        for r in fake_waha.upstream.requests
        if not r.url.path.startswith("/api/contacts") and "/lids/" not in r.url.path
    ]


def aged(row: JournalRow, seconds: float) -> JournalRow:
    """``row`` as if the bridge had received it ``seconds`` before the test's start."""
    return attrs.evolve(row, received_at=START - seconds)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://waha:3000/api/sendText", id="another API"),
        pytest.param("http://localhost:3000/api/files/../api/sessions", id="traversal"),
        pytest.param("/api/files/%2e%2e/api/sessions", id="encoded traversal"),
        pytest.param("file:///api/files/personal/pic.jpg", id="file scheme"),
        pytest.param("http://u:pw@waha:3000/api/files/personal/pic.jpg", id="credentials"),
        pytest.param("http://[::1", id="garbage"),
    ],
)
async def test_a_refused_media_url_sends_the_text_with_a_note_and_fetches_nothing(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, url: str
) -> None:
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture(url=url))

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert downloads(fake_waha) == []
    sent = only_send(fake_signal)
    assert sent["message"] == f"Carol: look\n{NOT_FETCHED}"
    assert "base64_attachments" not in sent


@pytest.mark.parametrize("status", [401, 403, 400])
async def test_a_permanent_download_failure_sends_the_text_with_a_note_at_once(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, status: int
) -> None:
    fake_waha.upstream.script(MEDIA_PATH, error_response(status, "no"))
    message = wa_message(None, push_name="Carol", hasMedia=True, media=picture())

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert len(fake_waha.upstream.calls(MEDIA_PATH)) == 1
    assert only_send(fake_signal)["message"] == f"Carol: {NOT_FETCHED}"


TRANSIENT = [
    pytest.param(error_response(502, "bad gateway"), UpstreamError, id="5xx"),
    pytest.param(no_answer(), UpstreamError, id="no answer"),
    pytest.param(stalls, Deferred, id="slower than its limit"),
]


@pytest.mark.parametrize(("answer", "raised"), TRANSIENT)
async def test_a_transient_download_failure_is_retried_while_the_file_may_still_exist(
    to_signal: ToSignal,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    clock: WallClock,
    answer: Any,
    raised: type[Exception],
) -> None:
    relay = attrs.evolve(to_signal, media=MediaPolicy(download_timeout=0.05))
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture())
    row = waha_row("message", message)

    fake_waha.upstream.script(MEDIA_PATH, answer)
    with pytest.raises(raised) as failed:
        await relay.handle(ROUTE, row)  # the poller retries the row with backoff
    if isinstance(failed.value, UpstreamError):
        assert (failed.value.upstream, failed.value.failure) == ("waha", Failure.TRANSIENT)
    assert fake_signal.sends() == []

    clock.advance(MEDIA_RETRY_WINDOW - 1)
    fake_waha.upstream.script(MEDIA_PATH, answer)
    with pytest.raises(raised):
        await relay.handle(ROUTE, row)
    assert fake_signal.sends() == []

    clock.advance(1)  # WAHA has deleted the file by now: the text goes without it
    fake_waha.upstream.script(MEDIA_PATH, answer)
    await relay.handle(ROUTE, row)

    assert len(fake_waha.upstream.calls(MEDIA_PATH)) == 3
    sent = only_send(fake_signal)
    assert sent["message"] == f"Carol: look\n{NOT_FETCHED}"
    assert "base64_attachments" not in sent


async def test_an_open_waha_breaker_defers_the_download_then_gives_up_on_the_file(
    to_signal: ToSignal,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    upstreams: Upstreams,
    clock: WallClock,
) -> None:
    breaker = upstreams.whatsapp.breaker(SESSION, files=True)
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(trio.current_time())
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture())
    row = waha_row("message", message)

    with pytest.raises(Deferred):
        await to_signal.handle(ROUTE, row)
    clock.advance(MEDIA_RETRY_WINDOW)
    await to_signal.handle(ROUTE, row)

    assert downloads(fake_waha) == []  # the breaker let no call through
    assert only_send(fake_signal)["message"] == f"Carol: look\n{NOT_FETCHED}"


async def test_the_retry_window_counts_from_when_the_bridge_received_the_message(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    """A bridge restarted after the window (its in-memory retry counts lost) still gives the
    file up on the row's first failure after the restart."""
    fake_waha.upstream.script(MEDIA_PATH, error_response(503, "unavailable"))
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture())

    await to_signal.handle(ROUTE, aged(waha_row("message", message), MEDIA_RETRY_WINDOW))

    assert only_send(fake_signal)["message"] == f"Carol: look\n{NOT_FETCHED}"


async def test_an_old_message_still_gets_its_file_when_the_download_works(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.upstream.script(
        MEDIA_PATH, httpx.Response(200, content=b"JPEG", headers={"content-type": "image/jpeg"})
    )
    message = wa_message("look", push_name="Carol", hasMedia=True, media=picture())

    await to_signal.handle(ROUTE, aged(waha_row("message", message), 10 * MEDIA_RETRY_WINDOW))

    sent = only_send(fake_signal)
    assert sent["message"] == "Carol: look"
    assert sent["base64_attachments"] == [attachment_wire(b"JPEG", "image/jpeg", "pic.jpg")]


async def test_an_edit_sent_as_a_new_message_gives_up_its_file_by_the_rows_age(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.upstream.script(MEDIA_PATH, error_response(502, "bad gateway"))
    edit = wa_message(
        "new caption",
        push_name="Carol",
        hasMedia=True,
        media=picture(),
        editedMessageId="NEVER_BRIDGED",
    )

    await to_signal.handle(ROUTE, aged(waha_row("message.edited", edit), MEDIA_RETRY_WINDOW))

    assert only_send(fake_signal)["message"] == f"Carol: new caption\n{NOT_FETCHED}"


# Edits ------------------------------------------------------------------------------------


async def test_an_edit_of_a_bridged_message_edits_it_in_signal(
    to_signal: ToSignal,
    store: SqliteStore,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    metrics: Metrics,
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1_700_000_050_000, sender_name="Carol"))
    edit = wa_message("hello, corrected", id=f"false_{CAROL}_E1", editedMessageId="AAA")

    mappings = await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    assert mappings == []
    sent = only_send(fake_signal)
    assert sent["message"] == "Carol: hello, corrected"
    assert sent["edit_timestamp"] == 1_700_000_050_000
    assert fake_waha.upstream.calls("GET /api/contacts") == []  # the mapping knew the name
    assert forwarded(metrics, "edit") == 1


async def test_an_edit_in_a_group_keeps_the_group_in_the_text(
    to_signal: ToSignal, store: SqliteStore, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.groups[FAMILY] = "Family"
    await remember(
        store,
        mapping(f"false_{FAMILY}_G1_{DAVE}", 1_700_000_050_000, chat_id=FAMILY, sender_name=None),
    )
    edit = wa_message(
        "8:30 then",
        id=f"false_{FAMILY}_E2_{DAVE}",
        from_=FAMILY,
        participant=DAVE,
        push_name="Dave",
        editedMessageId=f"false_{FAMILY}_G1_{DAVE}",
    )

    await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    sent = only_send(fake_signal)
    assert (sent["message"], sent["edit_timestamp"]) == (
        "Dave in Family: 8:30 then",
        1_700_000_050_000,
    )


async def test_an_edit_shows_mentions_by_name_like_the_message_it_replaces(
    to_signal: ToSignal, store: SqliteStore, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_waha.contacts[DAVE] = "Dave"
    await remember(store, mapping(f"false_{CAROL}_AAA", 1_700_000_050_000, sender_name="Carol"))
    edit = wa_message("ask @4917000000002", id=f"false_{CAROL}_E1", editedMessageId="AAA")

    await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    assert only_send(fake_signal)["message"] == "Carol: ask @Dave"


@pytest.mark.parametrize(
    "original",
    [
        pytest.param("NEVER_BRIDGED", id="unknown-original"),
        pytest.param(None, id="no-original-named"),
    ],
)
async def test_an_edit_of_an_unknown_message_is_sent_as_a_new_one(
    to_signal: ToSignal, fake_signal: FakeSignal, original: str | None
) -> None:
    edit = wa_message("new text", id=f"false_{CAROL}_E3", push_name="Carol")
    if original:
        edit["editedMessageId"] = original

    (made,) = await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    sent = only_send(fake_signal)
    assert sent["message"] == "Carol: new text"
    assert "edit_timestamp" not in sent
    assert made.whatsapp_id == f"false_{CAROL}_E3"


async def test_an_edit_of_the_users_own_message_is_not_a_signal_edit(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal
) -> None:
    """Signal can only edit what the bridge number sent; the new text arrives as a message."""
    await remember(
        store, mapping(f"true_{CAROL}_MINE", 1_700_000_050_000, direction="signal_to_wa")
    )
    edit = wa_message("changed", id=f"false_{CAROL}_E4", push_name="Carol", editedMessageId="MINE")

    await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    assert "edit_timestamp" not in only_send(fake_signal)


# Read receipts ----------------------------------------------------------------------------

RECEIPTS = f"POST /v1/receipts/{BRIDGE}"


def ack(message_id: str, level: int | None = None, **extra: Any) -> dict[str, Any]:
    """A ``message.ack`` payload for one of the user's messages."""
    payload: dict[str, Any] = {"id": message_id, "from": CAROL, "fromMe": True, **extra}
    if level is not None:
        payload["ack"] = level
    return payload


async def test_the_contact_reading_the_users_message_becomes_one_read_receipt(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal, metrics: Metrics
) -> None:
    mine = f"true_{CAROL}_MINE"
    await remember(store, mapping(mine, 1_700_000_060_000, direction="signal_to_wa"))

    for level in (ACK_DEVICE, ACK_READ, ACK_READ, ACK_PLAYED):
        assert await to_signal.handle(ROUTE, waha_row("message.ack", ack(mine, level))) == ()

    assert fake_signal.upstream.bodies(RECEIPTS) == [
        {"recipient": ME, "receipt_type": "read", "timestamp": 1_700_000_060_000}
    ]
    stored = await store.mapping_by_whatsapp_id(SESSION, mine)
    assert stored is not None
    assert stored.delivery_status == ACK_PLAYED
    assert forwarded(metrics, "read_receipt") == 1


async def test_a_read_ack_named_only_by_its_ack_name_counts(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal
) -> None:
    mine = f"true_{CAROL}_MINE"
    await remember(store, mapping(mine, 1_700_000_060_000, direction="signal_to_wa"))

    await to_signal.handle(ROUTE, waha_row("message.ack", ack(mine, ackName="READ")))

    assert len(fake_signal.upstream.calls(RECEIPTS)) == 1


async def test_a_read_in_a_group_is_no_read_receipt(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal
) -> None:
    """Group acks carry the reader as a suffix of the id (WAHA #1464); one member's read is
    not "read"."""
    mine = f"true_{FAMILY}_MINE"
    await remember(
        store, mapping(mine, 1_700_000_060_000, direction="signal_to_wa", chat_id=FAMILY)
    )

    await to_signal.handle(
        ROUTE, waha_row("message.ack.group", ack(f"{mine}_{DAVE}", ACK_READ, participant=DAVE))
    )

    assert fake_signal.upstream.calls(RECEIPTS) == []
    stored = await store.mapping_by_whatsapp_id(SESSION, mine)
    assert stored is not None
    assert stored.delivery_status == ACK_READ


@pytest.mark.parametrize(
    ("direction", "payload"),
    [
        pytest.param("wa_to_signal", ack(f"false_{CAROL}_AAA", ACK_READ), id="a-contacts-message"),
        pytest.param("signal_to_wa", ack(f"true_{CAROL}_OTHER", ACK_READ), id="unknown-message"),
        pytest.param("signal_to_wa", ack(f"true_{CAROL}_MINE"), id="no-ack-level"),
    ],
)
async def test_other_acks_send_no_read_receipt(
    to_signal: ToSignal,
    store: SqliteStore,
    fake_signal: FakeSignal,
    direction: str,
    payload: dict[str, Any],
) -> None:
    stored_id = f"true_{CAROL}_MINE" if direction == "signal_to_wa" else f"false_{CAROL}_AAA"
    await remember(store, mapping(stored_id, 1_700_000_060_000, direction=direction))

    await to_signal.handle(ROUTE, waha_row("message.ack", payload))

    assert fake_signal.upstream.calls(RECEIPTS) == []


# Reactions and deletions ------------------------------------------------------------------

REACTIONS = f"/v1/reactions/{BRIDGE}"


def reaction(emoji: str | None, target: str = f"false_{CAROL}_AAA") -> dict[str, Any]:
    """A ``message.reaction`` payload from Carol."""
    return {
        "id": f"false_{CAROL}_R1",
        "from": CAROL,
        "fromMe": False,
        "reaction": {"text": emoji, "messageId": target},
    }


@pytest.mark.parametrize(
    ("direction", "author"),
    [
        pytest.param("wa_to_signal", BRIDGE, id="on-her-message"),
        pytest.param("signal_to_wa", ME, id="on-users-message"),
    ],
)
async def test_a_reaction_on_a_bridged_message_becomes_a_signal_reaction(
    to_signal: ToSignal,
    store: SqliteStore,
    fake_signal: FakeSignal,
    metrics: Metrics,
    direction: str,
    author: str,
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1_700_000_050_000, direction=direction))

    await to_signal.handle(ROUTE, waha_row("message.reaction", reaction("❤️")))

    assert fake_signal.upstream.bodies(f"POST {REACTIONS}") == [
        {"recipient": ME, "reaction": "❤️", "target_author": author, "timestamp": 1_700_000_050_000}
    ]
    assert forwarded(metrics, "reaction") == 1


@pytest.mark.parametrize("emoji", ["", None])
async def test_an_empty_reaction_removes_the_signal_reaction(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal, emoji: str | None
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1_700_000_050_000))

    await to_signal.handle(ROUTE, waha_row("message.reaction", reaction(emoji)))

    (removal,) = fake_signal.upstream.bodies(f"DELETE {REACTIONS}")
    assert (removal["target_author"], removal["timestamp"]) == (BRIDGE, 1_700_000_050_000)
    assert fake_signal.upstream.calls(f"POST {REACTIONS}") == []


async def test_a_reaction_on_an_unknown_message_is_dropped(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    await to_signal.handle(ROUTE, waha_row("message.reaction", reaction("👍", "false_x_NEVER")))

    assert fake_signal.upstream.requests == []


def revoked(message_id: str, chat: str = CAROL, **after: Any) -> dict[str, Any]:
    """A ``message.revoked`` payload: ``message_id`` was deleted for everyone."""
    return {"revokedMessageId": message_id, "after": {"from": chat, **after}, "before": None}


async def test_a_deletion_of_a_bridged_message_deletes_it_in_signal(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal, metrics: Metrics
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", 1_700_000_050_000))

    await to_signal.handle(ROUTE, waha_row("message.revoked", revoked("AAA")))

    assert fake_signal.upstream.bodies(f"DELETE /v1/remote-delete/{BRIDGE}") == [
        {"recipient": ME, "timestamp": 1_700_000_050_000}
    ]
    assert forwarded(metrics, "revoke") == 1


async def test_a_deletion_in_a_group_finds_the_message_by_its_participant(
    to_signal: ToSignal, store: SqliteStore, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{FAMILY}_G1_{DAVE}", 1_700_000_050_000, chat_id=FAMILY))

    await to_signal.handle(
        ROUTE, waha_row("message.revoked", revoked("G1", FAMILY, participant=DAVE))
    )

    assert len(fake_signal.upstream.calls(f"DELETE /v1/remote-delete/{BRIDGE}")) == 1


@pytest.mark.parametrize(
    ("stored", "payload"),
    [
        pytest.param(
            mapping(f"true_{CAROL}_MINE", 1, direction="signal_to_wa"),
            revoked("MINE"),
            id="users-own-message",
        ),
        pytest.param(None, revoked("NEVER"), id="unknown-message"),
        pytest.param(None, {"revokedMessageId": "X", "after": None}, id="no-after"),
    ],
)
async def test_other_deletions_delete_nothing_in_signal(
    to_signal: ToSignal,
    store: SqliteStore,
    fake_signal: FakeSignal,
    stored: MessageMapping | None,
    payload: dict[str, Any],
) -> None:
    if stored is not None:
        await remember(store, stored)

    await to_signal.handle(ROUTE, waha_row("message.revoked", payload))

    assert fake_signal.upstream.requests == []


# Rows that cannot be handled --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        pytest.param(
            "session.status", {"name": SESSION, "status": "WORKING"}, id="not-for-pollers"
        ),
        pytest.param("message", {"id": 7, "from": CAROL}, id="malformed"),
        pytest.param("presence.update", {"id": "x"}, id="unknown-event"),
    ],
)
async def test_a_row_that_can_never_be_relayed_is_a_payload_error(
    to_signal: ToSignal, fake_signal: FakeSignal, event: str, payload: dict[str, Any]
) -> None:
    with pytest.raises(PayloadError):
        await to_signal.handle(ROUTE, waha_row(event, payload))

    assert fake_signal.upstream.requests == []


# Mutation-testing gaps (docs/testing.md) ----------------------------------------------------

PORTAL = "group.cG9ydGFsLW9mLWNhcm9s"


@pytest.mark.parametrize("in_group", [False, True], ids=["direct-chat", "group-chat"])
async def test_an_edit_of_a_message_shown_in_a_portal_is_edited_there(
    to_signal: ToSignal,
    store: SqliteStore,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    in_group: bool,
) -> None:
    """A portal is the chat's own Signal group: the edit goes there, in the portal's form (a
    direct chat's messages carry no name there; a group's name their sender)."""
    chat, original = (FAMILY, f"false_{FAMILY}_G1_{DAVE}") if in_group else (CAROL, "AAA")
    fake_waha.groups[FAMILY] = "Family"
    bridged = mapping(
        original if in_group else f"false_{CAROL}_AAA",
        1_700_000_050_000,
        chat_id=chat,
        sender_name="Dave" if in_group else "Carol",
    )
    await remember(store, attrs.evolve(bridged, signal_group=PORTAL))
    extra: dict[str, Any] = {"from_": FAMILY, "participant": DAVE} if in_group else {}
    edit = wa_message("fixed", id=f"false_{chat}_E1", editedMessageId=original, **extra)

    await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    assert only_send(fake_signal) == {
        "number": BRIDGE,
        "recipients": [PORTAL],
        "message": "Dave: fixed" if in_group else "fixed",
        "text_mode": "styled",
        "edit_timestamp": 1_700_000_050_000,
    }


@pytest.mark.parametrize(
    ("place", "shown"),
    [
        pytest.param(
            {"latitude": 1, "longitude": 2, "address": "Main St 1", "url": "https://m.example/p"},
            "📍 Location: Main St 1\nhttps://maps.google.com/?q=1.000000,2.000000\nhttps://m.example/p",
            id="its-own-link-and-address",
        ),
        pytest.param(
            {"latitude": 1, "longitude": 2, "description": "Cafe", "address": "Main St 1"},
            "📍 Location: Cafe\nhttps://maps.google.com/?q=1.000000,2.000000",
            id="description-before-address",
        ),
        pytest.param(
            {"latitude": 1, "longitude": 2, "live": True},
            "📍 Live location\nhttps://maps.google.com/?q=1.000000,2.000000",
            id="live",
        ),
    ],
)
async def test_a_location_shows_the_place_as_whatsapp_described_it(
    to_signal: ToSignal, fake_signal: FakeSignal, place: dict[str, Any], shown: str
) -> None:
    message = wa_message("/9j/4AAQ...", push_name="Carol", location=place)

    await to_signal.handle(ROUTE, waha_row("message", message))

    assert only_send(fake_signal)["message"] == f"Carol: {shown}"
