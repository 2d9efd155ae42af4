"""FakeWaha's delivery rules: webhook deliveries held and released in another order, delayed
while later ones overtake, or delivered twice with the same event id, as WAHA's concurrent,
independently retried sends can do. Every negative check waits for a later delivery first.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from waha_receiver import Receiver, serve_receiver, start_fake

from whatsignal.testing._waha_disorder import DeliveryRules, Hold, rule_from_json
from whatsignal.testing.waha import FakeWaha


@pytest.fixture
async def receiver(nursery: trio.Nursery) -> Receiver:
    return await serve_receiver(nursery)


def inject(fake: FakeWaha, *bodies: str, session: str = "default") -> list[str]:
    """Inject one message per body; returns the event ids, in the order they happened."""
    ids = []
    for body in bodies:
        fake.inject_message(session, from_="4917111", body=body)
        ids.append(fake.events[-1]["id"])
    return ids


# Hold -------------------------------------------------------------------------------------


async def test_held_session_status_events_arrive_reversed_and_timestamps_restore_the_order(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(
        nursery, webhook_url=receiver.url, webhook_events=("session.status", "message")
    )
    fake.hold_deliveries(3, session="default", event="session.status")
    await client.post("/api/sessions/default/restart")  # STOPPED, STARTING, then WORKING
    await receiver.wait_for(3)
    arrived = receiver.bodies()
    assert [b["payload"]["status"] for b in arrived] == ["WORKING", "STARTING", "STOPPED"]
    in_order = sorted(arrived, key=lambda b: b["timestamp"])
    assert [b["payload"]["status"] for b in in_order] == ["STOPPED", "STARTING", "WORKING"]
    # The hold is spent: the next events go as usual.
    (later,) = inject(fake, "after the hold")
    await receiver.wait_for(4)
    assert receiver.ids()[-1] == later


async def test_a_hold_catches_only_its_session_and_event_and_follows_the_given_order(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, _ = await start_fake(
        nursery,
        sessions=("a", "b"),
        webhook_url=receiver.url,
        webhook_events=("message", "session.status"),
    )
    hold = fake.hold_deliveries(3, session="b", event="message", order=(1, 2, 0))
    held = inject(fake, "b0", "b1", session="b")
    fake.set_session_status("b", "FAILED")  # another event of b: not caught
    (passing,) = inject(fake, "a0", session="a")
    await receiver.wait_for(2)  # the fact: b's status and a's message went through
    assert set(receiver.ids()) == {fake.events[-2]["id"], passing}
    assert hold.held == 2
    held += inject(fake, "b2", session="b")  # the third: the hold lets them go
    await receiver.wait_for(5)
    assert receiver.ids()[2:] == [held[1], held[2], held[0]]
    assert hold.to_json() == {
        "kind": "hold",
        "session": "b",
        "event": "message",
        "count": 3,
        "caught": 3,
        "order": [1, 2, 0],
        "held": 0,
        "released": True,
    }


async def test_each_webhook_url_is_its_own_delivery(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(nursery, webhook_url=receiver.url, webhook_events=("message",))
    config = {"webhooks": [{"url": receiver.url, "events": ["message"]}]}
    await client.put("/api/sessions/default", json={"config": config})
    with trio.fail_after(2):
        await fake.wait_for_status("default", "WORKING")
    fake.hold_deliveries(2, event="message")
    (event_id,) = inject(fake, "to two urls")  # global + session webhook: both caught
    await receiver.wait_for(2)
    assert receiver.ids() == [event_id, event_id]
    request_ids = {headers["x-webhook-request-id"] for headers, _ in receiver.requests}
    assert len(request_ids) == 2  # two deliveries, each its own request id


async def test_release_lets_a_partial_hold_go_in_its_order(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(nursery, webhook_url=receiver.url)
    response = await client.post("/_sim/deliveries/hold", json={"count": 5, "event": "message"})
    assert response.status_code == 201
    assert response.json()["order"] == [4, 3, 2, 1, 0]
    held = inject(fake, "m0", "m1", "m2")
    rules = (await client.get("/_sim/deliveries/rules")).json()
    assert [(r["kind"], r["held"], r["released"]) for r in rules] == [("hold", 3, False)]
    released = await client.post("/_sim/deliveries/release")
    assert released.json() == {"released": 3}
    await receiver.wait_for(3)
    assert receiver.ids() == held[::-1]
    (later,) = inject(fake, "not held: the hold has ended")
    await receiver.wait_for(4)
    assert receiver.ids()[-1] == later
    assert (await client.post("/_sim/deliveries/release")).json() == {"released": 0}


async def test_clearing_the_rules_or_a_reset_lets_held_deliveries_go(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(nursery, webhook_url=receiver.url)
    fake.hold_deliveries(3)
    held = inject(fake, "x", "y")
    cleared = await client.delete("/_sim/deliveries/rules")
    assert cleared.json() == {"released": 2, "rules": 0}
    await receiver.wait_for(2)
    assert receiver.ids() == held[::-1]
    fake.hold_deliveries(2)
    (again,) = inject(fake, "z")
    fake.reset()
    await receiver.wait_for(3)
    assert receiver.ids()[-1] == again
    assert fake.delivery_rules.rules == []


async def test_a_held_delivery_that_fails_is_retried_while_the_next_one_goes(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    receiver.statuses = [500]  # the first request to arrive (the second event) fails once
    fake, _ = await start_fake(nursery, webhook_url=receiver.url, webhook_retry_delay=0.2)
    fake.hold_deliveries(2)
    first, second = inject(fake, "first", "second")
    await receiver.wait_for(3)
    assert receiver.ids() == [second, first, second]
    with trio.fail_after(2):
        await fake.wait_for_deliveries(3)
    assert sorted((d.event_id == second, d.attempt, d.status) for d in fake.deliveries) == [
        (False, 1, 200),
        (True, 1, 500),
        (True, 2, 200),
    ]


# Delay ------------------------------------------------------------------------------------


async def test_a_delayed_delivery_is_overtaken_by_the_next_events(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(nursery, webhook_url=receiver.url)
    response = await client.post(
        "/_sim/deliveries/delay", json={"seconds": 0.5, "session": "default"}
    )
    assert response.status_code == 201
    assert response.json()["seconds"] == 0.5
    slow, fast1, fast2 = inject(fake, "slow", "fast 1", "fast 2")
    await receiver.wait_for(2)
    assert set(receiver.ids()) == {fast1, fast2}
    await receiver.wait_for(3)
    assert receiver.ids()[-1] == slow


# Duplicate --------------------------------------------------------------------------------


async def test_a_lost_answer_delivers_the_same_event_twice(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, client = await start_fake(nursery, webhook_url=receiver.url, webhook_hmac_key="k")
    response = await client.post("/_sim/deliveries/duplicate", json={"event": "message"})
    assert response.status_code == 201
    (twice,) = inject(fake, "twice")
    await receiver.wait_for(2)
    (headers1, raw1), (headers2, raw2) = receiver.requests
    assert raw1 == raw2  # the same body: same id, same timestamp, same signature
    assert headers1["x-webhook-request-id"] == headers2["x-webhook-request-id"]
    assert headers1["x-webhook-hmac"] == headers2["x-webhook-hmac"]
    assert receiver.ids() == [twice, twice]
    with trio.fail_after(2):
        await fake.wait_for_deliveries(2)
    assert [(d.attempt, d.status, d.lost, d.ok) for d in fake.deliveries] == [
        (1, 200, True, False),
        (2, 200, False, True),
    ]
    assert fake.deliveries[0].to_json()["lost"] is True
    (once,) = inject(fake, "once")  # the rule is spent
    await receiver.wait_for(3)
    with trio.fail_after(2):
        await fake.wait_for_deliveries(3)
    assert receiver.ids() == [twice, twice, once]


async def test_no_retries_left_means_no_second_copy(
    nursery: trio.Nursery, receiver: Receiver
) -> None:
    fake, _ = await start_fake(nursery, webhook_url=receiver.url, webhook_retry_attempts=0)
    fake.duplicate_deliveries()
    first, second = inject(fake, "lost answer, no retry", "next")
    await receiver.wait_for(2)
    with trio.fail_after(2):
        await fake.wait_for_deliveries(2)
    assert sorted(receiver.ids()) == sorted([first, second])
    assert sorted((d.event_id == first, d.lost) for d in fake.deliveries) == [
        (False, False),
        (True, True),
    ]


async def test_rules_combine(nursery: trio.Nursery, receiver: Receiver) -> None:
    fake, _ = await start_fake(nursery, webhook_url=receiver.url)
    fake.hold_deliveries(2)
    fake.hold_deliveries(1)  # a delivery is held by one hold only: this one gets the third
    fake.duplicate_deliveries(count=2)
    first, second, third = inject(fake, "a", "b", "c")
    await receiver.wait_for(5)
    ids = receiver.ids()
    assert ids.index(second) < ids.index(first)  # the first hold, reversed
    assert sorted(ids) == sorted([first, first, second, second, third])
    with trio.fail_after(2):
        await fake.wait_for_deliveries(5)
    # The third was not duplicated, and WAHA counts it delivered: no copy can follow.
    assert sorted((d.event_id, d.lost) for d in fake.deliveries) == sorted(
        [(first, True), (first, False), (second, True), (second, False), (third, False)]
    )


# Control input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        ("hold", {}, "'count' is required"),
        ("hold", {"count": 0}, "positive integer"),
        ("hold", {"count": 2, "order": [0, 0]}, "each of 0..1 once"),
        ("hold", {"count": 2, "order": "sideways"}, "reverse"),
        ("hold", {"count": 1, "session": 7}, "'session' must be a string"),
        ("hold", {"count": 10**18}, "at most 1000 deliveries"),
        ("delay", {}, "'seconds' is required"),
        ("delay", {"seconds": -1}, "must not be negative"),
        ("delay", {"seconds": "soon"}, "must be a number"),
        ("delay", {"seconds": 1e300}, "at most 86400"),
        ("duplicate", {"count": True}, "positive integer"),
        ("duplicate", {"times": 2}, "unknown field"),
    ],
)
async def test_bad_rules_are_refused_with_a_reason(
    nursery: trio.Nursery, kind: str, body: dict[str, Any], reason: str
) -> None:
    fake, client = await start_fake(nursery)
    response = await client.post(f"/_sim/deliveries/{kind}", json=body)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert fake.delivery_rules.rules == []


async def test_the_rule_routes_are_listed(nursery: trio.Nursery) -> None:
    _, client = await start_fake(nursery)
    routes = {(r["method"], r["path"]) for r in (await client.get("/_sim/")).json()["routes"]}
    assert {
        ("POST", "/_sim/deliveries/hold"),
        ("POST", "/_sim/deliveries/delay"),
        ("POST", "/_sim/deliveries/duplicate"),
        ("POST", "/_sim/deliveries/release"),
        ("GET", "/_sim/deliveries/rules"),
        ("DELETE", "/_sim/deliveries/rules"),
    } <= routes


def test_rules_match_and_plan_without_a_running_fake() -> None:
    rules = DeliveryRules()
    assert rules.plan("default", "message") is None  # no rules: deliver as usual
    rules.add(rule_from_json("delay", {"seconds": 1, "count": 2, "event": "message"}))
    rules.add(rule_from_json("duplicate", {"session": "s"}))
    plan = rules.plan("s", "message")
    assert plan is not None and (plan.delay, plan.lose_answers, plan.slot) == (1.0, 1, None)
    assert rules.plan("s", "session.status") is None  # the duplicate is spent
    assert rules.plan("t", "message") is not None
    assert rules.plan("t", "message") is None
    fake = FakeWaha()
    with pytest.raises(ValueError, match="reverse"):
        fake.hold_deliveries(2, order="forward")
    delay = fake.delay_deliveries(0.25, event="message", count=2)
    assert delay.to_json() == {
        "kind": "delay",
        "session": None,
        "event": "message",
        "count": 2,
        "caught": 0,
        "seconds": 0.25,
    }
    assert fake.delivery_rules.rules == [delay]
    assert Hold(count=2).to_json()["order"] == [1, 0]
