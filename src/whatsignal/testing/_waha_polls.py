"""FakeWaha's poll votes: ``POST /api/sendPollVote`` and ``poll.vote`` events.

A vote names the options by their text (``votes``; the spec nests them one array too deep,
deviation ``poll-votes-flat``). The fake checks what WhatsApp needs beyond the spec's required
fields: the poll is a poll message it knows, in ``chatId``; each vote is one of its options;
a one-answer poll takes at most one; no vote withdraws it. An accepted vote is recorded in
``sent`` and announced as the account's own ``poll.vote`` (``fromMe: true``), as the phone
shows a vote made through the API.

``inject_poll_vote`` (``POST /_sim/poll-vote``) is a contact voting on a poll the fake knows:
a ``poll.vote`` event in ``PollVotePayload``'s shape (``vote``: the vote message, with the
voter in ``participant`` in a group; ``poll``: the poll message), or ``poll.vote.failed``
with no options, as when WhatsApp cannot decrypt a vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quart import Response, request

from whatsignal.testing._waha_control import Control
from whatsignal.testing._waha_edge import Edge, Reject, json_response
from whatsignal.testing._waha_events import message_chat
from whatsignal.testing._waha_payloads import bad_request, new_message_key, now_ms, serialize_id
from whatsignal.testing._waha_state import me_for

if TYPE_CHECKING:
    from quart_trio import QuartTrio

    from whatsignal.testing._waha_model import WahaModel

__all__ = ["add_poll_routes", "inject_poll_vote", "poll_options", "register_poll_control"]


def poll_options(message: dict[str, Any] | None) -> tuple[list[str], bool] | None:
    """A known poll message's options and whether it takes several answers; None: no poll."""
    data = (message or {}).get("_data") or {}
    if data.get("type") != "poll_creation":
        return None
    names = [str(o.get("name")) for o in data.get("pollOptions") or [] if isinstance(o, dict)]
    return names, data.get("pollSelectableOptionsCount") != 1


def _destination(poll: dict[str, Any]) -> dict[str, Any]:
    """The poll as ``MessageDestination``."""
    out = {k: poll[k] for k in ("id", "to", "from", "fromMe")}
    if poll.get("participant"):
        out["participant"] = poll["participant"]
    return out


def _chat_of(poll: dict[str, Any]) -> str:
    return str(poll["to"] if poll["fromMe"] else poll["from"])


def _check_votes(options: tuple[list[str], bool], votes: Sequence[Any]) -> list[str]:
    names, multiple = options
    problems = [f"votes: {v!r} is not an option of the poll" for v in votes if v not in names]
    if not multiple and len(votes) > 1:
        problems.append("votes: the poll takes one answer")
    return problems


def vote_payload(
    fake: WahaModel,
    session: str,
    poll: dict[str, Any],
    *,
    voter: str | None,
    votes: Sequence[str],
) -> dict[str, Any]:
    """``PollVotePayload`` for a vote on ``poll`` by ``voter`` (None: the account itself)."""
    chat = _chat_of(poll)
    me = me_for(session)["id"]
    participant = voter if chat.endswith("@g.us") else None
    from_me = voter is None
    key = new_message_key(fake.engine_of(session))
    vote: dict[str, Any] = {
        "id": serialize_id(from_me, chat, key, participant),
        "to": chat if from_me else me,
        "from": me if from_me else chat,
        "fromMe": from_me,
        "selectedOptions": list(votes),
        "timestamp": now_ms() // 1000,
    }
    if participant:
        vote["participant"] = participant
    return {"vote": vote, "poll": _destination(poll), "_data": {}}


def inject_poll_vote(
    fake: WahaModel,
    session: str = "default",
    *,
    poll_id: str,
    from_: str,
    votes: Sequence[str],
    failed: bool = False,
) -> dict[str, Any]:
    """``from_`` votes ``votes`` on the known poll ``poll_id`` (none: withdraws their vote);
    ``failed``: WhatsApp could not read it (``poll.vote.failed``, no options). Returns the
    payload. ValueError: not a known poll, or a vote it cannot take."""
    fake.session(session)
    poll = fake.message(poll_id)
    options = poll_options(poll)
    if poll is None or options is None:
        raise ValueError(f"{poll_id!r} is not a poll the fake knows")
    problems = _check_votes(options, votes)
    if problems:
        raise ValueError("; ".join(problems))
    voter, _ = message_chat(from_, None)
    payload = vote_payload(fake, session, poll, voter=voter, votes=[] if failed else votes)
    if not _chat_of(poll).endswith("@g.us"):
        payload["vote"]["from"] = voter
    fake.emit("poll.vote.failed" if failed else "poll.vote", session, payload)
    return payload


def add_poll_routes(app: QuartTrio, edge: Edge) -> None:
    """Register ``POST /api/sendPollVote`` on ``app``."""
    fake = edge.fake

    @app.route("/api/sendPollVote", methods=["POST"])
    async def send_poll_vote() -> Response:
        body = await edge.accept("POST", "/api/sendPollVote")
        session, chat = str(body["session"]), str(body["chatId"])
        votes = body.get("votes")
        if not isinstance(votes, list):  # reached only with contract checks off
            raise Reject(400, bad_request(["votes must be an array"]))
        poll = fake.message(str(body["pollMessageId"]))
        options = poll_options(poll)
        if poll is None or options is None or _chat_of(poll) != chat:
            raise Reject(400, bad_request(["pollMessageId: no such poll in chatId"]))
        problems = _check_votes(options, votes)
        if problems:
            raise Reject(400, bad_request(problems))
        fake.emit("poll.vote", session, vote_payload(fake, session, poll, voter=None, votes=votes))
        return json_response({}, 201)


def register_poll_control(fake: WahaModel, control: Control, bad_input: type[Exception]) -> None:
    """Add ``POST /_sim/poll-vote`` (``{session, pollId, from, votes, failed}``)."""

    @control(
        "/_sim/poll-vote",
        "POST",
        "a contact votes on a poll the fake knows: {session, pollId, from, votes: [option "
        "text, ...] (none: withdrawn), failed (poll.vote.failed)}",
    )
    async def poll_vote() -> Response:
        data = await request.get_json(force=True, silent=True)
        if not isinstance(data, dict):
            raise bad_input("the body must be a JSON object")
        votes, failed = data.get("votes", []), data.get("failed", False)
        fields = (data.get("session", "default"), data.get("pollId"), data.get("from"))
        if not all(isinstance(value, str) for value in fields):
            raise bad_input("'session', 'pollId' and 'from' must be strings")
        if not isinstance(votes, list) or not all(isinstance(v, str) for v in votes):
            raise bad_input("'votes' must be a list of option texts")
        if not isinstance(failed, bool):
            raise bad_input("'failed' must be a boolean")
        session, poll_id, voter = (str(value) for value in fields)
        try:
            payload = inject_poll_vote(
                fake, session, poll_id=poll_id, from_=voter, votes=votes, failed=failed
            )
        except (KeyError, ValueError) as exc:
            raise bad_input(str(exc)) from None
        return json_response({"payload": payload}, 200)
