"""Upstreams: the guarded calls. A broken WAHA session opens its own circuit breaker only; a
signal-cli rate limit pauses every send of that bridge number; failures are classified.

Trio's clock is a ``mock_clock`` that only the test moves (breakers and pauses run on it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import trio.testing
from relay_fakes import (
    BRIDGE,
    CAROL,
    ME,
    SESSION,
    FakeSignal,
    FakeWaha,
    error_response,
    json_response,
    no_answer,
)

from whatsignal.clients import Spool
from whatsignal.errors import ApiError, TransportError
from whatsignal.metrics import Metrics
from whatsignal.relay import Deferred, UpstreamError, Upstreams
from whatsignal.relay.upstreams import too_large
from whatsignal.reliability import Failure

OTHER_NUMBER = "+15550003333"
"""A second bridge number."""
SEND_TEXT = "POST /api/sendText"
SEND = "POST /v2/send"
RATE_LIMITED = json_response(
    429,
    {
        "error": "Failed to send message due to rate limiting. Use the attached challenge "
        "tokens to lift the rate limit restrictions via the "
        "'/v1/accounts/{number}/rate-limit-challenge' endpoint.",
        "challenge_tokens": ["1b2c3d4e-0000-4000-8000-123456789012"],
    },
)
"""signal-cli-rest-api's 429 (json-rpc mode): no wait named, one challenge token."""
PROOF_REQUIRED = error_response(
    400,
    "Failed to send (some) messages:\n+15550002222: CAPTCHA proof required for sending to "
    '"+15550002222", available options "RECAPTCHA, PUSH_CHALLENGE" with challenge token '
    '"9f8e7d6c-1111-4222-8333-444455556666", or wait "3600" seconds.\n',
)
"""signal-cli's proof-required failure (normal mode): it names the wait."""


async def send_text(upstreams: Upstreams, session: str = SESSION) -> str:
    """One guarded WAHA text send in ``session``."""
    return await upstreams.whatsapp.send_text(
        session, CAROL, "hi", reply_to=None, link_preview=False
    )


async def send(upstreams: Upstreams, number: str = BRIDGE) -> int:
    """One guarded Signal send from ``number``."""
    return await upstreams.signal.send(number, ME, "Carol: hi")


# WAHA -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(error_response(503, "unavailable"), id="5xx"),
        pytest.param(no_answer(), id="no-answer"),
        pytest.param(error_response(422, "Session status is not as expected"), id="not-working"),
    ],
)
async def test_transient_waha_failures_open_that_sessions_breaker_only(
    upstreams: Upstreams, fake_waha: FakeWaha, mock_clock: trio.testing.MockClock, failure: Any
) -> None:
    fake_waha.upstream.script(SEND_TEXT, *[failure] * 5)
    for _ in range(5):
        with pytest.raises(UpstreamError) as failed:
            await send_text(upstreams)
        assert (failed.value.upstream, failed.value.target) == ("waha", SESSION)
        assert failed.value.failure is Failure.TRANSIENT
    mock_clock.jump(4)

    with pytest.raises(Deferred) as deferred:
        await send_text(upstreams)

    assert deferred.value.retry_after == 11.0  # the breaker's 15 s, 4 of them gone
    assert len(fake_waha.upstream.calls(SEND_TEXT)) == 5  # the deferred call made no request
    assert await send_text(upstreams, "work") == f"true_{CAROL}_SENT1"


async def test_an_open_waha_breaker_lets_a_trial_through_after_its_pause(
    upstreams: Upstreams, fake_waha: FakeWaha, mock_clock: trio.testing.MockClock
) -> None:
    fake_waha.upstream.script(SEND_TEXT, *[error_response(502, "bad gateway")] * 5)
    for _ in range(5):
        with pytest.raises(UpstreamError):
            await send_text(upstreams)

    mock_clock.jump(15)

    assert await send_text(upstreams) == f"true_{CAROL}_SENT1"  # the trial
    assert await send_text(upstreams) == f"true_{CAROL}_SENT2"  # closed again


async def test_a_failed_trial_keeps_the_waha_breaker_open(
    upstreams: Upstreams, fake_waha: FakeWaha, mock_clock: trio.testing.MockClock
) -> None:
    fake_waha.upstream.script(SEND_TEXT, *[error_response(502, "bad gateway")] * 6)
    for _ in range(5):
        with pytest.raises(UpstreamError):
            await send_text(upstreams)
    mock_clock.jump(15)

    with pytest.raises(UpstreamError):
        await send_text(upstreams)  # the trial fails
    with pytest.raises(Deferred):
        await send_text(upstreams)

    assert len(fake_waha.upstream.calls(SEND_TEXT)) == 6


async def test_permanent_waha_failures_never_open_the_breaker(
    upstreams: Upstreams, fake_waha: FakeWaha
) -> None:
    fake_waha.upstream.script(SEND_TEXT, *[error_response(400, "chatId is invalid")] * 8)
    for _ in range(8):
        with pytest.raises(UpstreamError) as failed:
            await send_text(upstreams)
        assert failed.value.failure is Failure.PERMANENT

    assert await send_text(upstreams) == f"true_{CAROL}_SENT1"


async def test_a_success_forgets_earlier_waha_failures(
    upstreams: Upstreams, fake_waha: FakeWaha
) -> None:
    failing = error_response(500, "boom")
    fake_waha.upstream.script(SEND_TEXT, *[failing] * 4, json_response(201, {"id": "x"}))
    fake_waha.upstream.script(SEND_TEXT, *[failing] * 4)
    for expected_ok in [False] * 4 + [True] + [False] * 4:
        if expected_ok:
            assert await send_text(upstreams) == "x"
            continue
        with pytest.raises(UpstreamError):
            await send_text(upstreams)

    assert await send_text(upstreams) == f"true_{CAROL}_SENT1"  # 4 in a row: still closed


async def test_a_waha_call_raising_a_client_error_without_an_answer_is_permanent(
    upstreams: Upstreams, fake_waha: FakeWaha
) -> None:
    """A media URL off the WAHA host is refused before any request (a forged webhook)."""
    with pytest.raises(UpstreamError) as failed, Spool() as spool:
        await upstreams.whatsapp.download(
            SESSION, "http://evil.example/x.jpg", max_bytes=10, into=spool
        )

    assert failed.value.failure is Failure.PERMANENT
    assert fake_waha.upstream.requests == []


# signal-cli -------------------------------------------------------------------------------


async def test_a_signal_rate_limit_pauses_every_send_of_that_number(
    upstreams: Upstreams,
    fake_signal: FakeSignal,
    metrics: Metrics,
    mock_clock: trio.testing.MockClock,
) -> None:
    mock_clock.jump(1000)
    fake_signal.upstream.script(SEND, RATE_LIMITED)

    with pytest.raises(UpstreamError) as failed:
        await send(upstreams)

    assert failed.value.failure is Failure.RATE_LIMITED
    assert failed.value.retry_after == 60.0  # the configured pause: signal-cli named none
    gate = upstreams.signal.gate(BRIDGE)
    assert gate.paused_until == 1060.0
    assert gate.challenge_tokens == ("1b2c3d4e-0000-4000-8000-123456789012",)
    labels = {"number": "*1111"}
    assert metrics.registry.get_sample_value("whatsignal_signal_rate_limited_total", labels) == 1

    mock_clock.jump(20)
    signal = upstreams.signal
    paused_calls: list[Callable[[], Awaitable[object]]] = [
        lambda: send(upstreams),
        lambda: signal.react(
            BRIDGE, ME, "👍", target_author=BRIDGE, target_timestamp=1, remove=False
        ),
        lambda: signal.read_receipt(BRIDGE, ME, timestamp=1),
        lambda: signal.remote_delete(BRIDGE, ME, timestamp=1),
    ]
    for call in paused_calls:
        with pytest.raises(Deferred) as deferred:
            await call()
        assert deferred.value.retry_after == 40.0
    assert len(fake_signal.upstream.requests) == 1  # none of them was made

    assert await send(upstreams, OTHER_NUMBER) > 0  # another number is not paused
    # A reply's file comes from signal-cli's disk, not from Signal: it does not wait.
    fake_signal.attachments["a1"] = b"file"
    with Spool() as spool:
        await signal.attachment(BRIDGE, "a1", max_bytes=10, into=spool)
        assert [piece async for piece in spool.pieces(10)] == [b"file"]


async def test_sends_resume_after_the_pause_and_clear_the_challenge(
    upstreams: Upstreams, fake_signal: FakeSignal, mock_clock: trio.testing.MockClock
) -> None:
    fake_signal.upstream.script(SEND, RATE_LIMITED)
    with pytest.raises(UpstreamError):
        await send(upstreams)

    mock_clock.jump(60)

    assert await send(upstreams) == 1_700_000_100_000
    assert upstreams.signal.gate(BRIDGE).challenge_tokens == ()


async def test_a_rate_limit_that_names_its_wait_pauses_that_long(
    upstreams: Upstreams, fake_signal: FakeSignal, mock_clock: trio.testing.MockClock
) -> None:
    fake_signal.upstream.script(SEND, PROOF_REQUIRED)

    with pytest.raises(UpstreamError) as failed:
        await send(upstreams)

    assert failed.value.retry_after == 3600.0
    gate = upstreams.signal.gate(BRIDGE)
    assert gate.challenge_tokens == ("9f8e7d6c-1111-4222-8333-444455556666",)
    mock_clock.jump(3599)
    with pytest.raises(Deferred):
        await send(upstreams)


async def test_a_solved_challenge_lifts_the_pause_at_once(
    upstreams: Upstreams, fake_signal: FakeSignal
) -> None:
    fake_signal.upstream.script(SEND, RATE_LIMITED)
    with pytest.raises(UpstreamError):
        await send(upstreams)

    upstreams.signal.gate(BRIDGE).lift()

    assert await send(upstreams) > 0
    assert upstreams.signal.gates() == [upstreams.signal.gate(BRIDGE)]


async def test_an_unregistered_recipient_is_a_permanent_failure_that_pauses_nothing(
    upstreams: Upstreams, fake_signal: FakeSignal
) -> None:
    unregistered = error_response(400, 'Failed to send message: Unregistered user "+15550002222"')
    fake_signal.upstream.script(SEND, *[unregistered] * 6)
    for _ in range(6):
        with pytest.raises(UpstreamError) as failed:
            await send(upstreams)
        assert (failed.value.upstream, failed.value.target) == ("signal", BRIDGE)
        assert failed.value.failure is Failure.PERMANENT
        assert failed.value.retry_after is None

    assert await send(upstreams) > 0  # no pause, no open breaker


async def test_transient_signal_failures_open_that_numbers_breaker(
    upstreams: Upstreams, fake_signal: FakeSignal, mock_clock: trio.testing.MockClock
) -> None:
    network = error_response(400, 'Failed to send message: Network failure for "+15550002222"')
    fake_signal.upstream.script(SEND, *[network] * 5)
    for _ in range(5):
        with pytest.raises(UpstreamError) as failed:
            await send(upstreams)
        assert failed.value.failure is Failure.TRANSIENT

    with pytest.raises(Deferred) as deferred:
        await send(upstreams)

    assert deferred.value.retry_after == 15.0
    assert len(fake_signal.upstream.requests) == 5
    assert await send(upstreams, OTHER_NUMBER) > 0
    mock_clock.jump(15)
    assert await send(upstreams) > 0


# Download limits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            ApiError(
                "WAHA media download: the file is larger than the limit of 5 bytes", status=200
            ),
            True,
            id="stopped-at-the-cap",
        ),
        pytest.param(ApiError("file larger than you think", status=404), False, id="error-answer"),
        pytest.param(ApiError("unexpected answer", status=200), False, id="other-2xx"),
        pytest.param(TransportError("no answer"), False, id="no-answer"),
    ],
)
def test_too_large_means_the_download_stopped_at_its_cap(error: Any, expected: bool) -> None:
    assert too_large(error) is expected


async def test_a_download_over_its_cap_is_an_error_too_large_recognises(
    upstreams: Upstreams, fake_waha: FakeWaha
) -> None:
    fake_waha.upstream.script(
        "GET /api/files/personal/big.bin", httpx.Response(200, content=b"0123456789")
    )

    with Spool() as spool, pytest.raises(UpstreamError) as failed:
        await upstreams.whatsapp.download(
            SESSION, "http://waha:3000/api/files/personal/big.bin", max_bytes=5, into=spool
        )

    assert too_large(failed.value.error)
    assert failed.value.failure is Failure.PERMANENT
