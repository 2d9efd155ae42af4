"""FakeWaha's configuration and state: what the fake knows, and the faults it has installed.

:class:`WahaBase` holds every field of :class:`~whatsignal.testing.waha.FakeWaha` (the
constructor arguments, documented there, and the records tests read: ``sent``,
``deliveries``, ``events``, ``violations``), the contract checker, session lookup, faults
and ``reset``. The behaviour is layered on top, one concern per module: webhook emission
(:mod:`._waha_emitter`), the session status machine (:mod:`._waha_sessions`), the phone side
(:mod:`._waha_model`), and finally the HTTP app (:mod:`.waha`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx
import trio

from whatsignal.testing._common import Fault, Recorded, SimulatorBase
from whatsignal.testing._waha_contract import WahaChecker
from whatsignal.testing._waha_directory import Directory
from whatsignal.testing._waha_payloads import ENGINES, error_for_status
from whatsignal.testing._waha_state import Session, StoredFile, me_for
from whatsignal.testing._waha_webhooks import DEFAULT_EVENTS, Delivery
from whatsignal.testing.contract import ContractViolation

__all__ = ["WahaBase"]


def _engines(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, str]) -> None:
    for name, engine in value.items():
        if engine not in ENGINES:
            raise ValueError(f"{attribute.name}[{name!r}]: unknown engine {engine!r}")


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.define(eq=False, kw_only=True)
class WahaBase(SimulatorBase):
    """The fields of :class:`~whatsignal.testing.waha.FakeWaha` (whose docstring explains the
    arguments), with the operations that only read or reset them."""

    api_key: str | None = None
    engine: str = attrs.field(default="WEBJS", validator=attrs.validators.in_(ENGINES))
    sessions: Sequence[str] = ("default",)
    session_engines: Mapping[str, str] = attrs.field(factory=dict, validator=_engines)
    webhook_url: str | None = None
    webhook_events: Sequence[str] = DEFAULT_EVENTS
    webhook_hmac_key: str | None = None
    webhook_retry_attempts: int = attrs.field(default=15, validator=_positive)
    webhook_retry_delay: float = attrs.field(default=2.0, validator=_positive)
    webhook_timeout: float = 30.0
    not_working_wait: float = attrs.field(default=5.0, validator=_positive)
    file_expiry: float = attrs.field(default=180.0, validator=_positive)
    public_url: str | None = None
    status_step: float = attrs.field(default=1.0, validator=_positive)
    auto_pair: bool = False
    qr_refresh: float = attrs.field(default=20.0, validator=_positive)
    check_contracts: bool = True

    sent: list[Recorded] = attrs.field(init=False, factory=list)
    """Every accepted bridge call (sends, reactions, seen, typing, edits, deletes), in order."""
    deliveries: list[Delivery] = attrs.field(init=False, factory=list)
    """Every webhook delivery attempt, in the order the attempts finished."""
    events: list[dict[str, Any]] = attrs.field(init=False, factory=list)
    presence_subscriptions: set[tuple[str, str]] = attrs.field(init=False, factory=set)
    """``(session, chatId)`` subscribed to (``POST /api/{session}/presence/{chatId}/subscribe``):
    only these chats' ``presence.update`` events are emitted, as WAHA does."""
    """Every webhook envelope emitted (one per event, whatever the number of targets)."""
    violations: list[str] = attrs.field(init=False, factory=list)
    qr_served: list[tuple[str, str]] = attrs.field(init=False, factory=list)
    """Every QR code served: ``(session, value)``."""
    pairing_codes: list[tuple[str, str, str]] = attrs.field(init=False, factory=list)
    """Every pairing code handed out: ``(session, phone digits, code)``."""
    """Contract violations seen (the request or injection that caused one also failed)."""

    _sessions: dict[str, Session] = attrs.field(init=False, factory=dict)
    _engines: dict[str, str] = attrs.field(init=False, factory=dict)
    _files: dict[str, StoredFile] = attrs.field(init=False, factory=dict)
    _messages: dict[str, dict[str, Any]] = attrs.field(init=False, factory=dict)
    _history: dict[str, list[str]] = attrs.field(init=False, factory=dict)
    directory: Directory = attrs.field(init=False)
    """Contacts and groups of every session (see also :meth:`add_contact`, :meth:`add_group`)."""
    _delivered: trio.Event = attrs.field(init=False, factory=trio.Event)
    _client: httpx.AsyncClient | None = attrs.field(init=False, default=None)
    _checker: WahaChecker | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.directory = Directory(self.engine)
        self._reset_sessions()

    # Contract checks -------------------------------------------------------------------------

    @property
    def checker(self) -> WahaChecker | None:
        """The contract checker (compiled on first use), or None when checks are off."""
        if self.check_contracts and self._checker is None:
            self._checker = WahaChecker()
        return self._checker if self.check_contracts else None

    def violation(self, exc: ContractViolation) -> ContractViolation:
        self.violations.append(str(exc))
        return exc

    # Reset -----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget what was sent, delivered, emitted and stored; drop faults; restore sessions."""
        self.sent.clear()
        self.deliveries.clear()
        self.events.clear()
        self.violations.clear()
        self.qr_served.clear()
        self.pairing_codes.clear()
        self._files.clear()
        self._messages.clear()
        self._history.clear()
        self.directory = Directory(self.engine)
        if hasattr(self, "injector"):
            self.injector.clear()
        self._reset_sessions()

    def _reset_sessions(self) -> None:
        for session in self._sessions.values():
            session.cancel_pending()
        self._engines = dict(self.session_engines)
        self._sessions = {name: Session(name, "WORKING") for name in self.sessions}

    # Engines ---------------------------------------------------------------------------------

    def engine_of(self, session: str) -> str:
        """The engine behind ``session``: its own (``session_engines``, :meth:`set_engine`),
        else the fake's ``engine``."""
        return self._engines.get(session, self.engine)

    def set_engine(self, session: str, engine: str) -> None:
        """Run ``session`` on ``engine`` from now on (ids, send answers, ``SessionInfo``)."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
        self._engines[session] = engine

    # Faults ----------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Install a fault (see :class:`Fault`); an error status without a body gets WAHA's."""
        if fault.status is not None and fault.status >= 400 and fault.body is None:
            fault.body = error_for_status(fault.status)
        self.injector.add(fault)
        return fault

    def fault(
        self,
        path: str,
        *,
        method: str = "*",
        count: int | None = 1,
        status: int | None = None,
        body: Any = None,
        latency: float = 0.0,
        drop: bool = False,
        carry_out: bool = False,
    ) -> Fault:
        """Make the next ``count`` calls matching ``method path`` (a glob) fail (with
        ``carry_out``: do their work, then delay, replace or lose only the answer)."""
        return self.add_fault(
            Fault(
                path=path,
                method=method,
                count=count,
                status=status,
                body=body,
                latency=latency,
                drop=drop,
                carry_out=carry_out,
            )
        )

    # Session lookup --------------------------------------------------------------------------

    def session(self, name: str) -> Session:
        """The session called ``name``; KeyError when there is none."""
        return self._sessions[name]

    def has_session(self, name: str) -> bool:
        return name in self._sessions

    def session_names(self) -> list[str]:
        return list(self._sessions)

    def me(self, session: str) -> dict[str, Any]:
        """The account of ``session`` (``MeInfo``), whether or not it is currently WORKING."""
        return me_for(session)
