"""The controller on its own, with a scripted WAHA and trio's clock: the two-minute pairing
window, a QR code sent only when it changed, a second /pair replacing the first, and failures
answered in Signal without taking anything else down."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import pytest
import trio
import trio.testing

from whatsignal.actors.alerts import stopped_by_user
from whatsignal.actors.controller import Controller, ControlSettings, control_channel
from whatsignal.clients import OutboundAttachment, SessionInfo
from whatsignal.errors import ApiError, TransportError
from whatsignal.relay import control_texts as texts
from whatsignal.relay.decision import ControlRequest
from whatsignal.storage import JournalRow, Mute

BRIDGE, ME = "+15550000001", "+15551110001"


@attrs.define
class ScriptedWaha:
    status: str = "SCAN_QR_CODE"
    qr: bytes = b"\x89PNG one"
    qr_error: ApiError | None = None
    fail: Exception | None = None
    calls: list[str] = attrs.field(factory=list)

    async def get_session(self, name: str) -> SessionInfo:
        if self.fail is not None:
            raise self.fail
        return SessionInfo(name=name, status=self.status)

    async def start_session(self, name: str) -> None:
        self.calls.append("start")
        self.status = "SCAN_QR_CODE"

    async def stop_session(self, name: str) -> None:
        self.calls.append("stop")
        if self.fail is not None:
            raise self.fail
        self.status = "STOPPED"

    async def restart_session(self, name: str) -> None:
        self.calls.append("restart")
        self.status = "STARTING"

    async def qr_image(self, name: str) -> bytes:
        if self.qr_error is not None:
            raise self.qr_error
        return self.qr

    async def request_code(self, name: str, phone: str) -> str:
        return "ABCD-EFGH"


@attrs.define
class Told:
    said: list[tuple[str, int]] = attrs.field(factory=list)

    async def tell(
        self,
        bridge_number: str,
        recipient: str,
        text: str,
        *,
        attachments: Sequence[OutboundAttachment] = (),
    ) -> bool:
        self.said.append((text, len(attachments)))
        return True

    def texts(self) -> list[str]:
        return [text for text, _ in self.said]


@attrs.define
class Store:
    marks: set[str] = attrs.field(factory=set)

    async def alert_raised(self, key: str) -> bool:
        return key in self.marks

    async def raise_alert(self, key: str, *, at: float) -> None:
        self.marks.add(key)

    async def clear_alert(self, key: str) -> None:
        self.marks.discard(key)

    async def pending_stats(self) -> dict[str, tuple[int, float]]:
        return {}

    async def dead_letters(self, *, limit: int = 100) -> list[JournalRow]:
        return []

    async def resurrect(self, row_id: int) -> bool:
        return False


class NoMutes:
    async def of_sessions(self, sessions: Iterable[str]) -> dict[str, list[Mute]]:
        return {}


class View:
    def status(self, session: str) -> str | None:
        return "WORKING"

    def worker(self, session: str) -> str:
        return "running"

    def signal_state(self, bridge_number: str) -> str:
        return "sending normally"


def _controller(waha: ScriptedWaha, told: Told, store: Store) -> Controller:
    return Controller(
        inbox=control_channel()[1],
        waha=waha,
        notices=told,
        store=store,
        sessions=View(),
        mutes=NoMutes(),
        ring=lambda: None,
        clock=lambda: 1_700_000_000.0,
        settings=ControlSettings(window=120.0, poll=2.0, settle=30.0),
    )


def _ask(action: str, phone: str | None = None) -> ControlRequest:
    return ControlRequest(BRIDGE, ME, action, ("default",), phone=phone)


async def test_pairing_times_out_after_two_minutes_with_one_qr_per_code(
    autojump_clock: trio.testing.MockClock,
) -> None:
    waha, told = ScriptedWaha(), Told()
    controller = _controller(waha, told, Store())
    began = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.handle, _ask("pair"))
        await trio.sleep(60)
        waha.qr = b"\x89PNG two"  # WhatsApp rotated it
    assert trio.current_time() - began == pytest.approx(120, abs=2)
    assert [n for _, n in told.said] == [1, 1, 0]  # two codes, then the end
    assert told.texts()[-1] == texts.pair_timed_out("default", 2)


async def test_a_second_pair_replaces_the_first(autojump_clock: trio.testing.MockClock) -> None:
    waha, told = ScriptedWaha(), Told()
    controller = _controller(waha, told, Store())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.handle, _ask("pair"))
        await trio.sleep(10)
        nursery.start_soon(controller.handle, _ask("pair", "+4917012345678"))
        await trio.sleep(10)
        waha.status = "WORKING"
    assert told.texts()[-2:] == [texts.pair_code("default", "ABCD-EFGH"), texts.paired("default")]
    assert told.texts().count(texts.paired("default")) == 1  # the first pairing was ended


async def test_a_session_that_fails_while_pairing_ends_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    waha, told = ScriptedWaha(qr_error=ApiError("WAHA get QR", status=404)), Told()
    controller = _controller(waha, told, Store())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.handle, _ask("pair"))
        await trio.sleep(5)
        waha.status = "FAILED"
    assert told.texts() == [texts.pair_stopped("default", "FAILED")]  # no QR: WAHA had none


async def test_failures_are_answered_and_a_failed_stop_leaves_no_mark(
    autojump_clock: trio.testing.MockClock,
) -> None:
    waha, told, store = (
        ScriptedWaha(fail=TransportError("WAHA stop session: timed out")),
        Told(),
        Store(),
    )
    controller = _controller(waha, told, store)
    await controller.handle(_ask("stop"))
    assert stopped_by_user("default") not in store.marks  # the STOPPED alert still works
    waha.fail = RuntimeError("a bug")
    await controller.handle(_ask("status"))  # not a WAHA call: answered anyway
    await controller.handle(_ask("restart"))
    assert len(told.said) == 3
    assert all("did not work" in text for text in told.texts()[::2])
    assert "an internal error" in told.texts()[2]


async def test_restart_reports_the_state_the_session_settled_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    waha, told = ScriptedWaha(status="WORKING"), Told()
    await _controller(waha, told, Store()).handle(_ask("restart"))
    assert told.texts() == [texts.steered("restart", "default", "STARTING")]  # 30 s, no change


async def test_the_inbox_refuses_when_full_or_closed() -> None:
    inbox, orders = control_channel()
    accepted = [inbox.submit(_ask("status")) for _ in range(100)]
    assert accepted.count(True) == 64 and not accepted[-1]
    orders.close()
    assert not inbox.submit(_ask("status"))
