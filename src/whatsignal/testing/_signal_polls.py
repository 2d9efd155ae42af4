"""FakeSignal's polls: ``POST /v1/polls/{number}`` (swagger ``api.CreatePollRequest``), votes
(``POST /v1/polls/{number}/vote``, ``api.VoteRequest``) and a voter's envelope.

A created poll is recorded in ``fake.polls`` (and in ``sent``) and answered ``201`` with its
timestamp as a string (``api.CreatePollResponse``). The checks are the swagger's required
fields plus what signal-cli needs: a question and at least two answers; ``polls_refused``
makes the fake answer 400 as a signal-cli-rest-api without polls would (the fallback's test).

A vote is checked as upstream's handler checks it (``poll_timestamp``, ``poll_author``,
``selected_answers`` and ``recipient`` present, the timestamp a number, every answer >= 1;
``vote-count`` is always 1 upstream), and, beyond it, against the poll when the fake made it
(an answer past its options is refused). It is recorded in ``fake.poll_votes`` and answered
204. :func:`vote_envelope` is how signal-cli prints someone's vote (``dataMessage.pollVote``:
``author*`` the poll's author, ``optionIndexes`` from 0, ``voteCount`` growing with each
change).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from quart import Response, request
from quart_trio import QuartTrio

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._signal_base import SignalBase
from whatsignal.testing._signal_envelopes import Group, Person
from whatsignal.testing._signal_http import (
    check_recipient,
    check_request,
    error_response,
    json_response,
    no_content,
    read_body,
    record,
    reply,
    require_account,
)
from whatsignal.testing._signal_inbound import check_stamp
from whatsignal.testing._signal_model import SignalModel
from whatsignal.testing._signal_send import RequestError
from whatsignal.testing.contract import ContractViolation

__all__ = [
    "SentPoll",
    "SentVote",
    "add_poll_routes",
    "add_vote_control",
    "inject_poll_vote",
    "vote_envelope",
]


@attrs.frozen
class SentPoll:
    """A poll the bridge created, for assertions."""

    timestamp: int
    number: str
    recipient: str
    question: str
    answers: tuple[str, ...]
    multiple: bool


@attrs.frozen
class SentVote:
    """A vote the bridge cast (answers numbered from 1, as sent)."""

    number: str
    recipient: str
    author: str
    timestamp: int
    answers: tuple[int, ...]


def vote_envelope(
    fake: SignalBase,
    voter: Person,
    *,
    timestamp: int,
    poll_author: Person,
    poll_timestamp: int,
    options: Sequence[int],
    vote_count: int,
    group: Group | None,
) -> dict[str, Any]:
    """The envelope of ``voter``'s vote for ``options`` (0-based) on a poll."""
    data = env.data_message(timestamp, group=group)
    data["pollVote"] = {
        "author": poll_author.address,
        "authorNumber": poll_author.number,
        "authorUuid": poll_author.uuid,
        "targetSentTimestamp": poll_timestamp,
        "optionIndexes": list(options),
        "voteCount": vote_count,
    }
    return env.envelope(voter, timestamp, dataMessage=data)


def _vote(fake: SignalBase, number: str, body: dict[str, Any]) -> SentVote:
    for field in ("poll_timestamp", "poll_author"):
        if not body.get(field):
            raise RequestError(f"Couldn't process request - {field} missing")
    answers = body.get("selected_answers") or []
    if not answers:
        raise RequestError("Couldn't process request - selected_answers missing")
    recipient = body.get("recipient") or ""
    if not recipient:
        raise RequestError("Couldn't process request - recipient missing")
    try:
        stamp = int(body["poll_timestamp"])
    except ValueError:
        raise RequestError("Couldn't process request - invalid timestamp") from None
    if any(answer <= 0 for answer in answers):
        raise RequestError("Invalid index in selected_answers specified, index needs to be >= 1!")
    check_recipient(fake, recipient)
    made = [p for p in fake.polls if p.number == number and p.timestamp == stamp]
    if made and max(answers) > len(made[0].answers):
        raise RequestError("Invalid poll option index")
    return SentVote(number, recipient, body["poll_author"], stamp, tuple(answers))


def add_poll_routes(app: QuartTrio, fake: SignalBase) -> None:
    """Register ``POST /v1/polls/{number}`` and ``POST /v1/polls/{number}/vote`` on ``app``."""

    @app.post("/v1/polls/<number>/vote")
    async def vote(number: str) -> Response:
        body = await read_body(fake, "api.VoteRequest")
        require_account(fake, number)
        sent = _vote(fake, number, body)
        check_request(fake, "api.VoteRequest", body)
        fake.poll_votes.append(sent)
        record(fake, body, 204, None)
        return no_content()

    @app.post("/v1/polls/<number>")
    async def create_poll(number: str) -> Response:
        body = await read_body(fake, "api.CreatePollRequest")
        require_account(fake, number)
        if fake.polls_refused:
            raise RequestError("Couldn't process request - polls are not supported")
        recipient, question = body.get("recipient") or "", body.get("question") or ""
        answers = [a for a in body.get("answers") or [] if a]
        if not recipient:
            raise RequestError("Couldn't process request - recipient missing")
        if not question or len(answers) < 2:
            raise RequestError("Couldn't process request - a question and two answers needed")
        check_recipient(fake, recipient)
        check_request(fake, "api.CreatePollRequest", body)
        stamp = fake.next_timestamp()
        multiple = bool(body.get("allow_multiple_selections"))
        fake.polls.append(SentPoll(stamp, number, recipient, question, tuple(answers), multiple))
        answer = {"timestamp": str(stamp)}
        record(fake, body, 201, answer)
        return reply(fake, "/v1/polls/{number}", 201, answer)


def inject_poll_vote(
    fake: SignalModel,
    sender: str,
    *,
    poll_timestamp: int,
    options: Sequence[int],
    account: str | None = None,
    poll_author: str | None = None,
    vote_count: int = 1,
    group_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """``sender`` votes for ``options`` (0-based; none: withdraws) on the poll ``poll_author``
    (default: the account) sent at ``poll_timestamp``; delivered like any envelope."""
    account = account or fake.numbers[0]
    for value, what in ((poll_timestamp, "poll_timestamp"), (vote_count, "vote_count")):
        check_stamp(value, what)
    if any(isinstance(o, bool) or not isinstance(o, int) or o < 0 for o in options):
        raise ValueError("options are the chosen options' indexes, from 0")
    raw = vote_envelope(
        fake,
        fake.add_contact(sender)
        if not env.is_uuid(sender)
        else fake.add_contact(None, uuid=sender),
        timestamp=timestamp if timestamp is not None else fake.next_timestamp(),
        poll_author=fake.add_contact(poll_author or account),
        poll_timestamp=poll_timestamp,
        options=options,
        vote_count=vote_count,
        group=fake.group(group_id) if group_id else None,
    )
    return fake.inject_envelope(sender, account=account, raw=raw)


def add_vote_control(app: QuartTrio, fake: SignalModel) -> None:
    """Register ``POST /_sim/poll-vote``: ``{from, poll_timestamp, options, account?,
    poll_author?, vote_count?, group?}`` (see :func:`inject_poll_vote`)."""

    @app.post("/_sim/poll-vote")
    async def poll_vote() -> Response:
        data = await request.get_json(force=True, silent=True)
        try:
            if not isinstance(data, dict) or not isinstance(data.get("from"), str):
                raise ValueError("the body is {from, poll_timestamp, options, ...}")
            options = data.get("options", [])
            if not isinstance(options, list):
                raise ValueError("'options' must be a list of indexes from 0")
            for key in ("account", "poll_author", "group"):
                if not isinstance(data.get(key), str | None):
                    raise ValueError(f"'{key}' must be a string")
            item = inject_poll_vote(
                fake,
                data["from"],
                poll_timestamp=data.get("poll_timestamp"),  # type: ignore[arg-type]
                options=options,
                account=data.get("account"),
                poll_author=data.get("poll_author"),
                vote_count=data.get("vote_count", 1),
                group_id=data.get("group"),
            )
        except (ValueError, ContractViolation) as exc:
            return error_response(str(exc), 400)
        return json_response({"message": item}, 200)
