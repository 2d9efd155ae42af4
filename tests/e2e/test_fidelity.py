"""Message fidelity end to end: WhatsApp's markup reads as Signal styles, through real HTTP
between the bridge and both simulators (FakeSignal parses styled text as upstream does)."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, world


async def test_whatsapp_markup_arrives_as_signal_styles_with_nothing_lost(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000001",
            body="*urgent* and _soon_ ~old~ ```code``` 2*3=6",
            notify_name="Ca*rol",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        sent = w.to_signal()[0]
        assert list(sent.recipients) == [ALICE_PHONE]
        assert sent.message == "Ca*rol: urgent and soon old code 2*3=6"
        units = sent.message.encode("utf-16-le")
        styled = {
            (units[2 * start : 2 * (start + length)].decode("utf-16-le"), style)
            for start, length, style in sent.text_styles
        }
        assert styled == {
            ("urgent", "BOLD"),
            ("soon", "ITALIC"),
            ("old", "STRIKETHROUGH"),
            ("code", "MONOSPACE"),
        }


async def test_literal_markers_and_backslashes_survive_unchanged(tmp_path: Path) -> None:
    body = "a || b, `tick`, C:\\dir\\ and \\\\server ~ 5 ** 2 = 2*2*4 \\"
    async with world(tmp_path) as w:
        w.waha.inject_message("personal", from_="+4917000000001", body=body, notify_name="Carol")
        await w.until(lambda: len(w.to_signal()) == 1)
        sent = w.to_signal()[0]
        assert sent.message == f"Carol: {body}"
        assert sent.text_styles == ()


# The first bytes of a PNG and of a WebP (RIFF....WEBP) file, as signal-cli sniffs them.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


async def test_view_once_media_stays_view_once_in_signal(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message(
            "personal",
            from_="+4917000000001",
            media=PNG,
            mimetype="image/png",
            view_once=True,
            notify_name="Carol",
        )
        w.waha.inject_message(
            "personal", from_="+4917000000001", media=PNG, mimetype="image/png", body="kept"
        )
        await w.until(lambda: len(w.to_signal()) == 2)
        # Two webhooks: WhatsApp's order between them is not the point here.
        (kept,) = [m for m in w.to_signal() if m.message.endswith("kept")]
        (once,) = [m for m in w.to_signal() if m is not kept]
        assert once.view_once and once.attachments[0].data == PNG
        assert not kept.view_once and kept.message.endswith("kept")


async def test_a_sticker_crosses_as_its_webp_image(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message(
            "personal", from_="+4917000000001", media=WEBP, mimetype="image/webp", sticker=True
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        (sent,) = w.to_signal()
        assert [(a.data, a.content_type) for a in sent.attachments] == [(WEBP, "image/webp")]
        assert not sent.view_once
