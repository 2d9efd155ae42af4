"""Edges of the two directions: failing lookups, odd payloads, unknown targets."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BRIDGE, world

from whatsignal.testing import Fault

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32


async def test_names_fall_back_when_waha_lookups_fail(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.fault("/api/contacts*", count=None, status=500)
        w.waha.fault("/api/personal/groups*", count=None, status=500)
        group = w.waha.add_group("Hikers", session="personal", participants=["+4917000000041"])
        w.waha.inject_message("personal", from_="+4917000000041", body="direct", notify_name="Fay")
        w.waha.inject_message("personal", from_="+4917000000042", chat_id=group, body="in group")
        await w.until(lambda: len(w.to_signal()) == 2)
        texts = sorted(m.message for m in w.to_signal())
        group_number = group.partition("@")[0]
        # No contact API: the push name, else the number; no group API: the group's id.
        assert texts == sorted(["Fay: direct", f"+4917000000042 in {group_number}: in group"])


async def test_names_come_from_waha_and_are_cached(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_contact("+4917000000043", session="personal", name="Gil (work)")
        group = w.waha.add_group("Climbers", session="personal", participants=["+4917000000043"])
        # Pass-through faults (no status, no latency): they only count the lookups.
        contact_lookups = w.waha.add_fault(Fault(path="/api/contacts", method="GET", count=None))
        group_lookups = w.waha.add_fault(
            Fault(path="/api/personal/groups/*", method="GET", count=None)
        )
        w.waha.inject_message("personal", from_="+4917000000043", chat_id=group, body="m0")
        await w.until(lambda: len(w.to_signal()) == 1)
        assert (contact_lookups.hits, group_lookups.hits) == (1, 1)  # asked WAHA once each
        w.waha.inject_message("personal", from_="+4917000000043", chat_id=group, body="m1")
        await w.until(lambda: len(w.to_signal()) == 2)
        await w.settled()
        assert [m.message for m in w.to_signal()] == [
            "Gil (work) in Climbers: m0",
            "Gil (work) in Climbers: m1",
        ]
        assert (contact_lookups.hits, group_lookups.hits) == (1, 1)  # then from the cache
        lookups = [r.path for r in w.waha.sent if "groups" in r.path or "contacts" in r.path]
        assert lookups == []  # and looking up changed nothing in WAHA


async def test_media_without_url_and_a_failing_download(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000044", body="", media=PNG)
        await w.until(lambda: len(w.to_signal()) == 1)
        assert w.to_signal()[0].attachments[0].data == PNG
        # hasMedia without a media object: WAHA did not download it (WHATSAPP_DOWNLOAD_MEDIA).
        payload = {**msg, "id": msg["id"].replace(msg["id"][-6:], "ZZZZZZ"), "body": "photo"}
        del payload["media"]
        w.waha.inject_event("message", "personal", payload)
        await w.until(lambda: len(w.to_signal()) == 2)
        assert w.to_signal()[1].message.endswith("photo\n[media not downloaded by WAHA]")
        # A download that fails with 5xx is retried, not given up on.
        w.waha.fault("/api/files/*", count=2, status=503)
        w.waha.inject_message("personal", from_="+4917000000044", body="again", media=PNG)
        await w.until(lambda: len(w.to_signal()) == 3)
        assert w.to_signal()[2].attachments[0].data == PNG


async def test_edits_both_ways(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        original = w.waha.inject_message(
            "personal", from_="+4917000000045", body="see you at 5", notify_name="Hal"
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        forwarded = w.to_signal()[0]
        w.waha.inject_edit("personal", message_id=original["id"], body="see you at 6")
        await w.until(lambda: len(w.to_signal()) == 2)
        edit = w.to_signal()[1]
        assert (edit.message, edit.edit_timestamp) == ("Hal: see you at 6", forwarded.timestamp)

        reply = w.signal.inject_envelope(
            ALICE_PHONE, message="ok!", quote_timestamp=forwarded.timestamp, quote_author=BRIDGE
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1)
        stamp = int(reply["envelope"]["timestamp"])
        w.signal.inject_envelope(ALICE_PHONE, message="ok!!", edit=stamp)
        await w.until(lambda: any(r.method == "PUT" for r in w.waha.sent))
        edit_call = next(r for r in w.waha.sent if r.method == "PUT" and "/messages/" in r.path)
        assert edit_call.body["text"] == "ok!!"


async def test_unknown_targets_are_ignored_quietly(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.inject_message("personal", from_="+4917000000046", body="hi")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.waha.inject_reaction(
            "personal", from_="+4917000000046", message_id="false_1@c.us_UNKNOWN", reaction="❤️"
        )
        w.waha.inject_revoke("personal", message_id="false_1@c.us_UNKNOWN2")
        w.waha.inject_ack("false_1@c.us_UNKNOWN3_4917000000046@c.us", 3, session="personal")
        w.waha.inject_message("personal", from_="+4917000000046", body="after")
        await w.until(lambda: len(w.to_signal()) == 2)
        # Every webhook answered and no row pending: the unknown targets were handled.
        await w.settled()
        assert [m.message for m in w.to_signal()] == ["+4917000000046: hi", "+4917000000046: after"]
        touched = [
            r.path for r in w.signal.sent if "reactions" in r.path or "remote-delete" in r.path
        ]
        assert touched == []  # nothing to react to or delete on Signal
        assert await w.parts.store.dead_letters() == []  # quietly: no dead letter, no notice


async def test_whatsapp_cannot_find_the_quoted_message_so_reply_goes_unquoted(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000047", body="question?")
        await w.until(lambda: len(w.to_signal()) == 1)
        w.waha.fault(
            "/api/sendText",
            count=1,
            status=500,
            body={"statusCode": 500, "exception": {"message": "Could not get the quoted message."}},
        )
        answer = w.signal.inject_envelope(
            ALICE_PHONE,
            message="answer",
            quote_timestamp=w.to_signal()[0].timestamp,
            quote_author=BRIDGE,
        )
        assert await w.envelopes_done(answer) == ["done"]
        assert len(w.whatsapp_calls("/api/sendText")) == 1  # the unquoted retry, once
        sent = w.whatsapp_calls("/api/sendText")[0]
        assert sent["chatId"] == msg["from"]
        assert "reply_to" not in sent


async def test_locations_and_contact_cards_cross(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        base = w.waha.inject_message("personal", from_="+4917000000048", body="first")
        await w.until(lambda: len(w.to_signal()) == 1)

        def variant(suffix: str, **fields: object) -> dict[str, object]:
            payload = {**base, "id": base["id"][:-6] + suffix, **fields}
            payload.pop("media", None)
            return payload

        w.waha.inject_event(
            "message",
            "personal",
            variant(
                "LOC001",
                body="/9j/4AAQSkZJRgABAQAAAQABAAD...",  # a thumbnail, not text
                location={
                    "latitude": "52.52",
                    "longitude": "13.405",
                    "live": False,
                    "description": "Brandenburg Gate",
                },
            ),
        )
        card = "BEGIN:VCARD\nVERSION:3.0\nFN:Kim Lee\nTEL;type=CELL:+49 170 1234\nEND:VCARD"
        w.waha.inject_event("message", "personal", variant("VCF001", body=card, vCards=[card]))
        await w.until(lambda: len(w.to_signal()) == 3)
        await w.settled()
        assert len(w.to_signal()) == 3
        # WAHA posts webhooks concurrently, so the two may arrive in either order.
        texts = sorted(m.message.split(": ", 1)[1] for m in w.to_signal()[1:])
        assert texts == [
            "👤 Kim Lee: +49 170 1234",
            "📍 Location: Brandenburg Gate\nhttps://maps.google.com/?q=52.520000,13.405000",
        ]


async def test_fields_the_bridge_does_not_need_are_not_held_against_a_message(
    tmp_path: Path,
) -> None:
    """Engines send what the spec does not promise (a string timestamp, null flags). The
    simulator's spec check is off here: that is the point."""
    async with world(tmp_path, waha_options={"check_contracts": False}) as w:
        base = w.waha.inject_message("personal", from_="+4917000000049", body="first")
        await w.until(lambda: len(w.to_signal()) == 1)
        odd = {**base, "id": base["id"][:-6] + "ODD001", "body": "odd"}
        odd.update({"timestamp": "1700000000", "hasMedia": None, "fromMe": None})
        odd.pop("media", None)
        w.waha.inject_event("message", "personal", odd)
        await w.until(lambda: len(w.to_signal()) == 2)
        await w.settled()
        assert [m.message for m in w.to_signal()] == [
            "+4917000000049: first",
            "+4917000000049: odd",
        ]
