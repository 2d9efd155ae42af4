"""Failure classification with the upstreams' real error texts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from whatsignal.clients._http import api_error, transport_error
from whatsignal.errors import ApiError, ClientError, TransportError
from whatsignal.reliability import (
    Failure,
    classify_signal,
    classify_waha,
    rate_limit_retry_after,
    rate_limit_tokens,
    waha_quote_failed,
)

T, P, R = Failure.TRANSIENT, Failure.PERMANENT, Failure.RATE_LIMITED


def answer(status: int, body: Any, operation: str = "upstream call") -> ApiError:
    """The ApiError the clients raise for this answer (same sanitising, same message)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return api_error(operation, status, text)


NO_ANSWER = TransportError("no answer (ConnectError: [Errno 111] Connection refused)")
REFUSED_URL = ClientError("WAHA media download: host 'evil.example' is not the WAHA server")

# WAHA ------------------------------------------------------------------------------------

NOT_WORKING = {
    "error": "Session status is not as expected. Try again later or restart the session",
    "session": "default",
    "status": "STARTING",
    "expected": ["WORKING"],
}

WAHA_CASES = [
    pytest.param(NO_ANSWER, T, id="no-answer"),
    pytest.param(REFUSED_URL, P, id="refused-before-sending"),
    pytest.param(answer(422, NOT_WORKING), T, id="422-session-not-working"),
    pytest.param(
        answer(422, {"expected": ["WORKING"], "status": "SCAN_QR_CODE"}),
        T,
        id="422-expected-working",
    ),
    pytest.param(
        answer(422, {"statusCode": 422, "message": "The method is not implemented by the engine."}),
        P,
        id="422-not-implemented",
    ),
    pytest.param(
        answer(422, {"message": "This feature is available only in Plus version"}), P, id="422-plus"
    ),
    pytest.param(
        answer(
            422,
            {"message": 'Use "devlikeapro/waha-plus:chrome" docker image to send video in WEBJS'},
        ),
        P,
        id="422-video-needs-chrome",
    ),
    pytest.param(
        answer(422, {"message": "Session 'default' already exists. Use PUT to update it."}),
        P,
        id="422-exists",
    ),
    pytest.param(
        answer(
            500,
            {
                "statusCode": 500,
                "exception": {"message": "Protocol error (Runtime.callFunctionOn): Target closed."},
            },
        ),
        T,
        id="500-engine-crash",
    ),
    pytest.param(
        answer(500, {"exception": {"message": "Could not get the quoted message."}}),
        P,
        id="500-quoted-message",
    ),
    pytest.param(
        answer(
            500,
            {"exception": {"message": "request entity too large", "name": "PayloadTooLargeError"}},
        ),
        P,
        id="500-payload-too-large",
    ),
    pytest.param(answer(502, "<html>Bad Gateway</html>"), T, id="502-proxy"),
    pytest.param(answer(503, ""), T, id="503"),
    pytest.param(answer(408, ""), T, id="408"),
    pytest.param(answer(425, ""), T, id="425"),
    pytest.param(answer(429, ""), T, id="429-proxy"),
    pytest.param(
        answer(400, {"message": ["chatId must be a string"], "error": "Bad Request"}), P, id="400"
    ),
    pytest.param(answer(401, {"message": "Unauthorized", "statusCode": 401}), P, id="401-api-key"),
    pytest.param(answer(403, {"message": "Forbidden"}), P, id="403"),
    pytest.param(answer(404, {"message": "Session not found"}), P, id="404-session"),
    pytest.param(
        answer(404, {"error": {"code": 404, "key": "FILE_NOT_FOUND", "message": "File not found"}}),
        P,
        id="404-media-expired",
    ),
    pytest.param(
        ApiError("WAHA sendText: unexpected answer (HTTP 201): the body is not JSON", status=201),
        P,
        id="2xx-unreadable",
    ),
    pytest.param(
        ApiError("WAHA media download: the file is larger than the limit", status=200),
        P,
        id="too-large",
    ),
]


@pytest.mark.parametrize(("error", "expected"), WAHA_CASES)
def test_classify_waha(error: ClientError, expected: Failure) -> None:
    assert classify_waha(error) is expected


def test_waha_quote_failed() -> None:
    quoted = answer(500, {"exception": {"message": "Could not get the quoted message."}})
    assert waha_quote_failed(quoted)
    assert not waha_quote_failed(answer(500, {"exception": {"message": "boom"}}))
    assert not waha_quote_failed(NO_ANSWER)


# signal-cli ------------------------------------------------------------------------------

RATE_LIMIT_429 = {
    "error": "Failed to send message due to rate limiting. Use the attached challenge tokens"
    " to lift the rate limit restrictions via the"
    " '/v1/accounts/{number}/rate-limit-challenge' endpoint.",
    "challenge_tokens": ["1b2c3d4e-0000-4000-8000-123456789012"],
    "account": "+4915100000001",
}
PROOF_REQUIRED = (
    "Failed to send (some) messages:\n+4915112345678: CAPTCHA proof required for sending to"
    ' "+4915112345678", available options "RECAPTCHA, PUSH_CHALLENGE" with challenge token'
    ' "9f8e7d6c-1111-4222-8333-444455556666", or wait "86400" seconds.\n'
)


def signal_error(status: int, text: str) -> ApiError:
    return answer(status, {"error": text}, operation="signal-cli send")


SIGNAL_CASES = [
    pytest.param(NO_ANSWER, T, id="no-answer"),
    pytest.param(REFUSED_URL, P, id="not-an-http-error"),
    # Rate limits, whatever the status.
    pytest.param(answer(429, RATE_LIMIT_429), R, id="429-challenge"),
    pytest.param(answer(429, {"error": "x", "challenge_tokens": [""]}), R, id="429-empty-token"),
    pytest.param(
        signal_error(400, "Failed to send message due to rate limiting"), R, id="400-old-rate-limit"
    ),
    pytest.param(signal_error(400, "Rate limit reached"), R, id="rate-limit-reached"),
    pytest.param(signal_error(400, PROOF_REQUIRED), R, id="proof-required"),
    pytest.param(
        signal_error(
            400, "Failed to send message: [429] Rate limit exceeded: 429 (RateLimitException)"
        ),
        R,
        id="429-inside-400",
    ),
    pytest.param(
        ApiError("signal-cli send failed for every recipient: PROOF_REQUIRED_FAILURE", status=201),
        R,
        id="array-proof-required",
    ),
    # Permanent: the recipient or request is wrong.
    pytest.param(
        signal_error(400, 'Failed to send (some) messages:\nUnregistered user "+4915112345678"'),
        P,
        id="unregistered",
    ),
    pytest.param(
        signal_error(
            400, 'Failed to send (some) messages:\nUntrusted Identity for "+4915112345678"'
        ),
        P,
        id="untrusted-identity",
    ),
    pytest.param(
        signal_error(400, "Unable to complete request due to untrusted recipient keys"),
        P,
        id="json-rpc-untrusted-keys",
    ),
    pytest.param(
        signal_error(400, "The user +4915112345678 is not registered."), P, id="user-not-registered"
    ),
    pytest.param(
        signal_error(400, "Invalid phone number '+49abc': The string supplied is too long"),
        P,
        id="invalid-number",
    ),
    pytest.param(signal_error(400, "Invalid group id"), P, id="invalid-group"),
    pytest.param(signal_error(400, "please provide a valid number"), P, id="no-number"),
    pytest.param(signal_error(400, "please provide at least one recipient"), P, id="no-recipient"),
    pytest.param(
        signal_error(400, "MissingSeparatorException: Username must contain a '.'"),
        P,
        id="internal-group-id",
    ),
    pytest.param(
        signal_error(400, "Cannot send message to group - please first update your profile."),
        P,
        id="group-needs-profile",
    ),
    pytest.param(
        answer(404, {"error": "No attachment with that name found"}), P, id="attachment-gone"
    ),
    pytest.param(
        signal_error(
            400,
            'Failed to send (some) messages:\nNetwork failure for "+4915100000003"\n'
            'Unregistered user "+4915112345678"',
        ),
        P,
        id="permanent-wins-over-network",
    ),
    pytest.param(
        ApiError("signal-cli send failed for every recipient: UNREGISTERED_FAILURE", status=201),
        P,
        id="array-unregistered",
    ),
    # Transient: signal-cli's 400 for failures on the way.
    pytest.param(
        signal_error(400, 'Failed to send (some) messages:\nNetwork failure for "+4915112345678"'),
        T,
        id="network-failure",
    ),
    pytest.param(
        ApiError("signal-cli send failed for every recipient: NETWORK_FAILURE", status=201),
        T,
        id="array-network-failure",
    ),
    pytest.param(signal_error(400, "Failed to send message due to an I/O error"), T, id="io-error"),
    pytest.param(
        signal_error(400, "Failed to send message: Connection closed! (IOException)"),
        T,
        id="ioexception",
    ),
    pytest.param(
        signal_error(400, "Failed to send message: timeout (SocketTimeoutException)"),
        T,
        id="socket-timeout",
    ),
    pytest.param(signal_error(400, "process killed as timeout reached"), T, id="cmd-timeout"),
    pytest.param(
        signal_error(400, "Config file is in use by another instance, waiting…"),
        T,
        id="config-lock",
    ),
    pytest.param(
        signal_error(
            400,
            "Failed to send message: [502] Bad response: 502 (NonSuccessfulResponseCodeException)",
        ),
        T,
        id="signal-server-502",
    ),
    pytest.param(signal_error(400, "write tcp 127.0.0.1:6001: broken pipe"), T, id="daemon-pipe"),
    pytest.param(signal_error(400, "unexpected EOF"), T, id="eof"),
    pytest.param(answer(500, "java.lang.NullPointerException"), T, id="500"),
    pytest.param(answer(503, ""), T, id="503"),
    pytest.param(answer(408, ""), T, id="408"),
    # Anything else uses up attempts.
    pytest.param(signal_error(400, "Something unheard of"), P, id="unknown-400"),
    pytest.param(signal_error(400, "signal.io is unhappy"), P, id="io-word-is-not-I/O"),
    pytest.param(
        ApiError("signal-cli send: unexpected answer (HTTP 201): no usable timestamp", status=201),
        P,
        id="2xx-unreadable",
    ),
]


@pytest.mark.parametrize(("error", "expected"), SIGNAL_CASES)
def test_classify_signal(error: ClientError, expected: Failure) -> None:
    assert classify_signal(error) is expected


def test_rate_limit_tokens_from_the_429_body() -> None:
    assert rate_limit_tokens(answer(429, RATE_LIMIT_429)) == [
        "1b2c3d4e-0000-4000-8000-123456789012"
    ]


def test_rate_limit_tokens_empty_token_means_none() -> None:
    assert rate_limit_tokens(answer(429, {"error": "x", "challenge_tokens": ["", " "]})) == []


def test_rate_limit_tokens_from_normal_mode_text() -> None:
    error = signal_error(400, PROOF_REQUIRED + PROOF_REQUIRED)
    assert rate_limit_tokens(error) == ["9f8e7d6c-1111-4222-8333-444455556666"]
    assert rate_limit_retry_after(error) == 86400.0


def test_rate_limit_helpers_on_other_errors() -> None:
    assert rate_limit_tokens(NO_ANSWER) == []
    assert rate_limit_tokens(answer(429, "<html>Too Many Requests</html>")) == []
    assert rate_limit_tokens(signal_error(400, "Rate limit reached")) == []
    assert rate_limit_retry_after(NO_ANSWER) is None
    assert rate_limit_retry_after(signal_error(400, "Rate limit reached")) is None


def test_classification_survives_number_masking() -> None:
    """The texts the clients keep are masked; the classifiers must still read them."""
    error = answer(400, {"error": 'Unregistered user "+4915112345678"'})
    assert "4915112345678" not in str(error) + error.body
    assert classify_signal(error) is P


def test_transport_error_message_shape() -> None:
    """The breaker and classifiers see what the clients raise for a dead upstream."""
    error = transport_error("signal-cli receive", httpx.ConnectError(""))
    assert str(error) == "signal-cli receive: no answer (ConnectError)"
    assert classify_signal(error) is T
