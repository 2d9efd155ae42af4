"""FakeWaha's session lifecycle as a bridge sees it: ``session.status`` events shaped as the spec
and the docs say, timestamps that order a session's changes, the ``statuses`` history, the
transitions of every session operation, a listing that agrees with the events, and deletion
that frees what the fake kept for the session (also for 100 sessions at a time).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import trio
import trio.testing
from waha_receiver import Receiver, serve_receiver, start_fake

import whatsignal.testing._waha_state as waha_state
from whatsignal.testing._waha_contract import WahaChecker
from whatsignal.testing.contract import ContractViolation
from whatsignal.testing.waha import FakeWaha

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    return await serve_receiver(nursery)


def status_events(fake: FakeWaha, session: str | None = None) -> list[dict[str, Any]]:
    """The ``session.status`` envelopes emitted (of one session), in emission order."""
    return [
        e
        for e in fake.events
        if e["event"] == "session.status" and (session is None or e["session"] == session)
    ]


def statuses(fake: FakeWaha, session: str) -> list[str]:
    return [e["payload"]["status"] for e in status_events(fake, session)]


def ulid_ms(event_id: str) -> int:
    """The millisecond time inside an ``evt_<ulid>`` id (its first 10 characters)."""
    value = 0
    for char in event_id.removeprefix("evt_")[:10]:
        value = value * 32 + CROCKFORD.index(char)
    return value


# Event shape ------------------------------------------------------------------------------


async def test_every_session_status_event_has_the_spec_and_docs_shape(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start_fake(nursery)
    # A new, unpaired session: STARTING, then SCAN_QR_CODE; a passkey detour; a "scan".
    await client.post("/api/sessions", json={"name": "life"})
    with trio.fail_after(2):
        await fake.wait_for_status("life", "SCAN_QR_CODE")
    fake.set_session_status("life", "PASSKEY_REQUIRED")
    fake.set_session_status("life", "PASSKEY_CONFIRMATION_REQUIRED")
    fake.set_session_status("life", "WORKING")
    await client.post("/api/sessions/life/restart")
    with trio.fail_after(2):
        await fake.wait_for_status("life", "WORKING")
    fake.set_session_status("life", "FAILED")
    await client.post("/api/sessions/life/logout")
    with trio.fail_after(2):
        await fake.wait_for_status("life", "SCAN_QR_CODE")
    await client.delete("/api/sessions/life")
    assert statuses(fake, "life") == [
        "STARTING",
        "SCAN_QR_CODE",
        "PASSKEY_REQUIRED",
        "PASSKEY_CONFIRMATION_REQUIRED",
        "WORKING",
        "STOPPED",  # restart
        "STARTING",
        "WORKING",
        "FAILED",
        "STOPPED",  # logout: stop, log out, start
        "STARTING",
        "SCAN_QR_CODE",
        "STOPPED",  # delete
    ]
    checker = WahaChecker()
    for body in status_events(fake, "life"):
        # The full spec (WAHAWebhookSessionStatus), forgiving only the named deviations.
        assert checker.check_webhook("session.status", body) <= {
            "event-typed-object",
            "nullable-keyword",
        }
        payload = body["payload"]
        working = payload["status"] == "WORKING"
        assert list(body) == ["id", "timestamp", "event", "session"] + (
            ["me"] if working else []
        ) + ["payload", "engine", "environment"]
        assert re.fullmatch(r"evt_[0-9a-hjkmnp-tv-z]{26}", body["id"])
        assert list(payload) == ["name", "status", "statuses", "data"]
        assert payload["name"] == body["session"] == "life"
        assert body["engine"] == body["environment"]["engine"] == "WEBJS"
        # The envelope's timestamp is the change's own: the last point of the history.
        assert payload["statuses"][-1] == {
            "status": payload["status"],
            "timestamp": body["timestamp"],
        }
        assert ulid_ms(body["id"]) == body["timestamp"]
        assert 1 <= len(payload["statuses"]) <= 3
        if payload["status"] == "PASSKEY_REQUIRED":
            assert payload["data"]["rpId"] == "web.whatsapp.com"
            assert payload["data"]["challenge"]
        elif payload["status"] == "PASSKEY_CONFIRMATION_REQUIRED":
            assert re.fullmatch(r"\d{4}", payload["data"]["code"])
        else:
            assert payload["data"] is None


async def test_session_status_events_are_checked_against_the_spec(nursery: trio.Nursery) -> None:
    fake, _ = await start_fake(nursery)
    point_without_time = {"name": "default", "status": "WORKING", "statuses": [{"status": "X"}]}
    with pytest.raises(ContractViolation, match=r"webhook session\.status"):
        fake.inject_event("session.status", "default", point_without_time)
    with pytest.raises(ContractViolation, match=r"webhook session\.status"):
        fake.inject_event("session.status", "default", {"name": "default", "status": "ASLEEP"})
    assert status_events(fake) == []
    assert len(fake.violations) == 2


async def test_data_is_the_tests_and_a_repeated_working_needs_new_data(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start_fake(nursery)
    fake.set_session_status("default", "WORKING")  # already WORKING: WAHA drops the repeat
    timelock = {"reachoutTimelock": {"isActive": True, "timeEnforcementEnds": 1784477333}}
    fake.set_session_status("default", "WORKING", data=timelock)  # re-issued with data
    lifted = await client.post(
        "/_sim/sessions",
        json={"name": "default", "status": "WORKING", "data": {"reachoutTimelock": None}},
    )
    assert lifted.status_code == 200
    fake.set_session_status("default", "SCAN_QR_CODE")
    fake.set_session_status("default", "SCAN_QR_CODE")  # a QR refresh: announced again
    events = status_events(fake, "default")
    assert [(e["payload"]["status"], e["payload"]["data"]) for e in events] == [
        ("WORKING", timelock),
        ("WORKING", {"reachoutTimelock": None}),
        ("SCAN_QR_CODE", None),
        ("SCAN_QR_CODE", None),
    ]
    bad = await client.post("/_sim/sessions", json={"name": "default", "data": []})
    assert bad.status_code == 400
    with pytest.raises(ValueError, match="data must be an object"):
        fake.set_session_status("default", "FAILED", data=[])  # type: ignore[arg-type]


# Timestamps and history -------------------------------------------------------------------


async def test_timestamps_strictly_increase_even_within_one_millisecond(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, _ = await start_fake(nursery)
    frozen = 1_700_000_000_000
    monkeypatch.setattr(waha_state, "now_ms", lambda: frozen)
    fake.create_session("same-ms", start=False)  # STOPPED at `frozen`, without an event
    for status in ["STARTING", "SCAN_QR_CODE", "WORKING", "FAILED", "STOPPED"]:
        fake.set_session_status("same-ms", status)
    stamps = [e["timestamp"] for e in status_events(fake, "same-ms")]
    assert stamps == [frozen + 1, frozen + 2, frozen + 3, frozen + 4, frozen + 5]
    last = status_events(fake, "same-ms")[-1]["payload"]["statuses"]
    assert [p["timestamp"] for p in last] == [frozen + 3, frozen + 4, frozen + 5]


async def test_statuses_are_the_last_three_changes_oldest_first(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery)
    # The session was WORKING when the fake started: that point has no event of its own.
    (initial,) = fake.session("default").history
    for action in ["stop", "start", "restart", "stop", "logout", "start"]:
        await client.post(f"/api/sessions/default/{action}")
        with trio.fail_after(2):
            while fake.session("default").pending is not None:
                await fake.session("default").changed.wait()
    events = status_events(fake, "default")
    assert statuses(fake, "default") == [
        "STOPPED",
        "STARTING",
        "WORKING",
        "STOPPED",  # restart
        "STARTING",
        "WORKING",
        "STOPPED",
        "STARTING",  # start after logout: no pairing any more
        "SCAN_QR_CODE",
    ]
    previous = [{"status": initial[0], "timestamp": initial[1]}]
    for event in events:
        now = {"status": event["payload"]["status"], "timestamp": event["timestamp"]}
        points = event["payload"]["statuses"]
        assert points == [*previous, now][-3:]  # oldest first, the current one last
        assert [p["timestamp"] for p in points] == sorted({p["timestamp"] for p in points})
        previous = points
    assert len(events[-1]["payload"]["statuses"]) == 3


# Transitions ------------------------------------------------------------------------------


async def test_every_operation_announces_its_transitions(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery)

    async def step(action: str, settle: str | None = None) -> list[str]:
        before = len(statuses(fake, "default"))
        if action == "delete":
            await client.delete("/api/sessions/default")
        else:
            await client.post(f"/api/sessions/default/{action}")
        if settle:
            with trio.fail_after(2):
                await fake.wait_for_status("default", settle)
        return statuses(fake, "default")[before:]

    assert await step("stop") == ["STOPPED"]
    assert await step("stop") == []  # idempotent
    assert await step("start", "WORKING") == ["STARTING", "WORKING"]
    assert await step("restart", "WORKING") == ["STOPPED", "STARTING", "WORKING"]
    fake.set_session_status("default", "FAILED")
    assert await step("restart", "WORKING") == ["STOPPED", "STARTING", "WORKING"]
    assert await step("logout", "SCAN_QR_CODE") == ["STOPPED", "STARTING", "SCAN_QR_CODE"]
    assert await step("stop") == ["STOPPED"]
    assert await step("logout") == []  # stopped: stays STOPPED
    assert await step("start", "SCAN_QR_CODE") == ["STARTING", "SCAN_QR_CODE"]
    assert await step("delete") == ["STOPPED"]  # delete: stop, and nothing of its own
    assert (await client.get("/api/sessions/default")).status_code == 404


async def test_deleting_a_stopped_session_says_nothing(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery, sessions=("quiet", "other"))
    await client.post("/api/sessions/quiet/stop")
    await client.delete("/api/sessions/quiet")
    await client.post("/api/sessions/other/stop")  # the fact to wait for: a later event
    assert [(e["session"], e["payload"]["status"]) for e in status_events(fake)] == [
        ("quiet", "STOPPED"),
        ("other", "STOPPED"),
    ]
    assert not fake.has_session("quiet")


# Listing agrees with the events ----------------------------------------------------------


async def test_listing_agrees_with_the_events_at_every_moment(
    nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, client = await start_fake(nursery, sessions=("a", "b"))
    emit = FakeWaha.emit
    checked: list[str] = []

    def emit_and_compare(
        self: FakeWaha, event: str, session: str, payload: Any, **kwargs: Any
    ) -> Any:
        # The moment an event is created, what GET /api/sessions/{name} answers agrees.
        body = emit(self, event, session, payload, **kwargs)
        if event == "session.status":
            info = self.session(session).info(self.engine)
            assert info["status"] == payload["status"]
            assert ("me" in info) == ("me" in body)
            checked.append(payload["status"])
        return body

    monkeypatch.setattr(FakeWaha, "emit", emit_and_compare)

    async def compare_over_http() -> None:
        # Over HTTP, only while no transition is scheduled (so none happens during the calls).
        assert all(fake.session(n).pending is None for n in fake.session_names())
        last = {e["session"]: e["payload"]["status"] for e in status_events(fake)}
        everything = (await client.get("/api/sessions", params={"all": "true"})).json()
        running = (await client.get("/api/sessions")).json()
        listed = {s["name"]: s["status"] for s in everything}
        assert set(listed) == set(fake.session_names())
        assert {s["name"] for s in running} == {n for n, st in listed.items() if st != "STOPPED"}
        for name, status in listed.items():
            one = (await client.get(f"/api/sessions/{name}")).json()
            assert one["status"] == status
            assert last.get(name, "WORKING") == status  # initial sessions start WORKING
        for name in set(last) - set(listed):
            assert (await client.get(f"/api/sessions/{name}")).status_code == 404

    await compare_over_http()
    await client.post("/api/sessions", json={"name": "c"})  # STARTING: checked at its emit
    with trio.fail_after(2):
        await fake.wait_for_status("c", "SCAN_QR_CODE")
    await compare_over_http()
    await client.post("/api/sessions/a/stop")
    await compare_over_http()
    fake.set_session_status("b", "FAILED")
    await compare_over_http()
    await client.post("/api/sessions/a/restart")
    with trio.fail_after(2):
        await fake.wait_for_status("a", "WORKING")
    await compare_over_http()
    await client.delete("/api/sessions/c")
    await compare_over_http()
    assert checked == [
        "STARTING",  # c created
        "SCAN_QR_CODE",
        "STOPPED",  # a stopped
        "FAILED",  # b
        "STARTING",  # a restarted (stopped: only the start)
        "WORKING",
        "STOPPED",  # c deleted
    ]


# Delete frees, churn ----------------------------------------------------------------------


async def test_delete_frees_what_the_fake_kept_for_the_session(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery, sessions=("default", "gone"))
    shared = fake.inject_message("gone", from_="4917111", body="seen by both")
    fake.remember(shared, "default")
    own = fake.inject_message("gone", from_="4917111", body="photo", media=b"\xff\xd8jpeg")
    file_name = own["media"]["url"].rsplit("/", 1)[1]
    assert fake.get_file("gone", file_name) is not None
    # A transition under way: its task must end when the session goes.
    await trio.testing.wait_all_tasks_blocked()
    baseline = len(fake.nursery.child_tasks)
    fake.create_session("starting", paired=True)
    assert len(fake.nursery.child_tasks) == baseline + 1
    await client.delete("/api/sessions/starting")
    await client.delete("/api/sessions/gone")
    assert not fake.has_session("gone") and not fake.has_session("starting")
    assert fake.history("gone", "4917111@c.us") == []
    assert fake.message(own["id"]) is None
    assert fake.message(shared["id"]) == shared  # still in the other session's history
    assert fake.get_file("gone", file_name) is None
    await trio.testing.wait_all_tasks_blocked()
    assert len(fake.nursery.child_tasks) == baseline
    assert (await client.get("/api/sessions/gone")).status_code == 404


async def test_a_churn_of_100_sessions_is_fast_and_leaks_nothing(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(
        nursery, webhook_url=receiver.url, webhook_events=("session.status",)
    )
    await trio.testing.wait_all_tasks_blocked()
    baseline = len(fake.nursery.child_tasks)
    rounds, size = 3, 100
    started = time.perf_counter()
    for round_ in range(rounds):
        for i in range(size):
            response = await client.post("/api/sessions", json={"name": f"churn-{round_}-{i}"})
            assert response.status_code == 201
        for i in range(size):
            assert (await client.delete(f"/api/sessions/churn-{round_}-{i}")).status_code == 200
        assert fake.session_names() == ["default"]
    elapsed = time.perf_counter() - started
    assert elapsed < 15, f"{rounds} x {size} sessions took {elapsed:.1f} s"
    # Every event reached the receiver; then no task of the fake is left but the server's.
    emitted = len(status_events(fake))
    assert emitted >= rounds * size * 2  # at least STARTING and STOPPED each
    with trio.fail_after(10):
        await fake.wait_for_deliveries(emitted)
        while len(fake.nursery.child_tasks) > baseline:
            await trio.sleep(0.01)
    assert all(d.ok for d in fake.deliveries)
    assert len(receiver.requests) == emitted
    body = (await client.get("/api/sessions", params={"all": "true"})).json()
    assert [s["name"] for s in body] == ["default"]


async def test_a_churned_name_can_come_back(nursery: trio.Nursery) -> None:
    fake, client = await start_fake(nursery, auto_pair=True)
    for _ in range(3):
        assert (await client.post("/api/sessions", json={"name": "again"})).status_code == 201
        with trio.fail_after(2):
            await fake.wait_for_status("again", "WORKING")
        await client.delete("/api/sessions/again")
    assert statuses(fake, "again") == ["STARTING", "WORKING", "STOPPED"] * 3
