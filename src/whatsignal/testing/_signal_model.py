"""FakeSignal without its HTTP app: the envelopes that arrive for the bridge.

:class:`SignalModel` is everything :class:`~whatsignal.testing.signal_cli.FakeSignal` knows
and does: the layers below (fields and control operations, delivery per mode) plus
:meth:`~SignalModel.inject_envelope`, which builds a realistic envelope (text, quote,
reaction, attachments, receipt, typing, sync, edit, remote delete) from the people, groups and
sent messages the fake knows. The route modules (``_signal_api``, ``_signal_receive``,
``_signal_control``) take a ``SignalModel``, so the HTTP surface depends on the model and
never on ``FakeSignal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs

from whatsignal.testing import _signal_envelopes as env
from whatsignal.testing._json import JsonError
from whatsignal.testing._signal_delivery import SignalDelivery
from whatsignal.testing._signal_envelopes import Person
from whatsignal.testing._signal_inbound import check_stamp, envelope_problems
from whatsignal.testing.contract import signal_contract

__all__ = ["SignalModel"]


@attrs.define(eq=False, kw_only=True)
class SignalModel(SignalDelivery):
    """Building and injecting inbound envelopes."""

    def inject_envelope(
        self,
        sender: str,
        *,
        account: str | None = None,
        message: str | None = None,
        sender_name: str | None = None,
        sender_uuid: str | None = None,
        number_hidden: bool = False,
        timestamp: int | None = None,
        quote: dict[str, Any] | None = None,
        quote_timestamp: int | None = None,
        quote_author: str | None = None,
        reaction: str | None = None,
        reaction_target: int | None = None,
        reaction_author: str | None = None,
        reaction_remove: bool = False,
        attachments: Sequence[tuple[bytes, str, str | None]] = (),
        group_id: str | None = None,
        receipt: Literal["delivery", "read", "viewed"] | None = None,
        receipt_timestamps: Sequence[int] = (),
        typing: Literal["STARTED", "STOPPED"] | None = None,
        remote_delete: int | None = None,
        edit: int | None = None,
        sync_to: str | None = None,
        mentions: Sequence[dict[str, Any]] = (),
        view_once: bool = False,
        raw: Any = None,
        as_is: bool = False,
    ) -> dict[str, Any]:
        """Build a realistic envelope from ``sender`` to ``account`` and deliver it.

        Exactly one kind is built, in this order: ``raw`` (a full envelope, used as given),
        ``receipt``, ``typing``, ``sync_to`` (a message the account owner sent from their phone
        to ``sync_to``), ``edit`` (new text ``message`` for the message sent at ``edit``),
        otherwise a data message: text, ``quote`` (``{"timestamp", "author", "text"}``, or
        ``quote_timestamp`` + ``quote_author``; the author defaults to the account and the
        text to what the bridge sent then), ``reaction`` (an emoji for ``reaction_target``),
        ``remote_delete`` (a timestamp), ``mentions`` (``receive.Mention`` objects:
        ``{"start", "length", "uuid", "number", "name"}``), ``attachments`` (``(bytes, mime,
        filename)``, stored for ``GET /v1/attachments/{id}``; ``view_once``: the sender made
        them view-once) and ``group_id`` (internal id, ``group.`` id or name).

        Every envelope must be one signal-cli could print (an integer ``timestamp``, every
        field of the type signal-cli writes, see :mod:`._signal_inbound`), else injection
        fails. ``as_is=True`` delivers ``raw`` verbatim instead, whatever it holds (any JSON
        value, even a non-object): for tests of how the bridge copes with a broken upstream.
        Text may hold lone surrogates; they go out JSON-escaped (``\\ud83d``).

        Delivery: queued for ``GET /v1/receive`` (normal/native), or pushed to the connected
        websockets and the receive webhook, and dropped when no socket listens (json-rpc).
        The message is serialized here, once, so what was delivered can never break a later
        receive.

        Returns:
            The ``{"envelope": ..., "account": ...}`` message as delivered.

        Raises:
            ValueError: unknown account, inconsistent arguments, an envelope signal-cli could
                not print (without ``as_is``), or one that is not JSON at all (NaN, a set, ...).
            ContractViolation: the envelope does not match the swagger (check_contracts).
        """
        account = account or self.numbers[0]
        if account not in self.numbers:
            raise ValueError(f"{account!r} is not a registered number of this fake")
        if as_is and raw is None:
            raise ValueError("as_is delivers a raw envelope: pass it as raw=")
        if raw is not None:
            envelope = dict(raw) if isinstance(raw, dict) else raw
        else:
            self._check_stamps(
                timestamp=timestamp,
                quote_timestamp=quote_timestamp,
                reaction_target=reaction_target,
                remote_delete=remote_delete,
                edit=edit,
                receipt_timestamps=receipt_timestamps,
            )
            envelope = self._build_envelope(
                sender,
                account=account,
                message=message,
                sender_name=sender_name,
                sender_uuid=sender_uuid,
                number_hidden=number_hidden,
                timestamp=timestamp,
                quote=quote,
                quote_timestamp=quote_timestamp,
                quote_author=quote_author,
                reaction=reaction,
                reaction_target=reaction_target,
                reaction_author=reaction_author,
                reaction_remove=reaction_remove,
                attachments=attachments,
                group_id=group_id,
                receipt=receipt,
                receipt_timestamps=receipt_timestamps,
                typing=typing,
                remote_delete=remote_delete,
                edit=edit,
                sync_to=sync_to,
                mentions=mentions,
                view_once=view_once,
            )
        item = {"envelope": envelope, "account": account}
        try:
            text = env.dumps(item)
        except JsonError as exc:
            raise ValueError(f"the envelope is not JSON: {exc}") from None
        if not as_is:
            problems = envelope_problems(envelope)
            if problems:
                raise ValueError(
                    f"signal-cli never prints such an envelope: {'; '.join(problems[:3])} "
                    "(pass as_is=True to deliver it anyway)"
                )
            if self.check_contracts:
                signal_contract().check_definition("data.Message", env.strip_nulls(item))
        self._deliver(item, text)
        return item

    def leave_group(self, ref: str, person: str) -> dict[str, Any]:
        """``person`` leaves the group ``ref``: the bridge numbers in it get the ``UPDATE``
        envelope (returned). ValueError: no such group, or not a member."""
        return change_membership(self, ref, person, joins=False)

    def accept_invitation(self, ref: str, person: str) -> dict[str, Any]:
        """``person`` accepts their invitation to ``ref`` (see :meth:`leave_group`)."""
        return change_membership(self, ref, person, joins=True)

    @staticmethod
    def _check_stamps(receipt_timestamps: Sequence[Any], **stamps: Any) -> None:
        for name, value in stamps.items():
            if value is not None:
                check_stamp(value, name)
        for value in receipt_timestamps:
            check_stamp(value, "receipt_timestamps[]")

    # ---------------------------------------------------------------- envelopes

    def _build_envelope(
        self,
        sender: str,
        *,
        account: str,
        message: str | None,
        sender_name: str | None,
        sender_uuid: str | None,
        number_hidden: bool,
        timestamp: int | None,
        quote: dict[str, Any] | None,
        quote_timestamp: int | None,
        quote_author: str | None,
        reaction: str | None,
        reaction_target: int | None,
        reaction_author: str | None,
        reaction_remove: bool,
        attachments: Sequence[tuple[bytes, str, str | None]],
        group_id: str | None,
        receipt: str | None,
        receipt_timestamps: Sequence[int],
        typing: str | None,
        remote_delete: int | None,
        edit: int | None,
        sync_to: str | None,
        mentions: Sequence[dict[str, Any]],
        view_once: bool = False,
    ) -> dict[str, Any]:
        if env.is_uuid(sender):
            person = self._people.get(sender) or self.add_contact(
                None, uuid=sender, name=sender_name
            )
        else:
            person = self.add_contact(sender, name=sender_name, uuid=sender_uuid)
        if number_hidden:
            person = Person(None, person.uuid, person.name)
        ts = timestamp if timestamp is not None else self.next_timestamp()
        group = self.group(group_id) if group_id else None
        if receipt is not None:
            if receipt not in ("delivery", "read", "viewed"):
                raise ValueError("receipt must be delivery, read or viewed")
            stamps = list(receipt_timestamps) or [m.timestamp for m in self.messages[-1:]]
            if not stamps:
                raise ValueError("a receipt needs receipt_timestamps (nothing was sent yet)")
            return env.envelope(person, ts, receiptMessage=env.receipt(receipt, ts, stamps))
        if typing is not None:
            if typing not in ("STARTED", "STOPPED"):
                raise ValueError("typing must be STARTED or STOPPED")
            return env.envelope(person, ts, typingMessage=env.typing(typing, ts, group))
        if sync_to is not None:
            owner = self._people[account]
            target = self.add_contact(sync_to)
            sync = env.sync_sent(target, ts, message, group)
            return env.envelope(owner, ts, device=2, syncMessage=sync)
        stored = [
            env.attachment(self.store_attachment(data, mime, name), mime, name, len(data), ts)
            for data, mime, name in attachments
        ]
        if edit is not None:
            inner = env.data_message(ts, message=message, attachments=stored, group=group)
            return env.envelope(
                person, ts, editMessage={"targetSentTimestamp": edit, "dataMessage": inner}
            )
        quoted = self._quote(account, quote, quote_timestamp, quote_author)
        react = None
        if reaction is not None:
            if reaction_target is None:
                raise ValueError("a reaction needs reaction_target (the message timestamp)")
            author = self._person(reaction_author or account)
            react = env.reaction(reaction, reaction_target, author, remove=reaction_remove)
        if message is None and not (stored or quoted or react or remote_delete):
            raise ValueError("nothing to send: give a message, attachments, reaction, ...")
        data = env.data_message(
            ts,
            message=message,
            quote=quoted,
            reaction=react,
            attachments=stored,
            group=group,
            remote_delete=remote_delete,
            mentions=mentions,
            view_once=view_once,
        )
        return env.envelope(person, ts, dataMessage=data)

    def _person(self, address: str) -> Person:
        if address in self._people:
            return self._people[address]
        if env.is_uuid(address):
            return self.add_contact(None, uuid=address)
        return self.add_contact(address)

    def _quote(
        self,
        account: str,
        quote: dict[str, Any] | None,
        quote_timestamp: int | None,
        quote_author: str | None,
    ) -> dict[str, Any] | None:
        if quote is not None:
            unknown = set(quote) - {"timestamp", "author", "text"}
            if (
                unknown
                or "timestamp" not in quote
                or not isinstance(quote.get("author", ""), str | None)
                or not isinstance(quote.get("text", ""), str | None)
            ):
                raise ValueError("quote is {'timestamp': int, 'author'?: str, 'text'?: str}")
            quote_timestamp = check_stamp(quote["timestamp"], "quote.timestamp")
            quote_author = quote.get("author", quote_author)
            text = quote.get("text")
        else:
            text = None
        if quote_timestamp is None:
            return None
        if text is None:
            text = next((m.message for m in self.messages if m.timestamp == quote_timestamp), "")
        return env.quote(quote_timestamp, self._person(quote_author or account), text)


def change_membership(fake: SignalModel, ref: str, person: str, *, joins: bool) -> dict[str, Any]:
    """``person`` leaves the group ``ref`` (or, ``joins``, accepts its invitation); the bridge
    numbers in it receive the ``UPDATE`` envelope. Returns the item delivered.

    Raises:
        ValueError: no such group, or ``person`` is not in it (not invited to it).
    """
    group = fake.group_known(ref)
    if joins:
        if person not in group.pending_invites:
            raise ValueError(f"{person!r} has no invitation to that group")
        changed = attrs.evolve(
            group,
            members=(*group.members, person),
            pending_invites=tuple(p for p in group.pending_invites if p != person),
        )
    else:
        if person not in group.members:
            raise ValueError(f"{person!r} is not a member of that group")
        changed = attrs.evolve(group, members=tuple(p for p in group.members if p != person))
    fake.groups[group.internal_id] = changed
    account = next((n for n in group.members if n in fake.numbers), fake.numbers[0])
    stamp = fake.next_timestamp()
    data = env.data_message(stamp, group=changed)
    data["groupInfo"]["type"] = "UPDATE"
    data["groupInfo"]["revision"] = 2
    raw = env.envelope(fake.add_contact(person), stamp, dataMessage=data)
    return fake.inject_envelope(person, account=account, raw=raw)
