"""Everything besides text, end to end: acks, read receipts, reactions, deletes and edits.

Each of these targets an earlier bridged message, so each test first bridges one and then
checks that the follow-up reaches the other side pointing at the right message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge_harness import ALICE_PHONE, BRIDGE, World, world
from e2e_tools import WA_ALICE, WA_BOB, WA_DAN, chat_of, forward, send_texts, signal_texts

from whatsignal.storage import MessageMapping


def signal_calls(w: World, prefix: str, method: str | None = None) -> list[Any]:
    return [
        r.body
        for r in w.signal.sent
        if r.path.startswith(prefix) and (method is None or r.method == method)
    ]


def waha_calls(w: World, method: str, prefix: str) -> list[Any]:
    return [r for r in w.waha.sent if r.method == method and r.path.startswith(prefix)]


async def _reply(w: World, text: str) -> tuple[int, MessageMapping]:
    """Send ``text`` from Signal (to the latest chat); returns its timestamp and mapping."""
    item = w.signal.inject_envelope(ALICE_PHONE, message=text)
    stamp: int = item["envelope"]["timestamp"]
    store = w.parts.store
    found: list[MessageMapping] = []

    async def mapped() -> bool:
        mapping = await store.mapping_by_signal_timestamp(BRIDGE, stamp)
        if mapping is not None:
            found.append(mapping)
        return bool(found)

    await w.until(mapped, timeout=5)
    return stamp, found[0]


def _receipts(w: World) -> list[Any]:
    return [r.body for r in w.signal.sent if r.path.startswith("/v1/receipts/")]


async def _status(w: World, whatsapp_id: str) -> int | None:
    store = w.parts.store
    mapping = await store.mapping_by_whatsapp_id("personal", whatsapp_id)
    assert mapping is not None
    return mapping.delivery_status


async def test_acks_raise_delivery_status_and_error_never_overwrites_read(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        _, mapping = await _reply(w, "hello back")
        wid = mapping.whatsapp_id
        assert wid.startswith("true_")

        w.waha.inject_ack(wid, 1, session="personal")  # SERVER
        await w.settled()
        assert await _status(w, wid) == 1
        assert _receipts(w) == []  # not read yet
        w.waha.inject_ack(wid, 3, session="personal")  # READ
        await w.settled()
        assert await _status(w, wid) == 3
        # The user's Signal shows their message read: one receipt for its Signal timestamp.
        await w.until(lambda: len(_receipts(w)) == 1)
        assert _receipts(w)[0]["recipient"] == ALICE_PHONE
        assert _receipts(w)[0]["timestamp"] == mapping.signal_timestamp
        w.waha.inject_ack(wid, -1, session="personal")  # a late ERROR
        w.waha.inject_ack(wid, 2, session="personal")  # a late DEVICE
        w.waha.inject_ack(wid, 4, session="personal")  # PLAYED: read already reported
        await w.settled()
        assert await _status(w, wid) == 4
        assert len(_receipts(w)) == 1

        _, other = await _reply(w, "second")
        w.waha.inject_ack(other.whatsapp_id, 1, session="personal")
        await w.settled()
        w.waha.inject_ack(other.whatsapp_id, -1, session="personal")  # failure after SERVER
        await w.settled()
        assert await _status(w, other.whatsapp_id) == -1


async def test_signal_read_receipt_marks_the_whatsapp_chat_seen(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        alice_msg, alice_fwd = await forward(w, "personal", from_=WA_ALICE, body="a", name="A")
        bob_msg, bob_fwd = await forward(w, "personal", from_=WA_BOB, body="b", name="B")

        w.signal.inject_envelope(ALICE_PHONE, receipt="delivery", receipt_timestamps=[1, 2])
        read = w.signal.inject_envelope(
            ALICE_PHONE, receipt="read", receipt_timestamps=[alice_fwd.timestamp, bob_fwd.timestamp]
        )
        # The read receipt's row is done: it (and the delivery receipt read off the socket
        # before it, which is never journaled) has been handled completely.
        assert await w.envelopes_done(read) == ["done"]
        seen = sorted(w.whatsapp_calls("/api/sendSeen"), key=lambda b: b["chatId"])
        assert seen == [
            {"session": "personal", "chatId": chat_of(WA_ALICE), "messageIds": [alice_msg["id"]]},
            {"session": "personal", "chatId": chat_of(WA_BOB), "messageIds": [bob_msg["id"]]},
        ]
        assert send_texts(w) == []


async def test_whatsapp_reaction_becomes_a_signal_reaction(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg, fwd = await forward(w, "personal", from_=WA_ALICE, body="news", name="Alice")
        w.waha.inject_reaction("personal", from_=WA_ALICE, message_id=msg["id"], reaction="❤️")
        await w.until(lambda: len(signal_calls(w, "/v1/reactions/", "POST")) == 1)
        assert signal_calls(w, "/v1/reactions/", "POST")[0] == {
            "recipient": ALICE_PHONE,
            "reaction": "❤️",
            "target_author": BRIDGE,
            "timestamp": fwd.timestamp,
        }
        w.waha.inject_reaction("personal", from_=WA_ALICE, message_id=msg["id"], reaction="")
        await w.until(lambda: len(signal_calls(w, "/v1/reactions/", "DELETE")) == 1)
        assert signal_calls(w, "/v1/reactions/", "DELETE")[0]["timestamp"] == fwd.timestamp
        await w.settled()
        assert len(signal_calls(w, "/v1/reactions/")) == 2  # each reaction once
        assert signal_texts(w) == ["Alice: news"]  # no reaction arrives as text


async def test_group_reaction_targets_the_group_message(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        group = w.waha.add_group("Club", session="personal", participants=[WA_DAN])
        msg, fwd = await forward(
            w, "personal", from_=WA_DAN, body="goal!", name="Dan", chat_id=group, group="Club"
        )
        w.waha.inject_reaction(
            "personal", from_=WA_DAN, message_id=msg["id"], reaction="⚽", chat_id=group
        )
        await w.until(lambda: len(signal_calls(w, "/v1/reactions/")) == 1)
        await w.settled()
        assert [c["timestamp"] for c in signal_calls(w, "/v1/reactions/")] == [fwd.timestamp]
        assert signal_texts(w) == ["Dan in Club: goal!"]


async def test_signal_reaction_becomes_a_whatsapp_reaction(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        alice_msg, alice_fwd = await forward(w, "personal", from_=WA_ALICE, body="a", name="A")
        await forward(w, "personal", from_=WA_BOB, body="b", name="B")
        add = w.signal.inject_envelope(
            ALICE_PHONE, reaction="👍", reaction_target=alice_fwd.timestamp, reaction_author=BRIDGE
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/reaction")) == 1)
        assert w.whatsapp_calls("/api/reaction") == [
            {"session": "personal", "messageId": alice_msg["id"], "reaction": "👍"}
        ]
        remove = w.signal.inject_envelope(
            ALICE_PHONE,
            reaction="👍",
            reaction_target=alice_fwd.timestamp,
            reaction_author=BRIDGE,
            reaction_remove=True,
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/reaction")) == 2)
        assert await w.envelopes_done(add, remove) == ["done", "done"]
        assert [c["reaction"] for c in w.whatsapp_calls("/api/reaction")] == ["👍", ""]
        assert send_texts(w) == []


async def test_whatsapp_revoke_deletes_the_signal_message(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg, fwd = await forward(w, "personal", from_=WA_ALICE, body="oops", name="Alice")
        w.waha.inject_revoke("personal", message_id=msg["id"])
        await w.until(lambda: len(signal_calls(w, "/v1/remote-delete/")) == 1)
        await w.settled()
        assert signal_calls(w, "/v1/remote-delete/") == [
            {"recipient": ALICE_PHONE, "timestamp": fwd.timestamp}
        ]
        assert signal_texts(w) == ["Alice: oops"]  # the delete is no message of its own


async def test_signal_remote_delete_deletes_the_whatsapp_message(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        stamp, mapping = await _reply(w, "wrong chat!")
        delete = w.signal.inject_envelope(ALICE_PHONE, remote_delete=stamp)
        await w.until(lambda: len(waha_calls(w, "DELETE", "/api/personal/chats/")) == 1)
        assert await w.envelopes_done(delete) == ["done"]
        assert [r.path for r in waha_calls(w, "DELETE", "/api/personal/chats/")] == [
            f"/api/personal/chats/{chat_of(WA_ALICE)}/messages/{mapping.whatsapp_id}"
        ]
        assert [c["text"] for c in send_texts(w)] == ["wrong chat!"]


async def test_whatsapp_edit_becomes_a_signal_edit(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg, fwd = await forward(w, "personal", from_=WA_ALICE, body="at 7", name="Alice")
        w.waha.inject_edit("personal", message_id=msg["id"], body="at 8")
        await w.until(lambda: len(w.signal.messages) == 2)
        await w.settled()
        assert len(w.signal.messages) == 2  # the original and its edit, nothing else
        edit = w.signal.messages[1]
        assert (edit.message, edit.edit_timestamp) == ("Alice: at 8", fwd.timestamp)
        assert list(edit.recipients) == [ALICE_PHONE]


async def test_signal_edit_edits_the_whatsapp_message(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        stamp, mapping = await _reply(w, "see you at 7")
        changed = w.signal.inject_envelope(ALICE_PHONE, message="see you at 8", edit=stamp)
        await w.until(lambda: len(waha_calls(w, "PUT", "/api/personal/chats/")) == 1)
        assert await w.envelopes_done(changed) == ["done"]
        assert len(waha_calls(w, "PUT", "/api/personal/chats/")) == 1
        edit = waha_calls(w, "PUT", "/api/personal/chats/")[0]
        assert edit.path.endswith(f"/messages/{mapping.whatsapp_id}")
        assert edit.body["text"] == "see you at 8"
        assert len(send_texts(w)) == 1  # the edit is not a new message


async def test_whatsapp_reply_to_a_bridged_message_becomes_a_signal_quote(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        first, first_fwd = await forward(w, "personal", from_=WA_ALICE, body="q?", name="Alice")
        _, mine = await _reply(w, "my answer")
        # Alice quotes the bridge user's answer (sent from Signal) ...
        w.waha.inject_message(
            "personal", from_=WA_ALICE, body="thanks", notify_name="Alice",
            reply_to=mine.whatsapp_id,
        )  # fmt: skip
        await w.until(lambda: "Alice: thanks" in signal_texts(w))
        thanks = w.signal.messages[-1]
        assert (thanks.quote_timestamp, thanks.quote_author) == (mine.signal_timestamp, ALICE_PHONE)
        # ... and her own earlier, forwarded message.
        w.waha.inject_message(
            "personal", from_=WA_ALICE, body="see above", notify_name="Alice",
            reply_to=first["id"],
        )  # fmt: skip
        await w.until(lambda: "Alice: see above" in signal_texts(w))
        above = w.signal.messages[-1]
        assert (above.quote_timestamp, above.quote_author) == (first_fwd.timestamp, BRIDGE)


async def test_sender_with_hidden_number_is_recognised_by_uuid(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        _, fwd = await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        # signal-cli's contact list pairs the uuid with the number.
        w.signal.inject_envelope(
            ALICE_PHONE, message="uuid only", number_hidden=True, quote_timestamp=fwd.timestamp
        )
        await w.until(lambda: len(send_texts(w)) == 1)
        assert send_texts(w)[0]["chatId"] == chat_of(WA_ALICE)
        # A stranger hiding their number is still a stranger.
        stranger = w.signal.inject_envelope(
            "+15559990000", message="hidden stranger", number_hidden=True
        )
        assert await w.envelopes_done(stranger) == ["done"]
        assert w.bridge.metrics.strangers._value.get() == 1
        assert len(send_texts(w)) == 1


async def test_signal_formatting_arrives_as_whatsapp_markup(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        msg = w.waha.inject_message("personal", from_="+4917000000081", body="hi")
        await w.until(lambda: len(w.to_signal()) == 1)
        stamp = w.signal.next_timestamp()
        w.signal.inject_envelope(
            ALICE_PHONE,
            raw={
                "source": ALICE_PHONE,
                "sourceNumber": ALICE_PHONE,
                "sourceUuid": "5b8c2f0e-0000-4000-8000-00000000aa81",
                "sourceName": "Alice",
                "sourceDevice": 1,
                "timestamp": stamp,
                "serverReceivedTimestamp": stamp + 5,
                "serverDeliveredTimestamp": stamp + 9,
                "dataMessage": {
                    "timestamp": stamp,
                    "message": "see you at noon",
                    "expiresInSeconds": 0,
                    "viewOnce": False,
                    "textStyles": [{"start": 4, "length": 3, "style": "BOLD"}],
                },
            },
        )
        await w.until(lambda: len(w.whatsapp_calls("/api/sendText")) == 1)
        sent = w.whatsapp_calls("/api/sendText")[0]
        assert (sent["chatId"], sent["text"]) == (msg["from"], "see *you* at noon")


async def test_reply_to_a_message_that_never_crossed_says_what_it_answers(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        # Written on the phone itself: the bridge does not forward the account's own messages.
        own = w.waha.inject_message(
            "personal",
            from_=WA_BOB,
            body="Shall we meet on Friday?",
            from_me=True,
            event="message.any",
        )
        w.waha.inject_message(
            "personal",
            from_=WA_BOB,
            body="Yes, Friday works",
            reply_to=own["id"],
            notify_name="Bob",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        await w.settled()
        assert len(w.to_signal()) == 1  # the phone's own message is not forwarded
        sent = w.to_signal()[0]
        assert sent.message == 'Bob: Yes, Friday works\n↪ in reply to "Shall we meet on Friday?"'
        assert sent.quote_timestamp is None


async def test_mentions_show_names(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.waha.add_contact(WA_DAN, session="personal", name="Dan")
        group = w.waha.add_group("Team", session="personal", participants=[WA_BOB, WA_DAN])
        dan, stranger = WA_DAN.lstrip("+"), "4915999999999"
        w.waha.inject_message(
            "personal",
            from_=WA_BOB,
            chat_id=group,
            notify_name="Bob",
            body=f"@{dan} and @{stranger}, see mail@{dan}.example",
        )
        await w.until(lambda: len(w.to_signal()) == 1)
        assert w.to_signal()[0].message == (
            f"Bob in Team: @Dan and @{stranger}, see mail@{dan}.example"
        )
