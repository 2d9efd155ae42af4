"""Control from Signal, end to end: ``/pair`` sends WAHA's QR codes (or a pairing code) to the
person's chat with the bridge number until the session works; ``/status``, ``/restart``,
``/start`` and ``/stop`` see and steer their sessions; nobody else can."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BOB_PHONE, World, world
from e2e_tools import get, post, signal_texts, with_admin_token

from whatsignal.actors.alerts import stopped_by_user
from whatsignal.relay import control_texts as texts
from whatsignal.relay.alert_notices import session_needs_you
from whatsignal.relay.control import no_such_session
from whatsignal.service import Tuning
from whatsignal.testing._waha_api_auth import qr_png

FAST = Tuning(pair_poll=0.05, pair_window=30.0, alert_settle=0.3)
ADMIN = "admin-token-for-control-tests"
QUICK_QR = {"qr_refresh": 0.3, "not_working_wait": 0.5}


def _statuses(w: World, session: str) -> list[str]:
    """The statuses WAHA announced for ``session`` (its session.status webhooks), in order."""
    return [
        e["payload"]["status"]
        for e in w.waha.events
        if e["event"] == "session.status" and e["session"] == session
    ]


def _images(w: World, recipient: str) -> list[bytes]:
    return [
        a.data
        for m in w.signal.messages
        if recipient in m.recipients
        for a in m.attachments
        if a.content_type == "image/png"
    ]


async def test_pair_sends_each_new_qr_code_until_the_session_works(tmp_path: Path) -> None:
    async with world(tmp_path, tuning=FAST, waha_options=QUICK_QR) as w:
        w.waha.logout_session("personal")
        await w.until(lambda: w.waha.session("personal").status == "SCAN_QR_CODE")
        pair = w.signal.inject_envelope(ALICE_PHONE, message="/PAIR  personal ")
        # WhatsApp rotates the code: each new one reaches Alice, as the PNG WAHA served.
        await w.until(lambda: len(set(_images(w, ALICE_PHONE))) >= 2)
        served = {qr_png(value) for name, value in w.waha.qr_served if name == "personal"}
        assert set(_images(w, ALICE_PHONE)) <= served
        images = _images(w, ALICE_PHONE)
        assert len(images) == len(set(images))  # an unchanged code is not sent again
        assert texts.pair_qr("personal", 0) in signal_texts(w, ALICE_PHONE)
        w.waha.set_session_status("personal", "WORKING")  # the phone scanned it
        await w.until(lambda: texts.paired("personal") in signal_texts(w, ALICE_PHONE))
        assert await w.envelopes_done(pair) == ["done"]
        assert _images(w, BOB_PHONE) == []
        assert w.whatsapp_calls("/api/sendText") == []  # a command is not a message


async def test_pair_with_a_number_sends_the_pairing_code(tmp_path: Path) -> None:
    async with world(tmp_path, tuning=FAST, waha_options=QUICK_QR) as w:
        w.waha.logout_session("personal")
        await w.until(lambda: w.waha.session("personal").status == "SCAN_QR_CODE")
        w.signal.inject_envelope(ALICE_PHONE, message="/pair personal +4917012345678")
        await w.until(lambda: len(w.waha.pairing_codes) == 1)
        session, digits, code = w.waha.pairing_codes[0]
        assert (session, digits) == ("personal", "4917012345678")
        told = texts.pair_code("personal", code)
        await w.until(lambda: told in signal_texts(w, ALICE_PHONE))
        assert _images(w, ALICE_PHONE) == []  # a code instead of QR images
        w.waha.set_session_status("personal", "WORKING")
        await w.until(lambda: texts.paired("personal") in signal_texts(w, ALICE_PHONE))
        assert len(w.waha.pairing_codes) == 1


async def test_pair_starts_a_stopped_session_and_times_out(tmp_path: Path) -> None:
    tuning = Tuning(pair_poll=0.05, pair_window=1.0)
    async with world(tmp_path, tuning=tuning, waha_options=QUICK_QR) as w:
        w.waha.stop_session("personal")
        w.waha.session("personal").paired = False  # starting it will ask for a scan
        w.signal.inject_envelope(ALICE_PHONE, message="/pair")  # her only session
        timed_out = texts.pair_timed_out("personal", 0)
        await w.until(lambda: timed_out in signal_texts(w, ALICE_PHONE))
        assert w.waha.session("personal").status == "SCAN_QR_CODE"
        assert _images(w, ALICE_PHONE) != []


async def test_pair_of_a_working_or_failed_session_is_answered(tmp_path: Path) -> None:
    async with world(tmp_path, tuning=FAST, waha_options=QUICK_QR) as w:
        w.signal.inject_envelope(ALICE_PHONE, message="/pair personal")
        await w.until(lambda: texts.already_working("personal") in signal_texts(w, ALICE_PHONE))
        w.waha.set_session_status("personal", "FAILED")
        await w.until(lambda: w.parts.sessions.status("personal") == "FAILED")
        w.signal.inject_envelope(ALICE_PHONE, message="/pair personal")
        failed = texts.cannot_pair("personal", "FAILED")
        await w.until(lambda: failed in signal_texts(w, ALICE_PHONE))
        assert w.waha.qr_served == []


async def test_status_names_each_session_and_its_state(tmp_path: Path) -> None:
    channels = [
        {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
        {"whatsappSessionName": "work", "signalDestinationPhoneNumber": ALICE_PHONE},
        {"whatsappSessionName": "business", "signalDestinationPhoneNumber": BOB_PHONE},
    ]
    sessions = ("personal", "work", "business")
    async with world(tmp_path, channels=channels, sessions=sessions, tuning=FAST) as w:
        w.waha.set_session_status("work", "FAILED")
        await w.until(lambda: w.parts.sessions.status("work") == "FAILED")
        w.signal.inject_envelope(ALICE_PHONE, message="/status")
        await w.until(lambda: any("status" in t for t in signal_texts(w, ALICE_PHONE)))
        report = next(t for t in signal_texts(w, ALICE_PHONE) if "status" in t)
        assert "personal: WhatsApp WORKING; worker running; 0 waiting; 0 dead letters" in report
        assert "work: WhatsApp FAILED" in report
        assert "business" not in report  # Bob's
        assert "Signal: sending normally" in report


async def test_restart_stop_and_start_steer_the_session(tmp_path: Path) -> None:
    extra = {"signal": {"sessionDiscoveryIntervalSec": 1}, "alerts": {"graceSec": 1}}
    async with world(tmp_path, extra=extra, tuning=FAST) as w:
        w.signal.inject_envelope(ALICE_PHONE, message="/restart personal")
        restarted = texts.steered("restart", "personal", "WORKING")
        await w.until(lambda: restarted in signal_texts(w, ALICE_PHONE))
        assert "STOPPED" in _statuses(w, "personal")
        w.signal.inject_envelope(ALICE_PHONE, message="/stop")
        stopped = texts.steered("stop", "personal", "STOPPED")
        await w.until(lambda: stopped in signal_texts(w, ALICE_PHONE))
        assert await w.parts.store.alert_raised(stopped_by_user("personal"))
        # Bob's session fails after Alice's stopped: once he is told (past the grace), Alice's
        # STOPPED would have been told too, had the bridge not known she stopped it herself.
        w.waha.set_session_status("business", "FAILED")
        bob_told = session_needs_you("business", "FAILED")
        await w.until(lambda: bob_told in signal_texts(w, BOB_PHONE))
        assert session_needs_you("personal", "STOPPED") not in signal_texts(w, ALICE_PHONE)
        w.signal.inject_envelope(ALICE_PHONE, message="/start personal")
        started = texts.steered("start", "personal", "WORKING")
        await w.until(lambda: started in signal_texts(w, ALICE_PHONE))
        assert not await w.parts.store.alert_raised(stopped_by_user("personal"))


async def test_commands_reach_only_their_own_sessions_and_only_from_their_owner(
    tmp_path: Path,
) -> None:
    stranger, uuid = "+15559990009", "0f0f0f0f-0000-4000-8000-000000000001"
    async with world(tmp_path, tuning=FAST) as w:
        # Alice names Bob's session, and one that does not exist: the same answer.
        foreign = w.signal.inject_envelope(ALICE_PHONE, message="/restart business")
        unknown = w.signal.inject_envelope(ALICE_PHONE, message="/restart nosuch")
        # A stranger, and a stranger's uuid the bridge was once told was Alice's.
        await w.parts.store.put_signal_identity(ALICE_PHONE, uuid)
        bare = w.signal.inject_envelope(stranger, message="/status")
        hidden = w.signal.inject_envelope(
            stranger, sender_uuid=uuid, number_hidden=True, message="/stop personal"
        )
        assert await w.envelopes_done(foreign, unknown, bare, hidden) == ["done"] * 4
        assert signal_texts(w, ALICE_PHONE) == [
            no_such_session("business"),
            no_such_session("nosuch"),
        ]
        assert signal_texts(w, stranger) == signal_texts(w, uuid) == []
        assert "STOPPED" not in _statuses(w, "business")
        assert w.waha.session("personal").status == "WORKING"


async def test_a_destination_who_hides_their_number_is_vouched_for_by_signal_cli(
    tmp_path: Path,
) -> None:
    uuid = "0f0f0f0f-0000-4000-8000-0000000000a1"
    async with world(tmp_path, tuning=FAST) as w:
        w.signal.add_contact(ALICE_PHONE, uuid=uuid)
        w.signal.inject_envelope(
            ALICE_PHONE, sender_uuid=uuid, number_hidden=True, message="/status"
        )
        await w.until(lambda: any("status" in t for t in signal_texts(w)))
        assert "personal: WhatsApp WORKING" in signal_texts(w)[0]


async def test_the_admin_api_restarts_a_session_and_shows_its_qr_code(tmp_path: Path) -> None:
    async with world(tmp_path, bridge_factory=with_admin_token(ADMIN), waha_options=QUICK_QR) as w:
        assert (await post(w, "/admin/sessions/personal/restart")).status_code == 401
        assert (await get(w, "/admin/sessions/personal/qr", token="wrong")).status_code == 401
        await w.parts.store.raise_alert(stopped_by_user("personal"), at=1.0)  # as /stop does
        restarted = await post(w, "/admin/sessions/personal/restart", token=ADMIN)
        assert restarted.status_code == 200
        # Restarted by an operator: its STOPPED alerts again, as after /restart in Signal.
        assert not await w.parts.store.alert_raised(stopped_by_user("personal"))
        assert restarted.json()["session"] == "personal"
        assert "STOPPED" in _statuses(w, "personal")
        assert (await post(w, "/admin/sessions/nosuch/restart", token=ADMIN)).status_code == 404
        assert (await post(w, "/admin/sessions/no%20such/restart", token=ADMIN)).status_code == 400
        await w.until(lambda: w.waha.session("personal").status == "WORKING")
        working = await get(w, "/admin/sessions/personal/qr", token=ADMIN)
        assert working.status_code == 409  # nothing to scan
        w.waha.logout_session("personal")
        await w.until(lambda: w.waha.session("personal").status == "SCAN_QR_CODE")
        qr = await get(w, "/admin/sessions/personal/qr", token=ADMIN)
        assert qr.status_code == 200
        assert qr.headers["content-type"] == "image/png"
        assert qr.content == qr_png(w.waha.qr_served[-1][1])
