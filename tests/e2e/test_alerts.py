"""Alerts end to end: a session that needs its user is told once, in their Signal chat with
the bridge number, and its recovery once; WAHA's session API failing is told to everyone once,
and its recovery once."""

from __future__ import annotations

from pathlib import Path

from bridge_harness import ALICE_PHONE, BOB_PHONE, world
from e2e_tools import signal_texts

from whatsignal.relay.alert_notices import session_needs_you, session_works_again, waha_back
from whatsignal.service import Tuning
from whatsignal.testing import Fault

FAST = {"signal": {"sessionDiscoveryIntervalSec": 1}, "alerts": {"graceSec": 1}}
TUNING = Tuning(alert_settle=0.3)
WAHA_DOWN = "WAHA (the WhatsApp server) has not answered"


async def test_a_logged_out_session_is_told_once_and_its_recovery_once(tmp_path: Path) -> None:
    async with world(tmp_path, extra=FAST, tuning=TUNING) as w:
        needs = session_needs_you("personal", "SCAN_QR_CODE")
        assert "/pair personal" in needs
        w.waha.logout_session("personal")  # WhatsApp dropped the pairing
        await w.until(lambda: needs in signal_texts(w, ALICE_PHONE))
        # WAHA announces SCAN_QR_CODE again at every QR refresh: the same condition.
        w.waha.set_session_status("personal", "SCAN_QR_CODE")
        await w.until(lambda: w.parts.sessions.entry("personal").status_at is not None)
        w.waha.set_session_status("personal", "WORKING")  # paired again
        back = session_works_again("personal")
        await w.until(lambda: back in signal_texts(w, ALICE_PHONE))
        texts = signal_texts(w, ALICE_PHONE)
        assert texts.count(needs) == 1
        assert texts.count(back) == 1
        assert signal_texts(w, BOB_PHONE) == []  # not Bob's session


async def test_a_failed_session_is_told_only_after_the_grace_period(tmp_path: Path) -> None:
    """FAILED that WAHA (or the bridge) restarts within alerts.graceSec is no alert."""
    extra = {**FAST, "alerts": {"graceSec": 3600}}
    async with world(tmp_path, extra=extra, tuning=TUNING) as w:
        w.waha.set_session_status("business", "FAILED")
        w.waha.set_session_status("personal", "SCAN_QR_CODE")
        told = session_needs_you("personal", "SCAN_QR_CODE")
        await w.until(lambda: told in signal_texts(w, ALICE_PHONE))  # later in the same pass
        assert signal_texts(w, BOB_PHONE) == []


async def test_waha_failing_is_told_to_everyone_once_then_its_recovery(tmp_path: Path) -> None:
    async with world(tmp_path, extra=FAST, tuning=TUNING) as w:
        # whatsapp.sessionApiPath is "/api/sessions/" by default.
        w.waha.add_fault(Fault(path="/api/sessions/", method="GET", count=None, status=500))

        def told(phone: str) -> int:
            return sum(WAHA_DOWN in text for text in signal_texts(w, phone))

        await w.until(lambda: told(ALICE_PHONE) == 1 and told(BOB_PHONE) == 1, timeout=15)
        w.waha.injector.clear()
        for phone in (ALICE_PHONE, BOB_PHONE):
            await w.until(lambda phone=phone: waha_back() in signal_texts(w, phone), timeout=15)
            assert told(phone) == 1
