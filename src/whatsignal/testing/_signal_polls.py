"""FakeSignal's polls: ``POST /v1/polls/{number}`` (swagger ``api.CreatePollRequest``).

A created poll is recorded in ``fake.polls`` (and in ``sent``) and answered ``201`` with its
timestamp as a string (``api.CreatePollResponse``). The checks are the swagger's required
fields plus what signal-cli needs: a question and at least two answers; ``polls_refused``
makes the fake answer 400 as a signal-cli-rest-api without polls would (the fallback's test).
"""

from __future__ import annotations

import attrs
from quart import Response
from quart_trio import QuartTrio

from whatsignal.testing._signal_base import SignalBase
from whatsignal.testing._signal_http import (
    check_recipient,
    check_request,
    read_body,
    record,
    reply,
    require_account,
)
from whatsignal.testing._signal_send import RequestError

__all__ = ["SentPoll", "add_poll_routes"]


@attrs.frozen
class SentPoll:
    """A poll the bridge created, for assertions."""

    timestamp: int
    number: str
    recipient: str
    question: str
    answers: tuple[str, ...]
    multiple: bool


def add_poll_routes(app: QuartTrio, fake: SignalBase) -> None:
    """Register ``POST /v1/polls/{number}`` on ``app``."""

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
