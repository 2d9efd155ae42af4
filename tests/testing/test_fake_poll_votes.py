"""The simulators' poll votes over real HTTP: FakeWaha's ``sendPollVote`` and ``poll.vote``
events, FakeSignal's ``/v1/polls/{number}/vote`` and a voter's envelope; and FakeWaha forgetting
presence subscriptions when a session restarts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from whatsignal.testing._signal_polls import SentVote
from whatsignal.testing.signal_cli import FakeSignal
from whatsignal.testing.waha import FakeWaha

CAROL, DAN = "+491700000003", "+491700000004"
FAMILY = "120363000000000001@g.us"
BRIDGE, ALICE = "+15550000001", "+15551110001"


async def waha(nursery: trio.Nursery) -> tuple[FakeWaha, httpx.AsyncClient]:
    fake = FakeWaha(status_step=0.01, not_working_wait=0.2)
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


def poll_of(fake: FakeWaha, *, group: str | None = None, multiple: bool = False) -> dict[str, Any]:
    return fake.inject_message(
        "default", from_=CAROL, chat_id=group, poll=("Lunch?", ["Pizza", "Sushi"], multiple)
    )


def vote(poll: dict[str, Any], chat: str, votes: Any) -> dict[str, Any]:
    return {"session": "default", "chatId": chat, "pollMessageId": poll["id"], "votes": votes}


async def test_send_poll_vote_takes_options_of_a_known_poll_and_shows_as_own_vote(
    nursery: trio.Nursery,
) -> None:
    fake, client = await waha(nursery)
    poll, chat = poll_of(fake), "491700000003@c.us"
    answer = await client.post("/api/sendPollVote", json=vote(poll, chat, ["Sushi"]))
    assert (answer.status_code, answer.json()) == (201, {})
    (event,) = [e for e in fake.events if e["event"] == "poll.vote"]
    assert event["payload"]["vote"]["fromMe"] is True
    assert event["payload"]["vote"]["selectedOptions"] == ["Sushi"]
    assert event["payload"]["poll"]["id"] == poll["id"]
    withdrawn = await client.post("/api/sendPollVote", json=vote(poll, chat, []))
    assert withdrawn.status_code == 201
    assert [r.body["votes"] for r in fake.sent if r.path == "/api/sendPollVote"] == [["Sushi"], []]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"votes": ["Pasta"]}, "is not an option of the poll"),
        ({"votes": ["Pizza", "Sushi"]}, "the poll takes one answer"),
        ({"chatId": "491700000009@c.us"}, "no such poll in chatId"),
        ({"pollMessageId": "false_491700000003@c.us_NOPE"}, "no such poll in chatId"),
        ({"votes": [["Pizza"]]}, "is not an option of the poll"),
        ({"votes": "Pizza"}, "votes must be an array"),
    ],
)
async def test_send_poll_vote_refuses_what_whatsapp_cannot_take(
    nursery: trio.Nursery, change: dict[str, Any], reason: str
) -> None:
    fake, client = await waha(nursery)
    poll = poll_of(fake)
    answer = await client.post(
        "/api/sendPollVote", json={**vote(poll, "491700000003@c.us", ["Pizza"]), **change}
    )
    assert answer.status_code == 400
    assert reason in str(answer.json()["message"])
    assert not any(e["event"] == "poll.vote" for e in fake.events)


async def test_a_contacts_vote_in_a_group_names_the_voter_and_a_failed_one_no_options(
    nursery: trio.Nursery,
) -> None:
    fake, client = await waha(nursery)
    poll = poll_of(fake, group=FAMILY, multiple=True)
    answer = await client.post(
        "/_sim/poll-vote",
        json={"pollId": poll["id"], "from": DAN, "votes": ["Pizza", "Sushi"]},
    )
    assert answer.status_code == 200
    payload = answer.json()["payload"]
    assert payload["vote"]["from"] == FAMILY
    assert payload["vote"]["participant"] == "491700000004@c.us"
    assert payload["vote"]["selectedOptions"] == ["Pizza", "Sushi"]
    failed = fake.inject_poll_vote(poll_id=poll["id"], from_=DAN, votes=["Pizza"], failed=True)
    assert failed["vote"]["selectedOptions"] == []
    assert [e["event"] for e in fake.events if e["event"].startswith("poll")] == [
        "poll.vote",
        "poll.vote.failed",
    ]
    assert fake.violations == []
    for bad in (
        {"pollId": "nope", "from": DAN},
        {"pollId": poll["id"], "from": DAN, "votes": ["Pasta"]},
        {"pollId": poll["id"], "from": DAN, "votes": "Pizza"},
        {"pollId": poll["id"], "from": 1},
        {"pollId": poll["id"], "from": DAN, "failed": "yes"},
        ["not", "an", "object"],
    ):
        assert (await client.post("/_sim/poll-vote", json=bad)).status_code == 400, bad


async def test_a_restart_forgets_the_sessions_presence_subscriptions(
    nursery: trio.Nursery,
) -> None:
    fake, client = await waha(nursery)
    fake.create_session("other", paired=True)
    await fake.wait_for_status("other", "WORKING")
    for session in ("default", "other"):
        answer = await client.post(f"/api/{session}/presence/491700000003@c.us/subscribe")
        assert answer.status_code == 201
    fake.restart_session("default")
    assert fake.presence_subscriptions == {("other", "491700000003@c.us")}
    await fake.wait_for_status("default", "WORKING")
    assert fake.inject_presence("default", chat_id="491700000003@c.us") is None


async def signal(nursery: trio.Nursery) -> tuple[FakeSignal, httpx.AsyncClient]:
    fake = FakeSignal(numbers=(BRIDGE,))
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


def signal_vote(**change: Any) -> dict[str, Any]:
    body = {
        "recipient": ALICE,
        "poll_author": BRIDGE,
        "poll_timestamp": "1700000000000",
        "selected_answers": [1],
    }
    return {**body, **change}


async def test_signal_votes_are_checked_as_upstream_and_recorded(nursery: trio.Nursery) -> None:
    fake, client = await signal(nursery)
    made = await client.post(
        f"/v1/polls/{BRIDGE}",
        json={"recipient": ALICE, "question": "Lunch?", "answers": ["Pizza", "Sushi"]},
    )
    stamp = made.json()["timestamp"]
    ok = await client.post(
        f"/v1/polls/{BRIDGE}/vote", json=signal_vote(poll_timestamp=stamp, selected_answers=[2])
    )
    assert ok.status_code == 204
    assert fake.poll_votes == [SentVote(BRIDGE, ALICE, BRIDGE, int(stamp), (2,))]
    for change, error in (
        ({"poll_timestamp": ""}, "poll_timestamp missing"),
        ({"poll_author": ""}, "poll_author missing"),
        ({"selected_answers": []}, "selected_answers missing"),
        ({"recipient": ""}, "recipient missing"),
        ({"poll_timestamp": "soon"}, "invalid timestamp"),
        ({"selected_answers": [0]}, "index needs to be >= 1"),
        ({"poll_timestamp": stamp, "selected_answers": [3]}, "Invalid poll option index"),
    ):
        refused = await client.post(f"/v1/polls/{BRIDGE}/vote", json=signal_vote(**change))
        assert refused.status_code == 400
        assert error in refused.json()["error"], change
    assert len(fake.poll_votes) == 1


async def test_a_voters_envelope_is_how_signal_cli_prints_a_vote(nursery: trio.Nursery) -> None:
    fake, client = await signal(nursery)
    item = fake.inject_poll_vote(ALICE, poll_timestamp=1700000000000, options=[1, 0], vote_count=3)
    data = item["envelope"]["dataMessage"]
    assert data["pollVote"] == {
        "author": BRIDGE,
        "authorNumber": BRIDGE,
        "authorUuid": fake.uuid_of(BRIDGE),
        "targetSentTimestamp": 1700000000000,
        "optionIndexes": [1, 0],
        "voteCount": 3,
    }
    assert item["envelope"]["sourceNumber"] == ALICE
    answer = await client.post(
        "/_sim/poll-vote",
        json={"from": ALICE, "poll_timestamp": 1700000000000, "options": [], "group": "Family"},
    )
    assert answer.status_code == 200
    assert answer.json()["message"]["envelope"]["dataMessage"]["pollVote"]["optionIndexes"] == []
    assert "groupInfo" in answer.json()["message"]["envelope"]["dataMessage"]
    for bad in (
        {"from": ALICE, "poll_timestamp": "soon", "options": [0]},
        {"from": ALICE, "poll_timestamp": 1700000000000, "options": [-1]},
        {"from": ALICE, "poll_timestamp": 1700000000000, "options": "0"},
        {"from": ALICE, "poll_timestamp": 1700000000000, "options": [0], "account": 5},
        {"poll_timestamp": 1700000000000},
    ):
        assert (await client.post("/_sim/poll-vote", json=bad)).status_code == 400, bad
