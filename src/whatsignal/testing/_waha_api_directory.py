"""FakeWaha's address-book endpoints: contacts, profile pictures and groups, in the engine's
shapes (see :class:`~whatsignal.testing._waha_directory.Directory`)."""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing._waha_edge import Edge, Reject, json_response
from whatsignal.testing._waha_payloads import bad_request, not_found

__all__ = ["add_directory_routes"]


def add_directory_routes(app: QuartTrio, edge: Edge) -> None:
    """Register the contact and group endpoints on ``app``."""
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
