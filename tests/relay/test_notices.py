"""Notices: what the user is told in Signal, and that telling is best effort (one try, bounded
in time, never through the send gates, never an error for the caller)."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing
from relay_fakes import BRIDGE, ME, FakeSignal, error_response, no_answer

from whatsignal.clients import SignalClient
from whatsignal.relay import Notices, Upstreams
from whatsignal.relay.notices import (
    NOTICE_NO_CHAT,
    NOTICE_UNKNOWN_QUOTE,
    dead_from_signal,
    dead_from_whatsapp,
)


async def test_a_notice_is_sent_from_the_bridge_number_to_the_user(
    signal_client: SignalClient, fake_signal: FakeSignal
) -> None:
    assert await Notices(signal=signal_client).tell(BRIDGE, ME, "hello") is True

    assert fake_signal.sends() == [{"number": BRIDGE, "recipients": [ME], "message": "hello"}]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(error_response(400, "Unregistered user"), id="refused"),
        pytest.param(no_answer(), id="no-answer"),
    ],
)
async def test_a_notice_that_cannot_be_sent_is_false_not_an_error(
    signal_client: SignalClient,
    fake_signal: FakeSignal,
    caplog: pytest.LogCaptureFixture,
    failure: httpx.Response | Exception,
) -> None:
    fake_signal.upstream.script("POST /v2/send", failure)

    assert await Notices(signal=signal_client).tell(BRIDGE, ME, "hello") is False

    assert "could not send a notice" in caplog.text
    assert len(fake_signal.upstream.requests) == 1  # one try only


async def test_a_notice_gives_up_after_its_timeout(
    signal_client: SignalClient, fake_signal: FakeSignal, autojump_clock: trio.testing.MockClock
) -> None:
    async def never_answers(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    fake_signal.upstream.script("POST /v2/send", never_answers)
    began = trio.current_time()

    assert await Notices(signal=signal_client, timeout=10).tell(BRIDGE, ME, "hello") is False

    assert trio.current_time() - began == 10


async def test_a_notice_goes_out_while_the_numbers_sends_are_paused(
    upstreams: Upstreams, signal_client: SignalClient, fake_signal: FakeSignal
) -> None:
    """The user must learn why nothing arrives, even (especially) during a rate limit."""
    gate = upstreams.signal.gate(BRIDGE)
    gate.pause(trio.current_time(), 600, ["token"])

    assert await Notices(signal=signal_client).tell(BRIDGE, ME, "hello") is True


def test_a_dead_letter_notice_names_the_chat_the_letter_and_how_to_retry() -> None:
    text = dead_from_whatsapp("Carol", 17)

    assert "WhatsApp message from Carol" in text
    assert "dead letter #17" in text
    assert "POST /admin/dead-letters/17/retry" in text


def test_an_undelivered_signal_message_notice_names_the_session_and_how_to_retry() -> None:
    text = dead_from_signal("personal", 18)

    assert "your message could not be delivered to WhatsApp (session personal)" in text
    assert "POST /admin/dead-letters/18/retry" in text


@pytest.mark.parametrize("text", [NOTICE_NO_CHAT, NOTICE_UNKNOWN_QUOTE])
def test_routing_notices_say_how_to_choose_the_chat(text: str) -> None:
    assert "whatsignal" in text
    assert "quote" in text.lower()
