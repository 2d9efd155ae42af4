"""What strangers write cannot break a relay: lone surrogates, hostile file names and attachment
ids arrive as something safe, and the message still goes (never a dead letter for it).

JSON escapes half of a UTF-16 pair as ``"\\ud83d"``, which Python decodes to a string that
cannot be encoded: sent as it is, the request fails, and stored (a sender name) the row's ``done``
fails. A Signal attachment id of ``.`` would fetch signal-cli's list of all attachment ids.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from relay_fakes import (
    BRIDGE,
    ROUTE,
    FakeSignal,
    FakeWaha,
    attachment_wire,
    data_message,
    remember,
    signal_row,
    wa_message,
    waha_row,
)

from whatsignal.relay import Names, ToSignal, ToWhatsApp
from whatsignal.storage import SqliteStore

BAD_ATTACHMENT_ID = "[a file could not be forwarded: signal-cli gave it no valid id]"
"""What the chat reads instead of a file whose id signal-cli cannot have given."""

HIGH, LOW = "\ud83d", "\udc00"
"""Lone surrogates (each half of a pair, alone)."""
MEDIA_URL = "http://localhost:3000/api/files/personal/pic.jpg"
STAMP = 1_700_000_200_000


def ascii_json(status: int, body: Any) -> httpx.Response:
    """A JSON answer as Node writes it: lone surrogates escaped (httpx's own encoder cannot)."""
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


# WhatsApp -> Signal -----------------------------------------------------------------------


async def test_lone_surrogates_in_a_whatsapp_message_are_replaced_and_it_is_sent(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, store: SqliteStore
) -> None:
    fake_waha.upstream.script(
        "GET /api/files/personal/pic.jpg",
        httpx.Response(200, content=b"JPEG", headers={"content-type": "image/jpeg"}),
    )
    message = wa_message(
        f"look {HIGH}",
        push_name=f"Ca{LOW}rol",
        hasMedia=True,
        media={"url": MEDIA_URL, "mimetype": "image/jpeg", "filename": f"p{HIGH}c.jpg"},
        replyTo={"id": "NEVER_BRIDGED", "body": f"what {HIGH}?"},
    )

    made = await to_signal.handle(ROUTE, waha_row("message", message))

    (sent,) = fake_signal.sends()
    assert sent["message"] == 'Ca\ufffdrol: look \ufffd\n↪ in reply to "what \ufffd?"'
    assert sent["base64_attachments"] == [attachment_wire(b"JPEG", "image/jpeg", "p\ufffdc.jpg")]
    assert [m.sender_name for m in made] == ["Ca\ufffdrol"]
    await remember(store, *made)  # the row's done stores the name: it must encode


async def test_a_lone_surrogate_in_an_edit_is_replaced(
    to_signal: ToSignal, fake_signal: FakeSignal
) -> None:
    edit = wa_message(f"fixed {HIGH}", push_name="Carol", editedMessageId="NEVER_BRIDGED")

    await to_signal.handle(ROUTE, waha_row("message.edited", edit))

    assert fake_signal.sends()[0]["message"] == "Carol: fixed \ufffd"


async def test_names_waha_gives_with_lone_surrogates_are_replaced_before_they_are_kept(
    names: Names, fake_waha: FakeWaha, store: SqliteStore
) -> None:
    fake_waha.upstream.script("GET /api/contacts", ascii_json(200, {"name": f"Ca{HIGH}rol"}))
    fake_waha.upstream.script(
        "GET /api/personal/groups/120363000000000001@g.us",
        ascii_json(200, {"subject": f"Fa{LOW}mily"}),
    )

    assert await names.contact("personal", "4917000000001@c.us") == "Ca\ufffdrol"
    assert await names.group("personal", "120363000000000001@g.us") == "Fa\ufffdmily"
    stored = await store.get_contact("personal", "4917000000001@c.us")
    assert stored is not None and stored.name == "Ca\ufffdrol"


async def test_names_synced_at_start_with_lone_surrogates_are_replaced(
    names: Names, fake_waha: FakeWaha, store: SqliteStore
) -> None:
    fake_waha.upstream.script(
        "GET /api/contacts/all", ascii_json(200, [{"id": "1@c.us", "name": f"A{HIGH}"}])
    )
    fake_waha.upstream.script(
        "GET /api/personal/groups", ascii_json(200, [{"id": "2@g.us", "subject": f"G{LOW}"}])
    )

    assert await names.sync(["personal"], contacts=True, groups=True) == 2
    contact = await store.get_contact("personal", "1@c.us")
    group = await store.get_group("personal", "2@g.us")
    assert (contact and contact.name, group and group.name) == ("A\ufffd", "G\ufffd")


@pytest.mark.parametrize(
    ("filename", "sent"),
    [("../../x\x00.jpg", "x.jpg"), ("..", "file.jpg"), ("a\u202egpj.exe", "agpj.exe")],
)
async def test_whatsapp_file_names_reach_signal_made_safe(
    to_signal: ToSignal, fake_waha: FakeWaha, fake_signal: FakeSignal, filename: str, sent: str
) -> None:
    fake_waha.upstream.script(
        "GET /api/files/personal/pic.jpg",
        httpx.Response(200, content=b"JPEG", headers={"content-type": "image/jpeg"}),
    )
    media = {"url": MEDIA_URL, "mimetype": "image/jpeg", "filename": filename}
    message = wa_message("look", push_name="Carol", hasMedia=True, media=media)

    await to_signal.handle(ROUTE, waha_row("message", message))

    (sent_body,) = fake_signal.sends()
    assert sent_body["base64_attachments"] == [attachment_wire(b"JPEG", "image/jpeg", sent)]


# Signal -> WhatsApp -----------------------------------------------------------------------


async def test_lone_surrogates_in_a_signal_message_are_replaced_and_it_is_sent(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    fake_signal.attachments["Jq2fJ0qYs7KZbmUfNKXf.pdf"] = b"%PDF"
    attachment = {
        "id": "Jq2fJ0qYs7KZbmUfNKXf.pdf",
        "contentType": "application/pdf",
        "filename": f"re{HIGH}port.pdf",
    }
    envelope = data_message(
        STAMP,
        f"see {HIGH}",
        quote={"id": 1, "author": BRIDGE, "text": f"Carol{LOW}: what?"},
        attachments=[attachment],
    )

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(envelope))

    (document,) = fake_waha.sent("sendFile")
    assert document["caption"] == "see \ufffd"
    assert document["file"]["filename"] == "re\ufffdport.pdf"
    assert made.whatsapp_id


@pytest.mark.parametrize(
    "bad_id", [".", "..", "../x", "a/b", "", "x" * 300, "..%2f", "\x00", ".hidden"]
)
async def test_an_attachment_id_signal_cli_cannot_give_is_a_note_and_never_a_request(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, bad_id: str
) -> None:
    fake_signal.attachments["Jq2fJ0qYs7KZbmUfNKXf.png"] = b"PNG"
    files = [
        {"id": bad_id, "contentType": "application/pdf", "filename": "list.pdf"},
        {"id": "Jq2fJ0qYs7KZbmUfNKXf.png", "contentType": "image/png", "filename": "a.png"},
    ]
    envelope = data_message(STAMP, "two files", attachments=files)

    (made,) = await to_whatsapp.handle(ROUTE, signal_row(envelope))

    fetched = [r.url.raw_path for r in fake_signal.upstream.requests]
    assert fetched == [b"/v1/attachments/Jq2fJ0qYs7KZbmUfNKXf.png"]
    (image,) = fake_waha.sent("sendImage")
    assert image["caption"] == f"two files\n{BAD_ATTACHMENT_ID}"
    assert fake_waha.sent("sendFile") == []
    assert made.whatsapp_id


async def test_an_attachment_without_an_id_is_a_note_too(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal
) -> None:
    envelope = data_message(STAMP, None, attachments=[{"contentType": "image/jpeg"}])

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    assert fake_signal.upstream.requests == []
    assert [t["text"] for t in fake_waha.sent("sendText")] == [BAD_ATTACHMENT_ID]


@pytest.mark.parametrize(
    ("filename", "sent"),
    [
        ("../../etc/passwd\x00.pdf", "passwd.pdf"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("\x00", "file.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("x" * 400 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
async def test_signal_file_names_reach_whatsapp_made_safe(
    to_whatsapp: ToWhatsApp, fake_waha: FakeWaha, fake_signal: FakeSignal, filename: str, sent: str
) -> None:
    fake_signal.attachments["Jq2fJ0qYs7KZbmUfNKXf.pdf"] = b"%PDF"
    attachment = {"id": "Jq2fJ0qYs7KZbmUfNKXf.pdf", "contentType": "application/pdf"}
    envelope = data_message(STAMP, None, attachments=[{**attachment, "filename": filename}])

    await to_whatsapp.handle(ROUTE, signal_row(envelope))

    (document,) = fake_waha.sent("sendFile")
    assert document["file"]["filename"] == sent
