"""FakeWaha's pre-generated message ids per engine, and faults that carry the call out."""

from __future__ import annotations

import re

import httpx
import pytest
import trio

from whatsignal.testing import Fault
from whatsignal.testing.waha import FakeWaha

CHAT = "491711234567@c.us"


async def start(nursery: trio.Nursery, **kwargs: object) -> tuple[FakeWaha, httpx.AsyncClient]:
    fake = FakeWaha(status_step=0.01, not_working_wait=0.2, **kwargs)  # type: ignore[arg-type]
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


def shown(fake: FakeWaha, session: str = "default") -> list[str]:
    """The texts the chat shows as sent by the account, oldest first."""
    return [m["body"] for m in reversed(fake.history(session, CHAT, from_me=True))]


async def send(client: httpx.AsyncClient, text: str, ident: str | None, session: str) -> str:
    body = {"session": session, "chatId": CHAT, "text": text}
    if ident is not None:
        body["id"] = ident
    response = await client.post("/api/sendText", json=body)
    assert response.status_code == 201
    answer = response.json()
    found = answer.get("key", {}).get("id") or answer.get("id")
    return found["id"] if isinstance(found, dict) else str(found)


@pytest.mark.parametrize("engine", ["GOWS", "NOWEB"])
async def test_an_id_engine_shows_a_message_sent_twice_with_one_id_once(
    nursery: trio.Nursery, engine: str
) -> None:
    fake, client = await start(nursery, engine=engine)
    ident = (await client.get("/api/default/new-message-id")).json()["id"]
    assert re.fullmatch(r"3EB0[0-9A-F]{18}", ident)
    first = await send(client, "hello", ident, "default")
    again = await send(client, "hello", ident, "default")
    assert ident in first and ident in again
    assert shown(fake) == ["hello"]
    assert len(fake.sent) == 2  # both calls are recorded
    echoed = [e for e in fake.events if e["event"] == "message.any"]
    assert [e["payload"]["id"] for e in echoed] == [f"true_{CHAT}_{ident}"]


async def test_webjs_ignores_a_given_id_and_shows_each_send(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery)
    ident = (await client.get("/api/default/new-message-id")).json()["id"]
    assert re.fullmatch(r"[0-9A-F]{32}", ident)
    first = await send(client, "hello", ident, "default")
    again = await send(client, "hello", ident, "default")
    assert ident not in first and ident not in again and first != again
    assert shown(fake) == ["hello", "hello"]


async def test_the_engine_is_set_per_session(nursery: trio.Nursery) -> None:
    fake, client = await start(
        nursery, sessions=("default", "fast"), session_engines={"fast": "GOWS"}
    )
    listed = {s["name"]: s["engine"] for s in (await client.get("/api/sessions")).json()}
    assert listed == {"default": {"engine": "WEBJS"}, "fast": {"engine": "GOWS"}}
    changed = await client.post("/_sim/sessions", json={"name": "default", "engine": "NOWEB"})
    assert changed.json()["engine"] == {"engine": "NOWEB"}
    info = (await client.get("/api/sessions/default")).json()
    assert info["engine"] == {"engine": "NOWEB"}
    ident = (await client.get("/api/default/new-message-id")).json()["id"]
    await send(client, "hi", ident, "default")
    assert fake.events[-1]["engine"] == "NOWEB"
    refused = await client.post("/_sim/sessions", json={"name": "default", "engine": "X"})
    assert refused.status_code == 400 and "unknown engine" in refused.json()["error"]
    fake.reset()
    assert fake.engine_of("default") == "WEBJS" and fake.engine_of("fast") == "GOWS"
    with pytest.raises(ValueError, match="unknown engine"):
        fake.set_engine("default", "X")
    with pytest.raises(ValueError, match="unknown engine"):
        FakeWaha(session_engines={"default": "X"})


async def test_a_carried_out_send_is_shown_though_its_answer_is_lost(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery)
    fake.add_fault(Fault("/api/sendText", carry_out=True, latency=0.05, drop=True))
    with pytest.raises(httpx.TransportError):
        await client.post("/api/sendText", json={"chatId": CHAT, "text": "done anyway"})
    assert shown(fake) == ["done anyway"]


async def test_a_carried_out_send_answers_late_or_with_the_fault_status(
    nursery: trio.Nursery,
) -> None:
    fake, client = await start(nursery)
    fake.add_fault(Fault("/api/sendText", carry_out=True, latency=0.2))
    began = trio.current_time()
    late = await client.post("/api/sendText", json={"chatId": CHAT, "text": "slow"})
    assert late.status_code == 201 and trio.current_time() - began >= 0.2
    installed = await client.post(
        "/_sim/faults", json={"path": "/api/sendText", "carry_out": True, "status": 500}
    )
    assert installed.json()["carry_out"] is True
    failed = await client.post("/api/sendText", json={"chatId": CHAT, "text": "failed?"})
    assert failed.status_code == 500
    assert shown(fake) == ["slow", "failed?"]
    bad = await client.post("/_sim/faults", json={"path": "/x", "status": 500, "carry_out": 1})
    assert bad.status_code == 400 and "carry_out" in bad.json()["error"]
