"""ToWhatsApp: what the user's routed Signal envelopes become in WhatsApp.

Messages (replies, command prefixes, text styles, link previews, attachments by type and size,
and WEBJS's quirks: a quoted message it cannot find, a video it cannot send), reactions, edits,
deletions and read receipts, through the real clients over fake upstreams and a real
in-memory store.
"""

from __future__ import annotations

import base64
from typing import Any

import attrs
import httpx
import pytest
from relay_fakes import (
    BRIDGE,
    CAROL,
    DAVE,
    ME,
    ROUTE,
    SESSION,
    FakeSignal,
    FakeWaha,
    WallClock,
    data_message,
    error_response,
    json_response,
    mapping,
    remember,
    signal_row,
)

from whatsignal.convert.media import MB, MediaPolicy
from whatsignal.errors import PayloadError
from whatsignal.metrics import Metrics
from whatsignal.relay import ToWhatsApp, UpstreamError
from whatsignal.reliability import Failure
from whatsignal.storage import MessageMapping, SqliteStore

STAMP = 1_700_000_200_000
"""The Signal timestamp of the user's message in most tests."""
QUOTED = 1_700_000_050_000
"""The Signal timestamp of a bridged message the user quotes or reacts to."""
QUOTE_NOT_FOUND = "Could not get the quoted message.\nnew Error (<anonymous>:6:31)"
"""What WEBJS answers (500) when it cannot find the message ``reply_to`` names (WAHA #698)."""


def forwarded(metrics: Metrics, kind: str) -> float:
    """How many Signal events of ``kind`` the metrics count as bridged to WhatsApp."""
    value = metrics.registry.get_sample_value(
        "whatsignal_forwarded_total", {"direction": "signal_to_wa", "kind": kind}
    )
    return value or 0.0


def sent_paths(fake_waha: FakeWaha) -> list[str]:
    """The WAHA endpoints called, in order (``"POST /api/sendText"``)."""
    return [f"{r.method} {r.url.path}" for r in fake_waha.upstream.requests]


def b64(data: bytes) -> str:
    """How WAHA receives a file's bytes: base64 in the JSON body."""
    return base64.b64encode(data).decode()


# Messages ---------------------------------------------------------------------------------


async def test_a_message_is_sent_to_its_chat_and_mapped(
    to_whatsapp: ToWhatsApp,
    fake_waha: FakeWaha,
    clock: WallClock,
    metrics: Metrics,
) -> None:
    clock.advance(7)

    mappings = await to_whatsapp.handle(ROUTE, signal_row(data_message(STAMP, "hi Carol")))

    assert fake_waha.sent("sendText") == [
        {"session": SESSION, "chatId": CAROL, "text": "hi Carol", "linkPreview": False}
    ]
    assert mappings == [
        MessageMapping(
            session=SESSION,
            whatsapp_id=f"true_{CAROL}_SENT1",
            chat_id=CAROL,
            bridge_number=BRIDGE,
            destination=ME,
            signal_timestamp=STAMP,
            direction="signal_to_wa",
            created_at=clock.now,
        )
    ]
    assert forwarded(metrics, "message") == 1


async def test_a_quote_of_a_bridged_message_in_the_same_chat_is_a_whatsapp_reply(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    envelope = data_message(STAMP, "yes", quote={"id": QUOTED, "author": BRIDGE, "text": "?"})

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    (sent,) = fake_waha.sent("sendText")
    assert sent["reply_to"] == f"false_{CAROL}_AAA"


@pytest.mark.parametrize(
    "quoted",
    [
        pytest.param(mapping(f"false_{DAVE}_AAA", QUOTED, chat_id=DAVE), id="other-chat"),
        pytest.param(mapping(f"false_{CAROL}_AAA", QUOTED, session="work"), id="other-session"),
        pytest.param(None, id="unknown"),
    ],
)
async def test_a_quote_of_a_message_elsewhere_is_no_whatsapp_reply(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, quoted: MessageMapping | None
) -> None:
    if quoted is not None:
        await remember(store, quoted)
    envelope = data_message(STAMP, "yes", quote={"id": QUOTED, "author": BRIDGE})

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    (sent,) = fake_waha.sent("sendText")
    assert "reply_to" not in sent


async def test_a_reply_whose_quote_webjs_cannot_find_is_sent_unquoted(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    fake_waha.upstream.script("POST /api/sendText", error_response(500, QUOTE_NOT_FOUND))
    envelope = data_message(STAMP, "yes", quote={"id": QUOTED, "author": BRIDGE})

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(envelope))

    first, second = fake_waha.sent("sendText")
    assert first["reply_to"] == f"false_{CAROL}_AAA"
    assert "reply_to" not in second
    assert second["text"] == "yes"
    assert made.whatsapp_id == f"true_{CAROL}_SENT1"


@pytest.mark.parametrize(
    "quote",
    [
        pytest.param({"id": QUOTED, "author": BRIDGE}, id="other-error-of-a-reply"),
        pytest.param(None, id="quote-error-without-a-reply"),
    ],
)
async def test_other_send_failures_are_not_retried_unquoted(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, quote: Any
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    answer = error_response(500, "boom") if quote else error_response(500, QUOTE_NOT_FOUND)
    fake_waha.upstream.script("POST /api/sendText", answer)
    extra = {"quote": quote} if quote else {}

    with pytest.raises(UpstreamError):
        await to_whatsapp.handle(ROUTE, signal_row(data_message(STAMP, "yes", **extra)))

    assert len(fake_waha.sent("sendText")) == 1


@pytest.mark.parametrize(
    ("text", "styles", "sent"),
    [
        pytest.param(
            "/to +4917000000001 hello there",
            [{"start": 25, "length": 5, "style": "BOLD"}],
            "hello *there*",
            id="to-command",
        ),
        pytest.param("//etc/hosts is mine", [], "/etc/hosts is mine", id="escaped-slash"),
        pytest.param(
            "plain bold italic gone code",
            [
                {"start": 6, "length": 4, "style": "BOLD"},
                {"start": 11, "length": 6, "style": "ITALIC"},
                {"start": 18, "length": 4, "style": "STRIKETHROUGH"},
                {"start": 23, "length": 4, "style": "MONOSPACE"},
            ],
            "plain *bold* _italic_ ~gone~ ```code```",
            id="styles",
        ),
    ],
)
async def test_command_prefixes_go_and_signal_styles_become_whatsapp_markup(
    to_whatsapp: ToWhatsApp,
    fake_waha: FakeWaha,
    text: str,
    styles: list[dict[str, Any]],
    sent: str,
) -> None:
    envelope = data_message(STAMP, text, textStyles=styles)

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert [b["text"] for b in fake_waha.sent("sendText")] == [sent]


@pytest.mark.parametrize(
    ("configured", "text", "preview"),
    [
        pytest.param(True, "see https://example.org/x", True, id="url"),
        pytest.param(True, "no link here", False, id="no-url"),
        pytest.param(False, "see https://example.org/x", False, id="preview-off"),
    ],
)
async def test_a_link_preview_is_asked_for_only_for_a_text_with_a_url(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, configured: bool, text: str, preview: bool
) -> None:
    relay = attrs.evolve(to_whatsapp, link_preview=configured)

    await relay.handle(ROUTE, signal_row(data_message(STAMP, text)))

    assert fake_waha.sent("sendText")[0]["linkPreview"] is preview


async def test_a_message_waha_accepts_without_an_id_is_not_mapped(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha
) -> None:
    """Some WEBJS versions answer 201 with an empty body: sent, but nothing to map."""
    fake_waha.upstream.script("POST /api/sendText", httpx.Response(201))

    assert await to_whatsapp.handle(ROUTE, signal_row(data_message(STAMP, "hi"))) == []
    assert len(fake_waha.sent("sendText")) == 1


async def test_a_message_without_a_chat_is_a_payload_error(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha
) -> None:
    with pytest.raises(PayloadError):
        await to_whatsapp.handle(ROUTE, signal_row(data_message(STAMP, "hi"), chat=None))

    assert fake_waha.upstream.requests == []


async def test_an_envelope_with_nothing_to_bridge_sends_nothing(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha
) -> None:
    envelope = {"timestamp": STAMP, "typingMessage": {"action": "STARTED"}}

    assert await to_whatsapp.handle(ROUTE, signal_row(envelope)) == []
    assert fake_waha.upstream.requests == []


# Attachments ------------------------------------------------------------------------------


def attachment(
    key: str, content_type: str | None, filename: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One ``attachments`` item of a Signal data message."""
    item: dict[str, Any] = {"id": key, "filename": filename, **extra}
    if content_type is not None:
        item["contentType"] = content_type
    return item


async def test_attachments_go_by_type_with_the_text_as_the_first_non_voice_caption(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_signal.attachments.update(
        {"v1": b"OGG", "i1": b"JPEG", "m1": b"MP4", "d1": b"PDF", "x1": b"???"}
    )
    files = [
        attachment("v1", "audio/ogg", "note.ogg"),
        attachment("i1", "image/jpeg", "pic.jpg"),
        attachment("m1", "video/mp4", "clip.mp4"),
        attachment("d1", "application/pdf", "doc.pdf"),
        attachment("x1", None),
    ]
    envelope = data_message(STAMP, "see these", attachments=files)

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert sent_paths(fake_waha) == [
        "POST /api/sendVoice",
        "POST /api/sendImage",
        "POST /api/sendVideo",
        "POST /api/sendFile",
        "POST /api/sendFile",
    ]
    (voice,) = fake_waha.sent("sendVoice")
    (image,) = fake_waha.sent("sendImage")
    (video,) = fake_waha.sent("sendVideo")
    document, unknown = fake_waha.sent("sendFile")
    assert "caption" not in voice
    assert voice["convert"] is True
    assert voice["file"] == {"mimetype": "audio/ogg", "data": b64(b"OGG"), "filename": "note.ogg"}
    assert image["caption"] == "see these"
    assert image["file"] == {"mimetype": "image/jpeg", "data": b64(b"JPEG"), "filename": "pic.jpg"}
    assert "caption" not in video
    assert video["convert"] is True
    assert document["file"]["data"] == b64(b"PDF")
    assert "caption" not in document
    assert unknown["file"]["mimetype"] == "application/octet-stream"
    assert made.whatsapp_id == f"true_{CAROL}_SENT1"  # the first file sent


async def test_the_text_of_a_voice_note_follows_it_as_a_message(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_signal.attachments["v1"] = b"OGG"
    envelope = data_message(STAMP, "listen", attachments=[attachment("v1", "audio/aac")])

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert sent_paths(fake_waha) == ["POST /api/sendVoice", "POST /api/sendText"]
    assert fake_waha.sent("sendText")[0]["text"] == "listen"


async def test_a_reply_with_a_file_quotes_the_bridged_message(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    fake_signal.attachments["i1"] = b"JPEG"
    envelope = data_message(
        STAMP,
        None,
        quote={"id": QUOTED, "author": BRIDGE},
        attachments=[attachment("i1", "image/png")],
    )

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    (image,) = fake_waha.sent("sendImage")
    assert image["reply_to"] == f"false_{CAROL}_AAA"
    assert "caption" not in image


async def test_a_file_reply_whose_quote_webjs_cannot_find_is_sent_unquoted(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    fake_signal.attachments["i1"] = b"JPEG"
    fake_waha.upstream.script("POST /api/sendImage", error_response(500, QUOTE_NOT_FOUND))
    envelope = data_message(
        STAMP,
        "look",
        quote={"id": QUOTED, "author": BRIDGE},
        attachments=[attachment("i1", "image/png")],
    )

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(envelope))

    first, second = fake_waha.sent("sendImage")
    assert first["reply_to"] == f"false_{CAROL}_AAA"
    assert "reply_to" not in second
    assert made.whatsapp_id == f"true_{CAROL}_SENT1"


async def test_a_video_waha_refuses_is_sent_as_a_file(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    """WEBJS without Chrome cannot send videos and answers 422 (WAHA #1924)."""
    fake_signal.attachments["m1"] = b"MP4"
    fake_waha.upstream.script(
        "POST /api/sendVideo", error_response(422, "The method is not implemented by the engine")
    )
    envelope = data_message(STAMP, "clip", attachments=[attachment("m1", "video/mp4", "clip.mp4")])

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert sent_paths(fake_waha) == ["POST /api/sendVideo", "POST /api/sendFile"]
    (document,) = fake_waha.sent("sendFile")
    assert document["file"] == {
        "mimetype": "video/mp4",
        "data": b64(b"MP4"),
        "filename": "clip.mp4",
    }
    assert document["caption"] == "clip"
    assert made.whatsapp_id == f"true_{CAROL}_SENT1"


@pytest.mark.parametrize(
    ("content_type", "endpoint", "answer", "failure"),
    [
        pytest.param(
            "video/mp4",
            "sendVideo",
            error_response(422, "Session status is not as expected. Try again later"),
            Failure.TRANSIENT,
            id="video-session-not-working",
        ),
        pytest.param(
            "image/jpeg",
            "sendImage",
            error_response(422, "The method is not implemented by the engine"),
            Failure.PERMANENT,
            id="image-refused",
        ),
        pytest.param(
            "video/mp4",
            "sendVideo",
            error_response(503, "unavailable"),
            Failure.TRANSIENT,
            id="video-server-error",
        ),
    ],
)
async def test_other_refused_files_fail_the_message(
    to_whatsapp: ToWhatsApp,
    fake_waha: FakeWaha,
    fake_signal: FakeSignal,
    content_type: str,
    endpoint: str,
    answer: httpx.Response,
    failure: Failure,
) -> None:
    fake_signal.attachments["f1"] = b"DATA"
    fake_waha.upstream.script(f"POST /api/{endpoint}", answer)
    envelope = data_message(STAMP, "x", attachments=[attachment("f1", content_type)])

    with pytest.raises(UpstreamError) as failed:
        await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert failed.value.failure is failure
    assert sent_paths(fake_waha) == [f"POST /api/{endpoint}"]


SMALL = MediaPolicy(max_bytes={"image": 4, "video": MB, "voice": MB, "document": MB})
"""A policy whose image limit (4 bytes) every test image is over."""


async def test_an_attachment_declared_over_its_limit_is_a_note_and_not_downloaded(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_signal.attachments["i1"] = b"JPEG-BIG"
    big = attachment("i1", "image/jpeg", "pic.jpg", size=8)
    relay = attrs.evolve(to_whatsapp, media=SMALL)

    await relay.handle(ROUTE, signal_row(data_message(STAMP, "look", attachments=[big])))

    assert fake_signal.upstream.requests == []
    assert sent_paths(fake_waha) == ["POST /api/sendText"]
    assert fake_waha.sent("sendText")[0]["text"] == (
        "look\n[image too large to forward (limit 0 MB: media.maxSizeMB.image)]"
    )


async def test_an_attachment_that_grows_over_its_limit_is_a_note(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_signal.attachments.update({"i1": b"JPEG-BIG", "d1": b"PDF"})
    files = [attachment("i1", "image/jpeg"), attachment("d1", "application/pdf", "a.pdf")]
    relay = attrs.evolve(to_whatsapp, media=SMALL)

    await relay.handle(ROUTE, signal_row(data_message(STAMP, None, attachments=files)))

    (document,) = fake_waha.sent("sendFile")
    assert document["caption"] == "[image too large to forward (limit 0 MB: media.maxSizeMB.image)]"
    assert fake_waha.sent("sendImage") == []


async def test_an_attachment_without_an_id_is_not_fetched(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    envelope = data_message(STAMP, "hi", attachments=[{"contentType": "image/jpeg"}])

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert fake_signal.upstream.requests == []
    assert sent_paths(fake_waha) == ["POST /api/sendText"]


async def test_an_attachment_signal_cli_cannot_find_fails_the_message(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha
) -> None:
    envelope = data_message(STAMP, "hi", attachments=[attachment("gone", "image/jpeg")])

    with pytest.raises(UpstreamError) as failed:
        await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert (failed.value.upstream, failed.value.failure) == ("signal", Failure.PERMANENT)
    assert fake_waha.upstream.requests == []


# Reactions, edits, deletions, read receipts ----------------------------------------------


def reaction(emoji: str, *, remove: bool = False, target: int = QUOTED) -> dict[str, Any]:
    """An envelope with the user's reaction to the message sent at ``target``."""
    body = {
        "emoji": emoji,
        "targetSentTimestamp": target,
        "isRemove": remove,
        "targetAuthor": BRIDGE,
    }
    return data_message(STAMP, reaction=body)


@pytest.mark.parametrize(
    ("remove", "emoji"),
    [pytest.param(False, "👍", id="react"), pytest.param(True, "", id="remove")],
)
async def test_a_reaction_on_a_bridged_message_is_made_in_whatsapp(
    to_whatsapp: ToWhatsApp,
    store: SqliteStore,
    fake_waha: FakeWaha,
    metrics: Metrics,
    remove: bool,
    emoji: str,
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))

    assert await to_whatsapp.handle(ROUTE, signal_row(reaction("👍", remove=remove))) == []

    assert fake_waha.upstream.bodies("PUT /api/reaction") == [
        {"session": SESSION, "messageId": f"false_{CAROL}_AAA", "reaction": emoji}
    ]
    assert forwarded(metrics, "reaction") == 1


async def test_a_reaction_on_a_message_of_another_session_is_dropped(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED, session="work"))

    await to_whatsapp.handle(ROUTE, signal_row(reaction("👍")))

    assert fake_waha.upstream.requests == []


def message_path(message_id: str, chat: str = CAROL) -> str:
    """WAHA's path of one message, decoded."""
    return f"/api/{SESSION}/chats/{chat}/messages/{message_id}"


async def test_an_edit_of_the_users_bridged_message_edits_it_in_whatsapp(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, metrics: Metrics
) -> None:
    await remember(store, mapping(f"true_{CAROL}_MINE", QUOTED, direction="signal_to_wa"))
    envelope = {
        "timestamp": STAMP,
        "editMessage": {
            "targetSentTimestamp": QUOTED,
            "dataMessage": {"timestamp": STAMP, "message": "fixed"},
        },
    }

    assert await to_whatsapp.handle(ROUTE, signal_row(envelope)) == []

    assert fake_waha.upstream.bodies(f"PUT {message_path(f'true_{CAROL}_MINE')}") == [
        {"text": "fixed", "linkPreview": False}
    ]
    assert forwarded(metrics, "edit") == 1


@pytest.mark.parametrize(
    ("text", "styles", "expected"),
    [
        pytest.param("/to +4917000000001 hello again", [], "hello again", id="to-command-prefix"),
        pytest.param(
            "really bold",
            [{"start": 7, "length": 4, "style": "BOLD"}],
            "really *bold*",
            id="styles",
        ),
    ],
)
async def test_an_edit_reads_in_whatsapp_as_the_message_it_replaces(
    to_whatsapp: ToWhatsApp,
    store: SqliteStore,
    fake_waha: FakeWaha,
    text: str,
    styles: list[dict[str, Any]],
    expected: str,
) -> None:
    await remember(store, mapping(f"true_{CAROL}_MINE", QUOTED, direction="signal_to_wa"))
    edited = {"timestamp": STAMP, "message": text, "textStyles": styles}
    envelope = {
        "timestamp": STAMP,
        "editMessage": {"targetSentTimestamp": QUOTED, "dataMessage": edited},
    }

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    (edit,) = fake_waha.upstream.bodies(f"PUT {message_path(f'true_{CAROL}_MINE')}")
    assert edit["text"] == expected


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(mapping(f"false_{CAROL}_AAA", QUOTED), id="a-contacts-message"),
        pytest.param(None, id="unknown"),
    ],
)
async def test_an_edit_of_anything_else_changes_nothing(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, stored: MessageMapping | None
) -> None:
    if stored is not None:
        await remember(store, stored)
    envelope = {
        "timestamp": STAMP,
        "editMessage": {"targetSentTimestamp": QUOTED, "dataMessage": {"timestamp": STAMP}},
    }

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert fake_waha.upstream.requests == []


async def test_a_deletion_of_the_users_bridged_message_deletes_it_in_whatsapp(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, metrics: Metrics
) -> None:
    await remember(store, mapping(f"true_{CAROL}_MINE", QUOTED, direction="signal_to_wa"))

    envelope = data_message(STAMP, remoteDelete={"timestamp": QUOTED})
    assert await to_whatsapp.handle(ROUTE, signal_row(envelope)) == []

    assert sent_paths(fake_waha) == [f"DELETE {message_path(f'true_{CAROL}_MINE')}"]
    assert forwarded(metrics, "delete") == 1


async def test_a_deletion_of_a_contacts_message_changes_nothing(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha
) -> None:
    """Only your own messages can be deleted for everyone."""
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))

    await to_whatsapp.handle(
        ROUTE, signal_row(data_message(STAMP, remoteDelete={"timestamp": QUOTED}))
    )

    assert fake_waha.upstream.requests == []


async def test_a_read_receipt_marks_the_bridged_messages_seen_per_chat(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha
) -> None:
    await remember(
        store,
        mapping(f"false_{CAROL}_A1", 1001),
        mapping(f"false_{CAROL}_A2", 1002),
        mapping(f"false_{DAVE}_D1", 1003, chat_id=DAVE),
        mapping(f"true_{CAROL}_MINE", 1004, direction="signal_to_wa"),
        mapping(f"false_{CAROL}_W1", 1005, session="work"),
    )
    receipt = {"timestamps": [1001, 1002, 1003, 1004, 1005, 1006], "isRead": True}

    assert (
        await to_whatsapp.handle(ROUTE, signal_row({"timestamp": STAMP, "receiptMessage": receipt}))
        == []
    )

    assert fake_waha.sent("sendSeen") == [
        {
            "session": SESSION,
            "chatId": CAROL,
            "messageIds": [f"false_{CAROL}_A1", f"false_{CAROL}_A2"],
        },
        {"session": SESSION, "chatId": DAVE, "messageIds": [f"false_{DAVE}_D1"]},
        # The same person read a message of their other session: marked there, through it.
        {"session": "work", "chatId": CAROL, "messageIds": [f"false_{CAROL}_W1"]},
    ]


async def test_marking_read_in_another_session_is_best_effort_in_its_own_a_must(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha
) -> None:
    await remember(
        store,
        mapping(f"false_{CAROL}_W1", 1101, session="work"),
        attrs.evolve(
            mapping(f"false_{CAROL}_X1", 1102, session="work"), destination="+15559990000"
        ),
    )
    receipt = {"timestamps": [1101, 1102], "isRead": True}
    down = error_response(500, "session work is restarting")
    fake_waha.upstream.script("POST /api/sendSeen", down)

    # The other session failing costs the row nothing; someone else's message is not marked.
    await to_whatsapp.handle(ROUTE, signal_row({"timestamp": STAMP, "receiptMessage": receipt}))
    assert [r.url.path for r in fake_waha.upstream.requests] == ["/api/sendSeen"]

    await remember(store, mapping(f"false_{CAROL}_A9", 1103))
    fake_waha.upstream.script("POST /api/sendSeen", down)
    own = {"timestamps": [1103], "isRead": True}
    with pytest.raises(UpstreamError):  # its own session must take it: the row is retried
        await to_whatsapp.handle(ROUTE, signal_row({"timestamp": STAMP, "receiptMessage": own}))


# Mutation-testing gaps (docs/testing.md) ----------------------------------------------------


async def test_a_text_resent_unquoted_keeps_everything_but_the_quote(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, engines: Any
) -> None:
    """Same session, chat, text, link preview and pre-generated id (GOWS): only the quote goes."""
    engines[SESSION] = "GOWS"
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    fake_waha.upstream.script(
        f"GET /api/{SESSION}/new-message-id", json_response(200, {"id": "3EB0AAA"})
    )
    fake_waha.upstream.script("POST /api/sendText", error_response(500, QUOTE_NOT_FOUND))
    quote = {"id": QUOTED, "author": BRIDGE}
    envelope = data_message(STAMP, "see https://example.org", quote=quote)

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    first, second = fake_waha.sent("sendText")
    assert first["linkPreview"] is True and first["id"] == "3EB0AAA"
    assert second == {k: v for k, v in first.items() if k != "reply_to"}


async def test_a_file_resent_unquoted_or_as_a_document_keeps_everything_else(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    fake_signal.attachments.update({"i1": b"JPEG", "m1": b"MP4"})
    fake_waha.upstream.script("POST /api/sendImage", error_response(500, QUOTE_NOT_FOUND))
    fake_waha.upstream.script(
        "POST /api/sendVideo", error_response(422, "The method is not implemented by the engine")
    )
    files = [attachment("i1", "image/png", "a.png"), attachment("m1", "video/mp4", "clip.mp4")]
    quote = {"id": QUOTED, "author": BRIDGE}
    envelope = data_message(STAMP, "look", quote=quote, attachments=files)

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    first, second = fake_waha.sent("sendImage")
    assert first["caption"] == "look" and first["file"]["filename"] == "a.png"
    assert second == {k: v for k, v in first.items() if k != "reply_to"}
    (video,) = fake_waha.sent("sendVideo")
    (document,) = fake_waha.sent("sendFile")
    assert document["session"] == SESSION
    assert document["reply_to"] == video["reply_to"] == f"false_{CAROL}_AAA"
    assert document["file"] == video["file"]


async def test_other_failures_of_a_file_reply_are_not_retried_unquoted(
    to_whatsapp: ToWhatsApp, store: SqliteStore, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    await remember(store, mapping(f"false_{CAROL}_AAA", QUOTED))
    fake_signal.attachments["i1"] = b"JPEG"
    fake_waha.upstream.script("POST /api/sendImage", error_response(500, "boom"))
    quote = {"id": QUOTED, "author": BRIDGE}
    envelope = data_message(STAMP, None, quote=quote, attachments=[attachment("i1", "image/png")])

    with pytest.raises(UpstreamError):
        await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert len(fake_waha.sent("sendImage")) == 1


async def test_a_file_over_its_limit_does_not_hold_back_the_next_one(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_signal.attachments.update({"i1": b"JPEG-BIG", "d1": b"PDF"})
    files = [
        attachment("i1", "image/jpeg", "pic.jpg", size=8),
        attachment("d1", "application/pdf", "a.pdf", size=3),
    ]
    relay = attrs.evolve(to_whatsapp, media=SMALL)

    await relay.handle(ROUTE, signal_row(data_message(STAMP, None, attachments=files)))

    (document,) = fake_waha.sent("sendFile")
    assert document["file"]["filename"] == "a.pdf"
    assert document["caption"] == "[image too large to forward (limit 0 MB: media.maxSizeMB.image)]"
