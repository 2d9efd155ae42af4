"""WhatsApp -> Signal: how a WhatsApp poll is sent.

A poll with a question and at least two options becomes a native Signal poll
(``POST /v1/polls/{number}``), its question framed like a message's text (``"Carol: ..."``).
Anything else, or a poll signal-cli refuses for good (an older signal-cli-rest-api without
polls, too many options), is sent as a readable text with the options numbered, so nothing the
sender wrote is lost. A transient failure is raised: the poller retries the row.
"""

from __future__ import annotations

import logging

import attrs

from whatsignal import log as wlog
from whatsignal.convert import markup
from whatsignal.convert.markup import Styled, literal
from whatsignal.convert.polls import Poll, poll_text
from whatsignal.relay.signal_upstream import SignalUpstream
from whatsignal.relay.upstreams import UpstreamError
from whatsignal.reliability import Failure

__all__ = ["PollSender"]

log = logging.getLogger("whatsignal.relay")


@attrs.define(eq=False, kw_only=True)
class PollSender:
    """Sends one WhatsApp poll from ``number``; called with each place it may go to.
    ``native`` says whether the last send made a Signal poll (not a text)."""

    signal: SignalUpstream
    number: str
    poll: Poll
    native: bool = attrs.field(init=False, default=False)

    async def __call__(self, recipient: str, head: Styled) -> int:
        """Send the poll to ``recipient``; ``head`` is the frame (``"Carol: "``, or nothing in
        a direct chat's portal). Returns the Signal timestamp to map the poll by."""
        poll = self.poll
        self.native = False
        if poll.native:
            try:
                stamp = await self.signal.poll(
                    self.number,
                    recipient,
                    (head + literal(poll.question)).text,
                    poll.options,
                    multiple=poll.multiple,
                )
            except UpstreamError as error:
                if error.failure is not Failure.PERMANENT:
                    raise
                log.warning(
                    "whatsapp -> signal: poll refused by signal-cli, sent as text: %s",
                    wlog.mask_text(str(error)),
                )
            else:
                self.native = True
                return stamp
        text = markup.render_styled(head + literal(poll_text(poll)))
        return await self.signal.send(self.number, recipient, text, text_mode="styled")
