"""Media crosses the bridge: every attachment, with its type and name, both ways, through a
temporary file in ``media.tempDir`` that is gone once the bridge is done with it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import trio
from bridge_harness import ALICE_PHONE, BRIDGE, world

from whatsignal.relay.notices import NOTICE_VIEW_ONCE_WITHHELD
from whatsignal.testing import FDS_VISIBLE, FakeWaha, Fault, open_files_under

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OGG = b"OggS" + b"\x00" * 60
PDF = b"%PDF-1.4\n" + b"x" * 80
MB = 1024 * 1024
REPORT = b"%PDF-1.7\n" + bytes(range(256)) * (3 * MB // 256)  # 3 MB: many pieces each way
NO_FDS = pytest.mark.skipif(not FDS_VISIBLE, reason="counts open files in /proc/self/fd")


@pytest.fixture
def in_flight(tmp_path: Path) -> Path:
    """``media.tempDir``: its own directory (the database is open in ``tmp_path``)."""
    path = tmp_path / "in-flight"
    path.mkdir()
    return path


async def test_whatsapp_image_arrives_in_signal_as_an_attachment(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000011",
            body="look at this",
            media=PNG,
            mimetype="image/png",
            filename="cat.png",
            notify_name="Carol",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        await w.settled()
        (sent,) = w.to_signal()
        assert sent.message == "Carol: look at this"
        assert len(sent.attachments) == 1
        attachment = sent.attachments[0]
        assert attachment.data == PNG
        assert attachment.content_type == "image/png"
        assert attachment.filename == "cat.png"


async def test_expired_whatsapp_media_still_delivers_the_text_with_a_note(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_fault(Fault(path="/api/files/*", count=None, status=404))
        w.waha.inject_message(
            "personal",
            from_="+4917000000012",
            body="",
            media=PNG,
            mimetype="image/png",
            notify_name="Dan",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        await w.settled()
        (sent,) = w.to_signal()
        assert sent.message == "Dan: [media expired before it could be fetched]"
        assert sent.attachments == ()


def counting(waha: FakeWaha, path: str) -> Fault:
    """A pass-through fault (no status, no latency): it only counts the requests to ``path``."""
    return waha.add_fault(Fault(path=path, count=None))


@pytest.mark.parametrize(
    "public_url",
    [
        pytest.param("http://localhost:3000", id="WAHA's default"),
        pytest.param("http://waha.invalid:8080", id="another name"),
        pytest.param("http://192.0.2.10:3000", id="another address"),
        pytest.param("https://waha.invalid/wa", id="a public base path"),
    ],
)
async def test_media_arrives_whatever_public_url_waha_writes(
    tmp_path: Path, public_url: str
) -> None:
    """WAHA writes media URLs with its WAHA_BASE_URL (http://localhost:3000 by default), where
    nothing answers the bridge: the file is fetched from the WAHA the bridge is configured with."""
    async with world(tmp_path, waha_options={"public_url": public_url}) as w:
        files = counting(w.waha, "/api/files/*")
        sent = w.waha.inject_message(
            "personal",
            from_="+4917000000018",
            body="from afar",
            media=PNG,
            mimetype="image/png",
            notify_name="Kai",
        )
        assert sent["media"]["url"].startswith(f"{public_url}/api/files/personal/")
        await w.until(lambda: len(w.to_signal()) == 1)
        await w.settled()
        (message,) = w.to_signal()
        assert message.message == "Kai: from afar"
        assert [a.data for a in message.attachments] == [PNG]
        assert files.hits == 1


async def test_a_media_url_naming_another_host_is_fetched_from_the_configured_waha(
    tmp_path: Path,
) -> None:
    decoy = FakeWaha(sessions=("personal",))
    async with trio.open_nursery() as nursery:
        decoy_url: str = await nursery.start(decoy.run)
        asked_decoy = counting(decoy, "*")
        async with world(tmp_path, waha_options={"public_url": decoy_url}) as w:
            files = counting(w.waha, "/api/files/*")
            sent = w.waha.inject_message(
                "personal",
                from_="+4917000000019",
                body="elsewhere",
                media=PNG,
                mimetype="image/png",
                notify_name="Lou",
            )
            assert sent["media"]["url"].startswith(f"{decoy_url}/api/files/personal/")
            await w.until(lambda: len(w.to_signal()) == 1)
            await w.settled()
            (message,) = w.to_signal()
            assert [a.data for a in message.attachments] == [PNG]
            assert files.hits == 1
            assert asked_decoy.hits == 0  # nor did the API key go there
        nursery.cancel_scope.cancel()


async def test_a_media_url_outside_wahas_files_is_not_fetched(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        first = w.waha.inject_message(
            "personal", from_="+4917000000020", body="first", notify_name="Max"
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        files = counting(w.waha, "/api/files/*")
        screenshot = counting(w.waha, "/api/screenshot")
        url = f"{w.waha.url}/api/files/../screenshot?session=personal"
        media = {"url": url, "mimetype": "image/png", "filename": None, "error": None}
        forged = {
            **first,
            "id": first["id"][:-6] + "MED001",
            "body": "see this",
            "hasMedia": True,
            "media": media,
            "mediaUrl": url,
        }
        w.waha.inject_event("message", "personal", forged)
        await w.until(lambda: len(w.to_signal()) == 2)
        await w.settled()
        note = w.to_signal()[1]
        assert note.message == "Max: see this\n[media could not be fetched]"
        assert note.attachments == ()
        assert (files.hits, screenshot.hits) == (0, 0)


async def test_signal_attachments_go_to_whatsapp_by_type_with_the_caption(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000013", body="send me files")
        await w.until(lambda: len(w.to_signal()) == 1)
        quoted = w.to_signal()[0]
        files = w.signal.inject_envelope(
            ALICE_PHONE,
            message="here you go",
            quote_timestamp=quoted.timestamp,
            quote_author=BRIDGE,
            attachments=[
                (PNG, "image/png", "photo.png"),
                (OGG, "audio/ogg", "note.ogg"),
                (PDF, "application/pdf", "doc.pdf"),
            ],
        )
        assert await w.envelopes_done(files) == ["done"]
        (image,) = w.whatsapp_calls("/api/sendImage")
        (voice,) = w.whatsapp_calls("/api/sendVoice")
        (document,) = w.whatsapp_calls("/api/sendFile")
        assert image["chatId"] == voice["chatId"] == document["chatId"] == msg["from"]
        assert base64.b64decode(image["file"]["data"]) == PNG
        assert image["file"]["mimetype"] == "image/png"
        assert image["caption"] == "here you go"  # the text rides on the first captionable file
        assert image["reply_to"] == msg["id"]
        assert base64.b64decode(voice["file"]["data"]) == OGG
        assert voice["convert"] is True
        assert base64.b64decode(document["file"]["data"]) == PDF
        assert document["file"]["filename"] == "doc.pdf"
        assert "caption" not in document or not document["caption"]
        assert w.whatsapp_calls("/api/sendText") == []  # no extra text message


async def test_a_view_once_photo_stays_in_signal_and_the_sender_is_told(tmp_path: Path) -> None:
    """WAHA can only send it as a normal photo, which WhatsApp would keep: the sender chose
    otherwise, so it is not sent and they are told why."""
    async with world(tmp_path) as w:
        w.waha.inject_message("personal", from_="+4917000000013", body="show me")
        await w.until(lambda: len(w.to_signal()) == 1)
        photo = w.signal.inject_envelope(
            ALICE_PHONE, attachments=[(PNG, "image/png", "secret.png")], view_once=True
        )
        assert await w.envelopes_done(photo) == ["done"]
        assert w.whatsapp_calls("/api/sendImage") == []
        assert w.whatsapp_calls("/api/sendText") == []
        told = w.to_signal()[-1]
        assert told.message == NOTICE_VIEW_ONCE_WITHHELD
        assert told.recipients == (ALICE_PHONE,)
        # The same photo, not view-once, goes.
        again = w.signal.inject_envelope(ALICE_PHONE, attachments=[(PNG, "image/png", "ok.png")])
        assert await w.envelopes_done(again) == ["done"]
        (image,) = w.whatsapp_calls("/api/sendImage")
        assert base64.b64decode(image["file"]["data"]) == PNG


async def test_voice_note_with_text_sends_the_text_separately(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message("personal", from_="+4917000000014", body="call me?")
        await w.until(lambda: len(w.to_signal()) == 1)
        note = w.signal.inject_envelope(
            ALICE_PHONE, message="listen", attachments=[(OGG, "audio/ogg", None)]
        )
        assert await w.envelopes_done(note) == ["done"]
        (voice,) = w.whatsapp_calls("/api/sendVoice")
        assert base64.b64decode(voice["file"]["data"]) == OGG
        assert [c["text"] for c in w.whatsapp_calls("/api/sendText")] == ["listen"]


@NO_FDS
async def test_files_over_their_class_limit_are_replaced_by_a_note(
    tmp_path: Path, in_flight: Path
) -> None:
    big_png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024 + 10)
    extra = {"media": {"maxSizeMB": {"image": 1}, "tempDir": str(in_flight)}}
    async with world(tmp_path, extra=extra) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000015",
            body="huge",
            media=big_png,
            mimetype="image/png",
            filename="big.png",
            notify_name="Ivy",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        await w.settled()
        (sent,) = w.to_signal()
        assert sent.attachments == ()
        assert sent.message == (
            "Ivy: huge\n[image too large to forward (limit 1 MB: media.maxSizeMB.image)]"
        )
        mine = w.signal.inject_envelope(
            ALICE_PHONE,
            message="have mine",
            attachments=[(big_png, "image/png", "mine.png"), (PDF, "application/pdf", "a.pdf")],
        )
        assert await w.envelopes_done(mine) == ["done"]
        (document,) = w.whatsapp_calls("/api/sendFile")
        assert document["caption"].startswith("have mine\n[image too large to forward")
        assert w.whatsapp_calls("/api/sendImage") == []
        await w.settled()
        assert open_files_under(in_flight) == 0


@NO_FDS
async def test_a_large_file_crosses_each_way_whole_and_leaves_no_temporary_file(
    tmp_path: Path, in_flight: Path
) -> None:
    extra = {"media": {"tempDir": str(in_flight)}}
    async with world(tmp_path, extra=extra) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000031",
            body="the report",
            media=REPORT,
            mimetype="application/pdf",
            filename="report.pdf",
            notify_name="Rita",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        (sent,) = w.to_signal()
        assert sent.message == "Rita: the report"
        (attachment,) = sent.attachments
        assert attachment.data == REPORT
        assert attachment.filename == "report.pdf"

        reply = w.signal.inject_envelope(
            ALICE_PHONE,
            message="annotated",
            quote_timestamp=sent.timestamp,
            attachments=[(REPORT, "application/pdf", "annotated.pdf")],
        )
        assert await w.envelopes_done(reply) == ["done"]
        (document,) = w.whatsapp_calls("/api/sendFile")
        assert base64.b64decode(document["file"]["data"]) == REPORT
        assert document["file"]["filename"] == "annotated.pdf"
        assert document["caption"] == "annotated"
        await w.settled()
        assert open_files_under(in_flight) == 0


async def test_names_synced_at_start_need_no_lookup(tmp_path: Path) -> None:
    def address_book(waha: object, signal: object) -> None:
        from whatsignal.testing import FakeWaha

        assert isinstance(waha, FakeWaha)
        waha.add_contact("+4917000000016", session="personal", name="Jo (saved)")
        waha.add_group("Choir", session="personal", group_id="120363000000000016")

    extra = {"whatsapp": {"contactSyncOnStartup": True, "groups": {"syncOnStartup": True}}}
    async with world(tmp_path, extra=extra, before_bridge=address_book) as w:
        names = w.parts.names
        await w.until(
            lambda: names.cached("group", "personal", "120363000000000016@g.us") is not None
        )
        w.waha.fault("/api/contacts*", count=None, status=500)  # lookups would fail now
        w.waha.fault("/api/personal/groups*", count=None, status=500)
        w.waha.inject_message(
            "personal", from_="+4917000000016", chat_id="120363000000000016@g.us", body="la"
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        assert w.to_signal()[0].message == "Jo (saved) in Choir: la"


async def test_a_video_waha_cannot_send_goes_as_a_document(tmp_path: Path) -> None:
    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
    refusal = {
        "statusCode": 422,
        "message": 'Use "devlikeapro/waha-plus:chrome" docker image to send video in WEBJS',
    }
    async with world(tmp_path) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000017", body="clip?")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.waha.fault("/api/sendVideo", count=None, status=422, body=refusal)
        clip = w.signal.inject_envelope(
            ALICE_PHONE, message="here", attachments=[(mp4, "video/mp4", "c.mp4")]
        )
        assert await w.envelopes_done(clip) == ["done"]
        (document,) = w.whatsapp_calls("/api/sendFile")  # once, after the refused video
        assert document["chatId"] == msg["from"]
        assert base64.b64decode(document["file"]["data"]) == mp4
        assert document["caption"] == "here"
