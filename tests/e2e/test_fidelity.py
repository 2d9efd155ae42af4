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
