"""The router's side of the control commands (``/status``, ``/start``, ``/stop``,
``/restart``, ``/pair``, ``/retry``): who may give them, and which sessions they are about.

``/pair`` hands a WhatsApp account over, so a control command counts only when signal-cli
itself says the destination sent it: the envelope's own ``sourceNumber``, or, for a
destination who hides their number, signal-cli's contact list asked now. A uuid <-> number
pairing the bridge learned from an envelope is not enough, and a command that fails this
test is dropped without an answer (an answer would tell a stranger the bridge listens).

A command is about the sessions of the destination's own channels only. Naming any other
session is answered exactly as naming one that does not exist, so nothing is revealed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from whatsignal.channels import ChannelMap
from whatsignal.clients import SignalClient
from whatsignal.convert.commands import Command
from whatsignal.errors import ClientError
from whatsignal.models.signal_api import SigReceived
from whatsignal.relay.decision import ControlRequest, Decision

__all__ = ["control_decision", "no_such_session"]

log = logging.getLogger("whatsignal.router")

RETRY_SEC = 5.0


def no_such_session(session: str) -> str:
    """The answer to a session that is not the destination's (whether it exists or not)."""
    return f"⚠️ whatsignal: no WhatsApp session {session!r} serves you here"


async def _verified(item: SigReceived, destination: str, signal: SignalClient) -> bool:
    """Whether signal-cli itself reports ``destination`` as the sender."""
    env = item.envelope
    if env.source_number:
        return env.source_number == destination
    uuid = env.source_uuid
    if not uuid:
        return False
    contacts = await signal.contacts(item.account)
    return any(c.get("uuid") == uuid and c.get("number") == destination for c in contacts)


async def control_decision(
    command: Command,
    item: SigReceived,
    key: tuple[str, str],
    *,
    signal: SignalClient,
    channels: ChannelMap,
    known: Sequence[str],
) -> Decision:
    """The decision for a control command from the destination ``key`` = ``(bridge number,
    destination)``: a :class:`ControlRequest` for the controller, or an answer saying what is
    wrong, or nothing at all (a sender signal-cli does not vouch for)."""
    account, destination = key
    try:
        verified = await _verified(item, destination, signal)
    except ClientError as error:
        log.info("could not fetch signal contacts to verify a command's sender: %s", error)
        return Decision(ignore="sender not known yet", retry_after=RETRY_SEC)
    if not verified:
        log.warning("a control command whose sender signal-cli does not vouch for was dropped")
        return Decision(ignore="control command from an unverified sender")
    own = sorted(channels.sessions_for(destination, account, known))
    sessions: tuple[str, ...]
    name = command.name
    if command.session is not None:
        if command.session not in own:
            return Decision(ignore="unknown session", notice=no_such_session(command.session))
        sessions = (command.session,)
    elif name in ("status", "retry") and own:
        sessions = tuple(own)
    elif len(own) == 1:
        sessions = (own[0],)
    elif not own:
        notice = "⚠️ whatsignal: no WhatsApp session serves you yet"
        return Decision(ignore="no session", notice=notice)
    else:
        choices = ", ".join(own)
        notice = f"⚠️ whatsignal: say which WhatsApp session, e.g. /{name} {own[0]} ({choices})"
        return Decision(ignore="session not given", notice=notice)
    request = ControlRequest(account, destination, name, sessions, phone=command.number)
    return Decision(ignore="control command", control=request)
