"""FakeWaha's address-book endpoints: contacts, profile pictures, groups and LIDs, in the
engine's shapes (see :class:`~whatsignal.testing._waha_directory.Directory`)."""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._waha_edge import Edge, Reject, json_response
from whatsignal.testing._waha_payloads import bad_request, not_found

__all__ = ["add_directory_routes"]


def add_directory_routes(app: QuartTrio, edge: Edge) -> None:
    """Register the contact, group and LID endpoints on ``app``."""
    fake = edge.fake

    @app.route("/api/contacts/all", methods=["GET"])
    async def contacts_all() -> Response:
        name = edge.query_session()
        await edge.working(name)
        return json_response(fake.directory.contacts(name), 200)

    @app.route("/api/contacts", methods=["GET"])
    async def contact() -> Response:
        name = edge.query_session()
        contact_id = request.args.get("contactId")
        if not contact_id:
            raise Reject(400, bad_request(["contactId should not be empty"]))
        await edge.working(name)
        return json_response(fake.directory.contact(name, contact_id), 200)

    @app.route("/api/contacts/profile-picture", methods=["GET"])
    async def profile_picture() -> Response:
        name = edge.query_session()
        contact_id = request.args.get("contactId")
        if not contact_id:
            raise Reject(400, bad_request(["contactId should not be empty"]))
        await edge.working(name)
        return json_response(
            {"profilePictureURL": fake.directory.profile_picture(name, contact_id)}, 200
        )

    @app.route("/api/<name>/groups", methods=["GET"])
    async def groups(name: str) -> Response:
        await edge.working(name)
        return json_response(
            fake.directory.groups_listing(name), 200
        )  # deviation engine-native-groups

    @app.route("/api/<name>/groups/<group_id>", methods=["GET"])
    async def group(name: str, group_id: str) -> Response:
        await edge.working(name)
        found = fake.directory.group(name, group_id)
        if found is None:
            raise Reject(404, not_found("Group not found"))
        return json_response(found, 200)

    @app.route("/api/<name>/lids", methods=["GET"])
    async def lids(name: str) -> Response:
        await edge.working(name)
        try:
            limit = int(float(request.args.get("limit") or 100))
            offset = int(float(request.args.get("offset") or 0))
        except ValueError:
            raise Reject(400, bad_request(["limit and offset must be numbers"])) from None
        page = fake.directory.lids(name)[max(offset, 0) : max(offset, 0) + max(limit, 0)]
        return edge.respond("GET", "/api/{session}/lids", 200, page)

    @app.route("/api/<name>/lids/count", methods=["GET"])
    async def lids_count(name: str) -> Response:
        await edge.working(name)
        count = {"count": len(fake.directory.lids(name))}
        return edge.respond("GET", "/api/{session}/lids/count", 200, count)

    @app.route("/api/<name>/lids/pn/<phone>", methods=["GET"])
    async def lid_of(name: str, phone: str) -> Response:
        await edge.working(name)
        try:
            found = fake.directory.lid_of(name, phone)
        except ValueError:
            raise Reject(400, bad_request(["phoneNumber must be a phone number"])) from None
        # deviation null-lid-pn: an unknown number's lid is null
        return edge.respond("GET", "/api/{session}/lids/pn/{phoneNumber}", 200, found)

    @app.route("/api/<name>/lids/<lid>", methods=["GET"])
    async def phone_of(name: str, lid: str) -> Response:
        await edge.working(name)
        # deviation null-lid-pn: a LID without a known number answers pn: null
        return edge.respond(
            "GET", "/api/{session}/lids/{lid}", 200, fake.directory.phone_of(name, lid)
        )
