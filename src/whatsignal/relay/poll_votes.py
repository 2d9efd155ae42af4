"""Votes on bridged WhatsApp polls, both ways.

Signal -> WhatsApp: the user votes on a Signal poll the bridge made from a WhatsApp poll. The
router sends the envelope to the poll's own session and chat (its mapping); here the option
numbers become the options' texts and go to WAHA's ``POST /api/sendPollVote`` for the poll's
message. A withdrawn vote (no option) withdraws it in WhatsApp too.

WhatsApp -> Signal (``poll.vote``, ``poll.vote.failed``): who voted for what must be plain
to the user. A vote from the bridge number is a native Signal vote, but it names nobody: it
is faithful only where the bridged poll's conversation has one counterpart, a direct chat's
poll (in its portal, or in the one-to-one conversation, where the bridge number speaks for
that contact and only they can vote). There the vote is native. Everywhere else (a group's
poll, where many vote), and for what signal-cli-rest-api cannot send natively, it is a short
text sent as a reply to the bridged poll, ``"📊 Carol voted: Pizza, Sushi"``:

- a withdrawn vote: the REST API refuses a vote without ``selected_answers``;
- a changed vote: the REST API sends every vote with ``vote-count`` 1, and Signal keeps the
  vote with the highest count, so a second native vote would not replace the first;
- an unreadable one (``poll.vote.failed``: WhatsApp could not decrypt it);
- a poll that went to Signal as text, or a vote signal-cli refuses for good.

The user's own votes, made on the phone or through the bridge, arrive ``fromMe`` and are
never journaled (intake.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import attrs

from whatsignal import log as wlog
from whatsignal.channels import Route
from whatsignal.convert import markup
from whatsignal.convert.markup import literal
from whatsignal.convert.poll_votes import answer_numbers, option_names, vote_text
from whatsignal.convert.text import message_id_candidates
from whatsignal.errors import PayloadError
from whatsignal.metrics import Metrics
from whatsignal.models.signal_api import SigPollVote
from whatsignal.models.waha import WaMessage, WaPollVote
from whatsignal.relay.names import Names
from whatsignal.relay.upstreams import UpstreamError, Upstreams
from whatsignal.reliability import Failure
from whatsignal.storage import BridgedPoll, Mappings, MessageMapping, Polls

__all__ = [
    "NOTICE_UNKNOWN_POLL",
    "PollStore",
    "PollVotes",
    "known_poll",
    "native_answers",
    "vote_to_whatsapp",
]

log = logging.getLogger("whatsignal.relay")


NOTICE_UNKNOWN_POLL = (
    "⚠️ whatsignal: your vote was not sent to WhatsApp: the bridge does not know that poll (too "
    "old, or not from WhatsApp)."
)


class PollStore(Mappings, Polls, Protocol):
    """What votes read: the polls' mappings and their options."""


async def known_poll(store: Polls, target: MessageMapping | None) -> MessageMapping | None:
    """``target`` when it is the mapping of a poll the bridge made in Signal, else None."""
    if target is None or target.direction != "wa_to_signal":
        return None
    poll = await store.poll(target.session, target.whatsapp_id)
    return target if poll is not None and poll.native else None


def native_answers(poll: BridgedPoll | None, chosen: Sequence[str]) -> list[int] | None:
    """The answers of a native Signal vote for ``chosen``, or None where a vote from the
    bridge number cannot show it: no Signal poll, the bridge voted on it already (a change),
    nothing chosen (withdrawn), or an option the poll does not have."""
    if poll is None or not poll.native or poll.voted or not chosen:
        return None
    return answer_numbers(poll.options, chosen)


async def vote_to_whatsapp(
    upstreams: Upstreams,
    store: PollStore,
    metrics: Metrics,
    route: Route,
    account: str,
    vote: SigPollVote,
) -> None:
    """Send the user's Signal vote to the poll's WhatsApp chat.

    Raises:
        PayloadError: the vote names an option the poll does not have.
    """
    target = await store.mapping_by_signal_timestamp(account, vote.target_sent_timestamp)
    if target is None or target.session != route.session:
        return  # the router sends only votes on this session's polls here
    poll = await store.poll(route.session, target.whatsapp_id)
    if poll is None or not poll.native:
        log.info("signal -> whatsapp: a vote on a poll the bridge did not make; ignored")
        return
    chosen = option_names(poll.options, vote.option_indexes)
    if chosen is None:
        raise PayloadError("the vote names an option the poll does not have")
    await upstreams.whatsapp.vote(route.session, target.chat_id, target.whatsapp_id, chosen)
    metrics.forwarded.labels("signal_to_wa", "poll_vote").inc()


@attrs.frozen(kw_only=True)
class PollVotes:
    """Shows WhatsApp votes on bridged polls in Signal (see the module docstring)."""

    upstreams: Upstreams
    names: Names
    store: PollStore
    metrics: Metrics

    async def to_signal(self, route: Route, event: WaPollVote, *, unreadable: bool) -> None:
        """Show a WhatsApp vote on a bridged poll in Signal (native or text)."""
        session, voted = route.session, event.poll
        target: MessageMapping | None = None
        for candidate in message_id_candidates(voted.id, voted.chat_id, voted.participant):
            target = await self.store.mapping_by_whatsapp_id(session, candidate)
            if target is not None:
                break
        if target is None or target.direction != "wa_to_signal":
            log.debug("a vote on a poll that never crossed the bridge; ignored")
            return
        at = event.vote.timestamp
        if at is not None and not await self.store.newest_vote(
            session, target.whatsapp_id, event.voter, at
        ):
            log.info("whatsapp -> signal: a vote older than one shown already; not shown")
            return
        poll = await self.store.poll(session, target.whatsapp_id)
        chosen = event.vote.selected_options
        direct = not target.chat_id.endswith("@g.us")
        numbers = native_answers(poll, chosen) if direct and not unreadable else None
        if numbers and await self._native(route, target, numbers):
            await self.store.mark_poll_voted(session, target.whatsapp_id)
            self.metrics.forwarded.labels("wa_to_signal", "poll_vote").inc()
            return
        as_message = WaMessage(
            id=event.vote.id, from_=target.chat_id, participant=event.voter or None
        )
        voter = await self.names.sender(session, as_message)
        group = None
        if not direct and target.signal_group is None:
            group = await self.names.group(session, target.chat_id)
        text = vote_text(voter, chosen, group=group, unreadable=unreadable)
        await self.upstreams.signal.send(
            route.bridge_number,
            target.signal_group or route.destination,
            markup.render_styled(literal(text)),
            quote_timestamp=target.signal_timestamp,
            quote_author=route.bridge_number,
            text_mode="styled",
        )
        self.metrics.forwarded.labels("wa_to_signal", "poll_vote").inc()

    async def _native(self, route: Route, target: MessageMapping, numbers: list[int]) -> bool:
        """Vote from the bridge number; False when signal-cli refuses it for good."""
        try:
            await self.upstreams.signal.vote(
                route.bridge_number,
                target.signal_group or route.destination,
                author=route.bridge_number,
                timestamp=target.signal_timestamp,
                answers=numbers,
            )
        except UpstreamError as error:
            if error.failure is not Failure.PERMANENT:
                raise
            log.warning(
                "whatsapp -> signal: vote refused by signal-cli, sent as text: %s",
                wlog.mask_text(str(error)),
            )
            return False
        return True
