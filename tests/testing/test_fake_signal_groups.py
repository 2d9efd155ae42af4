"""FakeSignal's groups API as portals use it: creation (invitees, 429), the 0.100 '200 null',
update, quit, profiles, and people leaving or accepting over the control API."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import trio

from whatsignal.testing.signal_cli import FakeSignal

BRIDGE = "+4915000000001"
USER = "+4915000000099"
GUEST = "+4915000000098"


async def start(nursery: trio.Nursery, **kwargs: Any) -> tuple[FakeSignal, httpx.AsyncClient]:
    fake = FakeSignal(numbers=(BRIDGE,), **kwargs)
    url: str = await nursery.start(fake.run)
    return fake, httpx.AsyncClient(base_url=url)


async def test_creation_invites_and_people_leave_or_accept() -> None:
    async with trio.open_nursery() as nursery:
        fake, client = await start(nursery)
        fake.invite_only.add(GUEST)
        body = {
            "name": "Alice",
            "members": [USER, GUEST],
            "description": "mirror",
            "group_link": "disabled",
            "permissions": {
                "add_members": "only-admins",
                "edit_group": "only-admins",
                "send_messages": "every-member",
            },
        }
        created = await client.post("/v1/groups/%2B4915000000001", json=body)
        assert created.status_code == 201
        group_id = created.json()["id"]
        entry = (await client.get(f"/v1/groups/%2B4915000000001/{group_id}")).json()
        internal = base64.b64decode(group_id.removeprefix("group.")).decode()
        assert entry["internal_id"] == internal and len(base64.b64decode(internal)) == 32
        assert (entry["members"], entry["pending_invites"]) == ([BRIDGE, USER], [GUEST])
        assert entry["admins"] == [BRIDGE] and entry["invite_link"] == ""

        accepted = await client.post(
            "/_sim/groups/accept", json={"group": group_id, "person": GUEST}
        )
        assert accepted.status_code == 201
        info = accepted.json()["envelope"]["dataMessage"]["groupInfo"]
        assert (info["groupId"], info["type"]) == (internal, "UPDATE")
        left = await client.post("/_sim/groups/leave", json={"group": "Alice", "person": USER})
        assert left.status_code == 201
        assert fake.groups[internal].members == (BRIDGE, GUEST)
        again = await client.post("/_sim/groups/leave", json={"group": "Alice", "person": USER})
        assert again.status_code == 400
        nope = await client.post("/_sim/groups/accept", json={"group": "Alice", "person": USER})
        assert nope.status_code == 400
        assert (await client.post("/_sim/groups/join", json={})).status_code == 400
        bad = await client.post("/_sim/groups/leave", json={"group": 1})
        assert bad.status_code == 400
        assert (
            await client.post("/_sim/groups/leave", json={"group": "x", "person": USER})
        ).status_code == 400

        renamed = await client.put(
            f"/v1/groups/%2B4915000000001/{group_id}",
            json={"name": "Alice B", "base64_avatar": base64.b64encode(b"png").decode()},
        )
        assert renamed.status_code == 204
        assert (fake.groups[internal].name, fake.groups[internal].avatar) == ("Alice B", b"png")
        quit_ = await client.post(f"/v1/groups/%2B4915000000001/{group_id}/quit")
        assert quit_.status_code == 204 and BRIDGE not in fake.groups[internal].members
        unknown = await client.put("/v1/groups/%2B4915000000001/group.bm9wZQ==", json={})
        assert unknown.status_code == 400
        invalid = await client.post("/v1/groups/%2B4915000000001/nope/quit")
        assert invalid.status_code == 400
        assert fake.violations == []
        nursery.cancel_scope.cancel()


async def test_unknown_group_quirk_rate_limit_and_profile() -> None:
    async with trio.open_nursery() as nursery:
        old, old_client = await start(nursery)
        new, new_client = await start(nursery, version="0.101")
        missing = "group." + base64.b64encode(base64.b64encode(bytes(32))).decode()
        answer = await old_client.get(f"/v1/groups/%2B4915000000001/{missing}")
        assert (answer.status_code, answer.json()) == (200, None)
        answer = await new_client.get(f"/v1/groups/%2B4915000000001/{missing}")
        assert answer.status_code == 404
        assert (await new_client.get("/v1/groups/%2B4915000000001/bad")).status_code == 400

        new.group_rate_limits = 1
        limited = await new_client.post("/v1/groups/%2B4915000000001", json={"name": "x"})
        assert limited.status_code == 429 and limited.json()["challenge_tokens"]
        made = await new_client.post("/v1/groups/%2B4915000000001", json={"name": "x"})
        assert made.status_code == 201

        profile = await new_client.put("/v1/profiles/%2B4915000000001", json={"name": "WhatsApp"})
        assert profile.status_code == 204 and new.profile_names == {BRIDGE: "WhatsApp"}
        nameless = await new_client.put("/v1/profiles/%2B4915000000001", json={"about": "x"})
        assert nameless.status_code == 400
        assert old.violations == new.violations == []
        nursery.cancel_scope.cancel()
