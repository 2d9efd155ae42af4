"""The session table's decisions: slots under the cap, left-out sessions served in turn, stopped
sessions waiting, and status events applied in WAHA's time order."""

from __future__ import annotations

from whatsignal.actors.session_table import SessionTable, Verdict, WorkerState


def table(
    *,
    configured: tuple[str, ...] = ("static",),
    cap: int = 2,
    discover: bool = True,
    serves: frozenset[str] | None = None,
) -> SessionTable:
    served = serves
    return SessionTable(
        configured=frozenset(configured),
        serves=(lambda s: True) if served is None else served.__contains__,
        discover=discover,
        cap=cap,
    )


def test_configured_sessions_always_have_a_poller_whatever_their_state() -> None:
    t = table()
    assert t.desired() == {"static"}
    t.observe("static", "STOPPED", now=0)
    assert t.desired() == {"static"}
    assert not t.working("static")
    assert t.worker_state("static", has_poller=True) is WorkerState.WAITING
    t.observe("static", "WORKING", now=1)
    assert t.worker_state("static", has_poller=True) is WorkerState.RUNNING


def test_unknown_status_counts_as_working() -> None:
    t = table()
    assert t.working("static")  # nothing known yet: the send finds out
    assert t.working("never-heard-of")


def test_the_cap_holds_and_left_out_sessions_take_freed_slots_in_turn() -> None:
    t = table(cap=2)
    for name in ("a", "b", "c", "d"):
        t.observe(name, "WORKING", now=0)
    assert t.desired() == {"static", "a", "b"}
    assert [e.name for e in t.entries() if e.left_out] == ["c", "d"]
    assert t.worker_state("c", has_poller=False) is WorkerState.LEFT_OUT
    t.observe("a", "STOPPED", now=1)  # a stopped session frees its slot at once ...
    assert t.desired() == {"static", "a", "b", "c"}  # ... keeps its poller, waiting
    assert t.entry("a").waiting  # type: ignore[union-attr]
    t.forget("b")  # b disappeared from WAHA
    assert t.desired() == {"static", "a", "c", "d"}
    t.observe("a", "WORKING", now=2)  # back, but every slot is taken now
    assert t.desired() == {"static", "c", "d"}
    assert t.entry("a").left_out  # type: ignore[union-attr]


def test_a_session_that_shows_up_with_work_takes_a_slot_too() -> None:
    t = table(cap=1)
    assert t.observe("a", None, now=0) is not None  # a message webhook, status not known yet
    t.observe("b", None, now=0)
    assert t.desired() == {"static", "a"}
    assert t.entry("b").left_out  # type: ignore[union-attr]
    assert t.status("a") is None


def test_without_discovery_only_configured_sessions_are_known() -> None:
    t = table(discover=False)
    assert t.observe("a", "WORKING", now=0) is None
    assert t.known() == []
    assert t.observe("static", "WORKING", now=0) is not None
    assert t.known() == ["static"]


def test_sessions_without_a_channel_are_not_served() -> None:
    t = table(serves=frozenset({"mine"}))
    assert t.observe("theirs", "WORKING", now=0) is None
    assert t.observe("mine", "WORKING", now=0) is not None
    assert t.desired() == {"static", "mine"}


def test_status_events_apply_in_waha_time_order() -> None:
    t = table()
    assert t.verdict("static", "STARTING", 1000) is Verdict.APPLY
    t.observe("static", "STARTING", now=0, at=1000)
    t.observe("static", "WORKING", now=0, at=2000)
    assert t.verdict("static", "STARTING", 1500) is Verdict.STALE  # delivered late
    assert t.verdict("static", "WORKING", 2000) is Verdict.APPLY  # a duplicate: harmless
    assert t.verdict("static", "STOPPED", 2000) is Verdict.ASK  # same instant: who knows
    assert t.verdict("static", "STOPPED", None) is Verdict.ASK  # no time given
    assert t.verdict("static", "STOPPED", 3000) is Verdict.APPLY


def test_after_a_listing_the_next_event_is_checked_with_waha() -> None:
    t = table()
    t.observe("static", "STARTING", now=0, at=1000)
    t.observe("static", "WORKING", now=1, listed=True)
    # The listing saw a state after the last event: an event newer than that one may still
    # be older than what the listing saw.
    assert t.verdict("static", "STARTING", 1500) is Verdict.ASK
    t.observe("static", "WORKING", now=2, at=1500, listed=False)
    assert t.verdict("static", "STOPPED", 1600) is Verdict.APPLY


def test_starting_since_and_forget_release_everything() -> None:
    t = table()
    t.observe("a", "STARTING", now=5)
    t.observe("a", "STARTING", now=9)
    assert t.entry("a").starting_since == 5  # type: ignore[union-attr]
    t.observe("a", "WORKING", now=10)
    assert t.entry("a").starting_since is None  # type: ignore[union-attr]
    t.forget("a")
    assert t.entry("a") is None
    assert t.known() == []


def test_gone_lists_known_sessions_a_listing_no_longer_shows() -> None:
    t = table()
    for name in ("static", "a", "b"):
        t.observe(name, "WORKING", now=0)
    assert t.gone(["static", "b"]) == ["a"]
    assert t.gone([]) == ["a", "b"]  # configured sessions are never gone


def test_an_event_without_a_time_about_a_new_session_is_checked_with_waha() -> None:
    t = table()
    assert t.verdict("new", "WORKING", None) is Verdict.ASK
    assert t.verdict("new", "WORKING", 1000) is Verdict.APPLY


def test_left_out_sessions_take_a_freed_slot_in_the_order_they_were_left_out() -> None:
    t = table(cap=1)
    t.observe("a", "WORKING", now=0)  # a has the slot
    t.observe("a", "STOPPED", now=1)  # ... and frees it: b takes it
    t.observe("b", "WORKING", now=2)
    t.observe("c", "WORKING", now=3)  # left out first
    t.observe("a", "WORKING", now=4)  # back, left out after c
    assert [e.name for e in t.entries() if e.left_out] == ["a", "c"]
    t.forget("b")
    assert t.desired() == {"static", "c"}
    assert t.worker_state("c", has_poller=True) is WorkerState.RUNNING  # no longer left out
    assert t.worker_state("a", has_poller=False) is WorkerState.LEFT_OUT
