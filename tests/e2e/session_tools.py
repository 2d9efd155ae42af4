"""Helpers of the session end-to-end tests (test_sessions.py), on top of ``bridge_harness``.

A ``"*"`` channel beside a configured one, the status and metrics pages, a barrier that proves
the session monitor has applied every ``session.status`` event delivered so far, a request spy
on the simulators, the notices about replies that wait, and a census of the bridge's trio tasks.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import trio
from bridge_harness import ALICE_PHONE, World
from e2e_tools import get, signal_texts

from whatsignal.testing import Fault

# The configured session "personal" and a "*" channel for every session WAHA has besides.
STAR_CHANNELS: list[dict[str, Any]] = [
    {"whatsappSessionName": "personal", "signalDestinationPhoneNumber": ALICE_PHONE},
    {"whatsappSessionName": "*", "signalDestinationPhoneNumber": ALICE_PHONE},
]


async def session_status(w: World) -> dict[str, Any]:
    """``GET /session/status`` (open without a token in development mode)."""
    response = await get(w, "/session/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sessions_shown(w: World) -> dict[str, dict[str, Any]]:
    """Per session, what ``/session/status`` shows."""
    shown: dict[str, dict[str, Any]] = (await session_status(w))["sessions"]
    return shown


async def metrics_text(w: World) -> str:
    response = await get(w, "/metrics")
    assert response.status_code == 200, response.text
    return response.text


def spy(fake: Any, path: str, method: str = "GET") -> Fault:
    """Count the requests a simulator gets on ``path`` (a glob) without changing them: a fault
    with no status, drop or latency lets the request through and only counts it (``hits``)."""
    found = Fault(path=path, method=method, count=None)
    fake.add_fault(found)
    return found


def waiting_notices(w: World) -> list[str]:
    """The notices the user got in Signal that replies wait for their session."""
    return [t for t in signal_texts(w, ALICE_PHONE) if t.startswith("⏸️ whatsignal:")]


def delivered_notices(w: World) -> list[str]:
    """The notices the user got in Signal that replies that waited have gone."""
    return [t for t in signal_texts(w, ALICE_PHONE) if t.startswith("▶️ whatsignal:")]


def status_events_answered(w: World, session: str) -> bool:
    """Whether the bridge answered 2xx to every ``session.status`` event of ``session`` that
    WAHA has emitted (a duplicated one: to its second copy as well)."""
    ids = {
        e["id"] for e in w.waha.events if e["event"] == "session.status" and e["session"] == session
    }
    return ids <= {d.event_id for d in w.waha.deliveries if d.ok}


_probes = itertools.count(1)


async def monitor_caught_up(w: World, session: str = "personal") -> None:
    """Barrier: the session monitor has applied every ``session.status`` event that the bridge
    had been handed before this call.

    The intake hands status events to the monitor over one channel, in the order they arrive,
    and the monitor applies them one at a time. So a probe event sent now, once applied, proves
    every earlier one applied (and the monitor's first listing is over: it comes before any
    event). The probe is a WORKING with new ``data`` for a configured, WORKING session (WAHA
    announces such a change, e.g. a reachout timelock): it changes no status, only the time of
    the session's last change that the bridge records.
    """
    assert w.waha.session(session).status == "WORKING", f"the probe needs {session} WORKING"
    w.waha.set_session_status(session, "WORKING", data={"probe": next(_probes)})
    probe = w.waha.events[-1]
    assert probe["event"] == "session.status" and probe["session"] == session

    def applied() -> bool:
        found = w.parts.sessions.entry(session)
        return found is not None and (found.status_at or 0) >= probe["timestamp"]

    await w.until(applied)


def bridge_tasks(w: World) -> Counter[str]:
    """The bridge's trio tasks now, counted by name (everything under ``Bridge.run``)."""
    root = trio.lowlevel.current_root_task()
    found: Counter[str] = Counter()

    def walk(task: trio.lowlevel.Task, inside: bool) -> None:
        inside = inside or task.name.endswith("Bridge.run")
        if inside:
            found[task.name] += 1
            if task.name.endswith("_run_handler"):
                return  # one connection of the HTTP server: its tasks are hypercorn's
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child, inside)

    walk(root, False)
    assert found, "no Bridge.run task found"
    return found


def census(w: World) -> Counter[str]:
    """The bridge's own tasks by name, without the HTTP server's per-connection handlers: those
    follow the peers' keep-alive connection pools (bounded by them, not by session names)."""
    return Counter(
        {name: n for name, n in bridge_tasks(w).items() if not name.endswith("_run_handler")}
    )
