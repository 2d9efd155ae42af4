"""FakeWaha's LID endpoints: pairings set through Python or ``/_sim/lids`` are what
``/api/{session}/lids*`` answer, in the spec's shapes (``pn: null`` for a hidden number),
checked against the contract; and an ``@lid`` sender's message as WEBJS delivers it."""

from __future__ import annotations

import pytest
import trio
from test_fake_waha_control import start

from whatsignal.testing.waha import FakeWaha

LID = "214748364701234@lid"


async def test_lid_lookups_answer_from_the_pairings(nursery: trio.Nursery) -> None:
    fake, client = await start(nursery, api_key="k")
    client.headers["X-Api-Key"] = "k"
    fake.add_lid(LID, pn="+49 171 1234567")
    made = await client.post("/_sim/lids", json={"lid": "111122223333444"})
    assert made.status_code == 201
    assert made.json() == {"lid": "111122223333444@lid", "pn": None}

    async def get(path: str) -> object:
        response = await client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    assert await get("/api/default/lids/214748364701234%40lid") == {
        "lid": LID,
        "pn": "491711234567@c.us",
    }
    assert await get("/api/default/lids/111122223333444%40lid") == {
        "lid": "111122223333444@lid",
        "pn": None,
    }
    assert await get("/api/default/lids/999%40lid") == {"lid": "999@lid", "pn": None}
    for phone in ("491711234567", "491711234567%40c.us"):
        assert await get(f"/api/default/lids/pn/{phone}") == {
            "lid": LID,
            "pn": "491711234567@c.us",
        }
    assert await get("/api/default/lids/pn/4900") == {"lid": None, "pn": "4900@c.us"}
    assert await get("/api/default/lids") == [{"lid": LID, "pn": "491711234567@c.us"}]
    assert await get("/api/default/lids?limit=5&offset=1") == []
    assert await get("/api/default/lids/count") == {"count": 1}
    assert fake.violations == []
    assert (await client.get("/api/ghost/lids/1%40lid")).status_code == 404
    assert (await client.get("/api/default/lids?limit=many")).status_code == 400
    assert (await client.get("/api/default/lids/pn/%2B")).status_code == 400
    assert (await client.get("/api/default/lids", headers={"X-Api-Key": "no"})).status_code == 401


async def test_sim_lids_refuses_what_is_no_lid_or_number(nursery: trio.Nursery) -> None:
    _, client = await start(nursery)
    for body in ({"pn": "4917"}, {"lid": "abc"}, {"lid": "1@lid", "pn": "120363@g.us"}):
        response = await client.post("/_sim/lids", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]
    with pytest.raises(ValueError, match="not a LID"):
        FakeWaha().add_lid("lid")


async def test_a_message_from_a_lid_is_delivered_as_webjs_sends_it(nursery: trio.Nursery) -> None:
    fake, _ = await start(nursery)
    group = fake.add_group("G")
    direct = fake.inject_message(from_=LID, body="hi", notify_name="Ali")
    in_group = fake.inject_message(from_=LID, body="hi", chat_id=group)
    assert (direct["from"], direct["participant"]) == (LID, None)
    assert direct["id"].startswith(f"false_{LID}_")
    assert direct["_data"]["notifyName"] == "Ali"
    assert (in_group["from"], in_group["participant"]) == (group, LID)
    assert in_group["id"].endswith(f"_{LID}")
    assert fake.violations == []
