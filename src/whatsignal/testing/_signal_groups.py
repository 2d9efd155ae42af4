"""FakeSignal's groups API as a bridge making groups uses it (portals), and the people's side.

Upstream behaviour followed (signal-cli-rest-api 0.100, ``src/api/api.go`` and the swagger):

- ``POST /v1/groups/{number}`` creates a group as ``number`` (its only admin) with ``members``;
  a member signal-cli has no profile key for is only *invited* (``pending_invites``) until
  they accept. Answers 201 ``{"id": "group.<base64(internal id)>"}``; the internal id
  (base64 of 32 random bytes) is what envelopes carry in ``groupInfo.groupId``;
- ``GET /v1/groups/{number}/{id}`` of an unknown group answers ``200 null`` in 0.100 (its
  handler writes the nil entry), 404 in later versions;
- ``PUT /v1/groups/{number}/{id}`` changes name, description, avatar, link, permissions: 204;
- ``POST /v1/groups/{number}/{id}/quit``: the number leaves: 204;
- ``PUT /v1/profiles/{number}``: the number's profile name: 204.

People's side (control API): a member leaves a group, or accepts an invitation; the bridge
numbers in the group receive an ``UPDATE`` envelope from that person, as signal-cli prints one
(a data message with ``groupInfo.type: "UPDATE"`` and no text).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import attrs
from quart import Response
from quart_trio import QuartTrio

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._signal_base import SignalBase
from whatsignal.testing._signal_envelopes import Group
from whatsignal.testing._signal_http import (
    check_request,
    error_response,
    json_response,
    no_content,
    read_body,
    record,
    reply,
    require_account,
)
from whatsignal.testing._signal_send import RATE_LIMIT, RequestError

__all__ = ["add_group_routes", "create_group"]


def create_group(fake: SignalBase, number: str, body: dict[str, Any]) -> Group:
    """Make the group ``body`` describes, created by ``number``; invitees stay pending."""
    members = [m for m in body.get("members") or [] if m and m != number]
    invited = tuple(m for m in members if m in fake.invite_only)
    internal = base64.b64encode(secrets.token_bytes(32)).decode()
    group = Group(
        internal,
        body.get("name") or "",
        (number, *(m for m in members if m not in invited)),
        description=body.get("description") or "",
        pending_invites=invited,
        admins=(number,),
        permissions={**Group(internal, "").permissions, **(body.get("permissions") or {})},
        group_link=body.get("group_link") or "disabled",
    )
    fake.groups[internal] = group
    return group


def add_group_routes(app: QuartTrio, fake: SignalBase) -> None:
    """Register the group-changing endpoints and ``PUT /v1/profiles`` of ``fake``."""

    @app.post("/v1/groups/<number>")
    async def create(number: str) -> Response:
        body = await read_body(fake, "api.CreateGroupRequest")
        require_account(fake, number)
        check_request(fake, "api.CreateGroupRequest", body)
        if fake.profile_required and number not in fake.profile_names:
            return error_response("Couldn't create group: please first update your profile", 400)
        if fake.group_rate_limits > 0:
            fake.group_rate_limits -= 1
            answer = {"error": RATE_LIMIT, "challenge_tokens": [secrets.token_hex(8)]}
            return json_response({**answer, "account": number}, 429)
        group = create_group(fake, number, body)
        answer = {"id": group.id}
        record(fake, body, 201, answer)
        return reply(fake, "/v1/groups/{number}", 201, answer)

    @app.get("/v1/groups/<number>/<groupid>")
    async def get_group(number: str, groupid: str) -> Response:
        require_account(fake, number)
        internal = env.internal_from_group_id(groupid)
        if internal is None:
            raise RequestError("Invalid group id")
        group = fake.groups.get(internal)
        if group is None:
            if fake.version == "0.100":
                return json_response(None, 200)  # the nil entry 0.100 writes
            return error_response("No group with that id found", 404)
        return reply(fake, "/v1/groups/{number}/{groupid}", 200, group.entry())

    @app.put("/v1/groups/<number>/<groupid>")
    async def update(number: str, groupid: str) -> Response:
        body = await read_body(fake, "api.UpdateGroupRequest")
        require_account(fake, number)
        check_request(fake, "api.UpdateGroupRequest", body)
        group = _known(fake, groupid)
        changes: dict[str, Any] = {
            key: body[key] for key in ("name", "description", "group_link") if key in body
        }
        if body.get("base64_avatar"):
            changes["avatar"] = base64.b64decode(body["base64_avatar"])
        fake.groups[group.internal_id] = attrs.evolve(group, **changes)
        record(fake, body, 204, None)
        return no_content()

    @app.post("/v1/groups/<number>/<groupid>/quit")
    async def quit_group(number: str, groupid: str) -> Response:
        require_account(fake, number)
        group = _known(fake, groupid)
        members = tuple(m for m in group.members if m != number)
        fake.groups[group.internal_id] = attrs.evolve(group, members=members)
        record(fake, None, 204, None)
        return no_content()

    @app.put("/v1/profiles/<number>")
    async def profile(number: str) -> Response:
        body = await read_body(fake, "api.UpdateProfileRequest")
        require_account(fake, number)
        if not body.get("name"):
            raise RequestError("Couldn't process request - profile name missing")
        check_request(fake, "api.UpdateProfileRequest", body)
        fake.profile_names[number] = body["name"]
        record(fake, body, 204, None)
        return no_content()


def _known(fake: SignalBase, groupid: str) -> Group:
    internal = env.internal_from_group_id(groupid)
    if internal is None:
        raise RequestError("Invalid group id")
    group = fake.groups.get(internal)
    if group is None:
        raise RequestError("No group with that id found")
    return group
