"""What a running bridge shows of itself, end to end: ``/session/status``, ``/metrics``,
``/readyz`` and the lifecycle log events, each following what happened to the sessions.

Every test runs FakeWaha, FakeSignal and a real bridge over HTTP (``bridge_harness.world``);
session changes are made in FakeWaha, so the bridge learns of them as it would in production
(``session.status`` webhooks and listings).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from bridge_harness import ALICE_PHONE, BOB_PHONE, BRIDGE, World, world
from e2e_tools import WA_ALICE, WA_BOB, chat_of, forward, get, send_texts, signal_texts

from whatsignal.errors import StorageError
from whatsignal.storage import SqliteStore

FAST_LISTING = {"signal": {"sessionDiscoveryIntervalSec": 1}}
NUMBERS = [n.lstrip("+") for n in (BRIDGE, ALICE_PHONE, BOB_PHONE, WA_ALICE, WA_BOB)]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


async def status(w: World) -> dict[str, Any]:
    response = await get(w, "/session/status")
    assert response.status_code == 200
    assert not any(n in response.text for n in NUMBERS), response.text  # no full number
    found: dict[str, Any] = response.json()
    return found


async def sessions(w: World) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = (await status(w))["sessions"]
    return found


async def metrics(w: World) -> str:
    response = await get(w, "/metrics")
    assert response.status_code == 200
    assert not any(n in response.text for n in NUMBERS), response.text  # no full number
    return response.text


def sample(page: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` (exactly these labels) on a metrics page."""
    for line in page.splitlines():
        found = _SAMPLE.match(line)
        if found is None or found.group(1) != name:
            continue
        if dict(_LABEL.findall(found.group(2) or "")) == labels:
            return float(found.group(3))
    return None


async def metric(w: World, name: str, **labels: str) -> float | None:
    return sample(await metrics(w), name, **labels)


async def readiness(w: World) -> tuple[int, dict[str, Any]]:
    response = await get(w, "/readyz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def events(caplog: pytest.LogCaptureFixture, session: str | None = None) -> list[str]:
    """The ``event`` attributes of the structured log records (of one session, if given)."""
    return [
        r.event  # type: ignore[attr-defined]
        for r in caplog.records
        if hasattr(r, "event") and (session is None or getattr(r, "session", None) == session)
    ]


def status_changes(caplog: pytest.LogCaptureFixture, session: str) -> list[str]:
    """The statuses a session went through, as ``session.status`` log events said."""
    return [
        r.getMessage().removeprefix("session is ")
        for r in caplog.records
        if getattr(r, "event", None) == "session.status" and getattr(r, "session", None) == session
    ]


# ---- /session/status -----------------------------------------------------------------------


async def test_session_status_follows_what_happens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="whatsignal")
    extra = {**FAST_LISTING, "whatsapp": {"sessionAutoRestart": True}}
    async with world(tmp_path, extra=extra) as w:

        async def both_working() -> bool:
            found = await sessions(w)
            return all(found.get(s, {}).get("waha") == "WORKING" for s in ("personal", "business"))

        await w.until(both_working)
        page = await sessions(w)
        assert set(page) == {"personal", "business"}
        for name in ("personal", "business"):
            assert page[name] == {
                "waha": "WORKING",
                "worker": "running",
                "queue": 0,
                "oldest_pending_sec": None,
                "last_activity": None,
                "worker_restarts": 0,
                "session_restarts": 0,
                "last_error": None,
            }

        # A delivered message sets the session's last activity (wall clock), and only its own.
        before = time.time()
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")

        async def active() -> bool:  # once the row's completion is committed, just after
            return (await sessions(w))["personal"]["last_activity"] is not None

        await w.until(active)
        page = await sessions(w)
        assert before <= page["personal"]["last_activity"] <= time.time()
        assert page["business"]["last_activity"] is None

        # A failed send shows its error, masked.
        await forward(w, "business", from_=WA_BOB, body="hello", name="Bob")
        bad = f"Bad Request: chatId {chat_of(WA_BOB)} is not a valid chat"
        w.waha.fault(
            "/api/sendText",
            count=3,
            status=400,
            body={"statusCode": 400, "message": bad, "error": "Bad Request"},
        )
        doomed = w.signal.inject_envelope(BOB_PHONE, message="will fail")
        assert await w.envelopes_done(doomed) == ["dead"]

        async def error_shown() -> bool:
            return (await sessions(w))["business"]["last_error"] is not None

        await w.until(error_shown)
        error = (await sessions(w))["business"]["last_error"]
        assert "is not a valid chat" in error
        assert re.search(r"\*+" + WA_BOB[-4:] + "@c.us", error)  # the chat id, masked
        assert WA_BOB.lstrip("+") not in error

        # A stopped session: WAHA says STOPPED, its poller waits, its replies queue up.
        w.waha.set_session_status("business", "STOPPED")

        async def business_waiting() -> bool:
            found = (await sessions(w))["business"]
            return found["waha"] == "STOPPED" and found["worker"] == "waiting for WORKING"

        await w.until(business_waiting)
        held = w.signal.inject_envelope(BOB_PHONE, message="waits for WORKING")

        async def queued() -> bool:
            found = (await sessions(w))["business"]
            return found["queue"] == 1 and (found["oldest_pending_sec"] or 0) > 0

        await w.until(queued)
        assert (await sessions(w))["personal"]["worker"] == "running"

        w.waha.set_session_status("business", "WORKING")
        assert await w.envelopes_done(held) == ["done"]

        async def business_back() -> bool:
            found = (await sessions(w))["business"]
            return (found["waha"], found["worker"], found["queue"]) == ("WORKING", "running", 0)

        await w.until(business_back)
        assert (await sessions(w))["business"]["oldest_pending_sec"] is None

        # A FAILED session is restarted by the bridge (whatsapp.sessionAutoRestart).
        w.waha.set_session_status("personal", "FAILED")

        async def restarted() -> bool:
            found = (await sessions(w))["personal"]
            return found["session_restarts"] == 1 and found["waha"] == "WORKING"

        await w.until(restarted)

        # A poller that crashes (its store failed) is restarted, and says so meanwhile.
        failures = {"left": 1}
        pending_after = SqliteStore.pending_after  # what the poller reads when rung

        async def failing_once(self: SqliteStore, queue: str, after: int, **kw: Any) -> Any:
            if queue == "personal" and failures["left"]:
                failures["left"] -= 1
                raise StorageError("disk I/O error (injected)")
            return await pending_after(self, queue, after, **kw)

        monkeypatch.setattr(SqliteStore, "pending_after", failing_once)
        w.parts.doorbells.ring("personal")

        async def crashed() -> bool:
            found = (await sessions(w))["personal"]
            return (found["worker"], found["worker_restarts"]) == ("restarting", 1)

        await w.until(crashed)
        # The metrics page agrees (the restart waits 1 s: well within this look).
        page = await metrics(w)
        assert sample(page, "whatsignal_workers", state="restarting") == 1
        assert sample(page, "whatsignal_workers", state="running") == 1
        assert sample(page, "whatsignal_actor_restarts_total", actor="worker[personal]") == 1

        async def running_again() -> bool:
            found = (await sessions(w))["personal"]
            return (found["worker"], found["worker_restarts"]) == ("running", 1)

        await w.until(running_again)
        await forward(w, "personal", from_=WA_ALICE, body="after the crash", name="Alice")

        # Every change was a structured log event.
        assert status_changes(caplog, "business") == ["WORKING", "STOPPED", "WORKING"]
        assert status_changes(caplog, "personal")[:2] == ["WORKING", "FAILED"]
        assert status_changes(caplog, "personal")[-1] == "WORKING"
        assert events(caplog, "business").count("replies.waiting") == 1
        assert events(caplog, "business").count("replies.delivered") == 1
        assert events(caplog, "personal").count("session.restarted") == 1
        assert events(caplog, "personal").count("worker.started") == 1
        assert events(caplog, "business").count("worker.started") == 1
        assert [c["text"] for c in send_texts(w)] == ["waits for WORKING"]
        assert "waits for WORKING" not in caplog.text  # message text stays out of the logs
        assert not any(n in caplog.text for n in NUMBERS[1:])
        assert signal_texts(w, BOB_PHONE)[-1].startswith("▶️")  # told the replies went


# ---- /metrics ------------------------------------------------------------------------------


async def test_metrics_page_follows_sessions_workers_listings_and_rows(tmp_path: Path) -> None:
    async with world(tmp_path, extra=FAST_LISTING) as w:

        async def has(name: str, value: float, **labels: str) -> bool:
            return await metric(w, name, **labels) == value

        await w.until(lambda: has("whatsignal_sessions", 2, status="WORKING"))
        page = await metrics(w)
        assert sample(page, "whatsignal_workers", state="running") == 2
        assert sample(page, "whatsignal_signal_receivers", state="connected") == 1
        assert sample(page, "whatsignal_signal_receivers", state="disconnected") == 0

        # Listings every signal.sessionDiscoveryIntervalSec; a failing one is counted as such.
        listings = await metric(w, "whatsignal_session_listings_total", result="listing")
        assert listings is not None and listings >= 1
        # Alerts watch these for any increase: they are there, at 0, before the first one.
        page = await metrics(w)
        assert sample(page, "whatsignal_session_listings_total", result="failed") == 0
        for direction in ("wa_to_signal", "signal_to_wa"):
            assert sample(page, "whatsignal_dead_letters_total", direction=direction) == 0

        async def more_listings() -> bool:
            now = await metric(w, "whatsignal_session_listings_total", result="listing")
            return now is not None and now > listings

        await w.until(more_listings)
        # whatsapp.sessionApiPath is "/api/sessions/" by default.
        failing = w.waha.fault("/api/sessions/", method="GET", count=1, status=500)
        await w.until(lambda: has("whatsignal_session_listings_total", 1, result="failed"))
        assert failing.hits == 1
        await w.until(more_listings)

        # Rows by direction and outcome.
        await forward(w, "personal", from_=WA_ALICE, body="hi", name="Alice")
        await forward(w, "business", from_=WA_BOB, body="hi", name="Bob")
        # A row is counted once its completion is committed, just after the send arrived.
        delivered = {"direction": "wa_to_signal", "outcome": "delivered"}
        await w.until(lambda: has("whatsignal_rows_total", 2, **delivered))
        w.waha.fault("/api/sendText", count=1, status=500)
        reply = w.signal.inject_envelope(ALICE_PHONE, message="once retried")
        assert await w.envelopes_done(reply) == ["done"]
        replies = {"direction": "signal_to_wa"}
        await w.until(lambda: has("whatsignal_rows_total", 1, **replies, outcome="delivered"))
        page = await metrics(w)
        assert sample(page, "whatsignal_rows_total", **replies, outcome="retried") == 1

        # A stopped session: its status, its waiting worker, and the age of what waits.
        w.waha.set_session_status("business", "STOPPED")
        await w.until(lambda: has("whatsignal_workers", 1, state="waiting for WORKING"))
        page = await metrics(w)
        assert sample(page, "whatsignal_sessions", status="STOPPED") == 1
        assert sample(page, "whatsignal_sessions", status="WORKING") == 1
        assert sample(page, "whatsignal_workers", state="running") == 1
        held = w.signal.inject_envelope(BOB_PHONE, message="held")

        async def waits() -> bool:
            age = await metric(w, "whatsignal_journal_oldest_pending_seconds", queue="business")
            return age is not None and age > 0

        await w.until(waits)
        assert await metric(w, "whatsignal_journal_pending", queue="business") == 1

        w.waha.set_session_status("business", "WORKING")
        assert await w.envelopes_done(held) == ["done"]
        await w.until(lambda: has("whatsignal_sessions", 2, status="WORKING"))
        page = await metrics(w)
        assert sample(page, "whatsignal_sessions", status="STOPPED") is None
        assert sample(page, "whatsignal_workers", state="waiting for WORKING") is None
        assert sample(page, "whatsignal_journal_oldest_pending_seconds", queue="business") is None


# ---- /readyz -------------------------------------------------------------------------------


async def test_readyz_is_degraded_while_a_session_is_stopped(tmp_path: Path) -> None:
    async with world(tmp_path, extra=FAST_LISTING) as w:

        async def state_is(expected: str) -> bool:
            code, body = await readiness(w)
            return code == 200 and body["status"] == expected

        await w.until(lambda: state_is("ok"))
        code, body = await readiness(w)
        assert body["checks"] == {"storage": "ok", "whatsapp": "ok", "signal": "ok"}

        w.waha.set_session_status("business", "STOPPED")
        await w.until(lambda: state_is("degraded"))
        code, body = await readiness(w)
        assert code == 200  # degraded is still ready: what arrives is journaled
        assert body["checks"]["sessions"] == {"business": "STOPPED"}
        assert (body["checks"]["storage"], body["checks"]["whatsapp"]) == ("ok", "ok")

        w.waha.set_session_status("business", "WORKING")
        await w.until(lambda: state_is("ok"))
        code, body = await readiness(w)
        assert "sessions" not in body["checks"]
