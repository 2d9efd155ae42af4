"""Failure classification: what a failed upstream call means for the message that caused it.

The actors classify every failed call and act on the answer (DESIGN.md section 1, issue 4
item 6):

- :data:`Failure.TRANSIENT`: the upstream is unwell (no answer, 5xx, WAHA's 422 "session
  status is not as expected", a signal-cli 400 caused by a network or I/O failure). Back
  off and retry without using up an attempt, up to the message's maximum age.
- :data:`Failure.PERMANENT`: this request will fail again (bad recipient, unregistered
  user, untrusted identity, bad API key, a file that is too large). Use up an attempt;
  after ``retry.maxAttempts`` the message is dead.
- :data:`Failure.RATE_LIMITED`: signal-cli reported a rate limit. The message may have
  been delivered anyway (signal-cli-rest-api #881), so the bridge number's sends pause and
  the challenge (:func:`rate_limit_tokens`) is reported, rather than resending at once.

The status code alone decides little: signal-cli answers 400 for transient failures, and
WAHA's 422 covers both "not ready yet" and "not supported". So the classifiers read the
upstream's error text, which :class:`~whatsignal.errors.ApiError` keeps in its message and
(sanitised) body. The texts matched are those of signal-cli (``SendMessageResultUtils``,
``CommandUtil``, ``SendCommand``), signal-cli-rest-api and WAHA, listed below.

Pure functions of the error: no I/O, no clock.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

from whatsignal.errors import ApiError, ClientError, TransportError

__all__ = [
    "Failure",
    "classify_signal",
    "classify_waha",
    "rate_limit_retry_after",
    "rate_limit_tokens",
    "waha_quote_failed",
]


class Failure(enum.Enum):
    """What a failed call means for the message it carried."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    RATE_LIMITED = "rate_limited"


# Status codes that mean "try again later" whatever the body says.
_RETRY_STATUSES = frozenset({408, 425, 429})


def _pattern(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


# WAHA ----------------------------------------------------------------------------------

# 422 while a session is STARTING / SCAN_QR_CODE / ...: "Session status is not as expected.
# Try again later or restart the session", with "expected":["WORKING"] in the body.
_WAHA_NOT_READY = _pattern(
    r"status is not as expected",
    r"not\s+working",
    r'"expected"\s*:\s*\[\s*"WORKING"',
    r"try again later",
)

# 500s that repeating the same request cannot fix.
_WAHA_PERMANENT_500 = _pattern(
    r"could not get the quoted message",
    r"PayloadTooLargeError",
    r"request entity too large",
)

_WAHA_QUOTE = _pattern(r"could not get the quoted message", r"quoted message")


def classify_waha(error: ClientError) -> Failure:
    """Classify a failed WAHA call.

    - no answer, 5xx, 408/425/429, and 422 whose text says the session is not WORKING yet
      -> TRANSIENT;
    - 500 ``Could not get the quoted message.`` (retry without ``reply_to`` instead, see
      :func:`waha_quote_failed`) and payload-too-large -> PERMANENT;
    - every other 4xx (400 validation, 401 bad API key, 403, 404 ``Session not found``,
      422 ``not implemented by the engine`` / Plus-only) -> PERMANENT;
    - a 2xx answer WAHA accepted but that did not parse -> PERMANENT: the request went
      through, and repeating it risks a duplicate, so it must use up attempts.

    WAHA has no rate limit of its own, so nothing is RATE_LIMITED.
    """
    if isinstance(error, TransportError):
        return Failure.TRANSIENT
    if not isinstance(error, ApiError):
        return Failure.PERMANENT
    text = _text(error)
    if error.status >= 500:
        return Failure.PERMANENT if _WAHA_PERMANENT_500.search(text) else Failure.TRANSIENT
    if error.status in _RETRY_STATUSES:
        return Failure.TRANSIENT
    if error.status == 422 and _WAHA_NOT_READY.search(text):
        return Failure.TRANSIENT
    return Failure.PERMANENT


def waha_quote_failed(error: ClientError) -> bool:
    """True when WAHA could not find the message a ``reply_to`` names.

    WEBJS answers 500 ``Could not get the quoted message.`` (WAHA #698, #576); the send
    succeeds when repeated without ``reply_to``.
    """
    return isinstance(error, ApiError) and bool(_WAHA_QUOTE.search(_text(error)))


# signal-cli ----------------------------------------------------------------------------

_SIGNAL_RATE_LIMIT = _pattern(
    r"rate[ _-]?limit",  # "Rate limit reached", "...due to rate limiting", RATE_LIMIT_FAILURE
    r"proof[ _-]?required",  # "CAPTCHA proof required for sending to ...", PROOF_REQUIRED_FAILURE
    r"challenge[ _]tokens?",
    r"\[429\]",  # NonSuccessfulResponseCodeException: [429]
)

# Texts that say this recipient or this request will never work as it is.
_SIGNAL_PERMANENT = _pattern(
    r"unregistered[ _]user",  # "Unregistered user \"+49...\""
    r"unregistered[ _]failure",
    r"is not registered",  # "The user +49... is not registered." / "User +49... is not registered."
    r"untrusted[ _]identity",  # "Untrusted Identity for \"+49...\""
    r"identity[ _]failure",
    r"untrusted recipient keys",  # json-rpc -4
    r"invalid (?:phone )?number",  # "Invalid phone number '...'"
    r"invalid group id",
    r"invalid identifier",
    r"invalid recipient",
    r"please provide (?:a valid number|at least one recipient)",
    r"missingseparatorexception",  # internal group id sent as a recipient (#719)
    r"username must contain",
    r"group not found",
    r"no group with that id",
    r"not a (?:group )?member",
    r"please first update your profile",
    r"sending empty message is not allowed",
    r"no attachment with that name",
    r"please provide a valid attachment name",
    r"can(?:no|')t mix",  # recipients of different kinds in one request
    r"only one group",
    r"attachmentinvalidexception",
    r"invalid (?:attachment|mention|sticker|style)",
)

# Texts that say the send failed on the way and may work a moment later.
_SIGNAL_TRANSIENT = _pattern(
    r"network[ _]failure",  # "Network failure for \"+49...\"", NETWORK_FAILURE
    r"(?-i:\bI/O\b)",  # "Failed to send message due to an I/O error"
    r"\w*IOException",  # "Failed to send message: ... (IOException)" and subclasses
    r"pushnetworkexception",
    r"timed? ?out",  # "process killed as timeout reached", SocketTimeoutException
    r"timeout",
    r"connection (?:reset|refused|closed|aborted)",
    r"broken pipe",
    r"use of closed network connection",
    r"unexpected end of (?:stream|file)",
    r"(?-i:\bEOF\b)",
    r"config file is in use",  # normal mode: another signal-cli holds the lock
    r"temporarily unavailable",
    r"service unavailable",
    r"\[5\d\d\]",  # NonSuccessfulResponseCodeException: [502] Bad response
    r"try again later",
    r"couldn't (?:read|delete) attachment",
    r"lost connection to signal-cli",
)


def classify_signal(error: ClientError) -> Failure:
    """Classify a failed signal-cli-rest-api call.

    In order:

    1. no answer -> TRANSIENT;
    2. 429, or a rate-limit / proof-required text at any status -> RATE_LIMITED;
    3. a text naming a bad recipient or request (``Unregistered user``, ``Untrusted
       Identity``, ``Invalid phone number``, ``Invalid group id``, ...) -> PERMANENT, even
       next to transient words (a message that can never arrive must not wait forever);
    4. 5xx, 408, 425 -> TRANSIENT;
    5. a text naming a network, I/O or timeout failure (signal-cli answers those as 400)
       -> TRANSIENT;
    6. anything else -> PERMANENT (it uses up attempts, so a misjudged case still ends).
    """
    if isinstance(error, TransportError):
        return Failure.TRANSIENT
    if not isinstance(error, ApiError):
        return Failure.PERMANENT
    text = _text(error)
    if error.status == 429 or _SIGNAL_RATE_LIMIT.search(text):
        return Failure.RATE_LIMITED
    if _SIGNAL_PERMANENT.search(text):
        return Failure.PERMANENT
    if error.status >= 500 or error.status in _RETRY_STATUSES:
        return Failure.TRANSIENT
    if _SIGNAL_TRANSIENT.search(text):
        return Failure.TRANSIENT
    return Failure.PERMANENT


_TOKEN_IN_TEXT = re.compile(r'challenge token "([^"\s]+)"', re.IGNORECASE)
_WAIT_IN_TEXT = re.compile(r'or wait "?(\d+)"? seconds', re.IGNORECASE)


def rate_limit_tokens(error: ClientError) -> list[str]:
    """The rate-limit challenge tokens a signal-cli answer carried, empty ones dropped.

    Read from the 429 body's ``challenge_tokens`` (json-rpc mode) and from the text
    ``... with challenge token "<token>" ...`` (normal mode). signal-cli sometimes sends
    ``[""]`` (#881), which yields ``[]``: there is a limit but no challenge to solve. A token
    is solved with ``POST /v1/accounts/{number}/rate-limit-challenge``.
    """
    if not isinstance(error, ApiError):
        return []
    tokens: list[str] = []
    data = _json(error.body)
    if isinstance(data, dict) and isinstance(data.get("challenge_tokens"), list):
        tokens.extend(t for t in data["challenge_tokens"] if isinstance(t, str))
    tokens.extend(_TOKEN_IN_TEXT.findall(_text(error)))
    unique: list[str] = []
    for token in tokens:
        token = token.strip()
        if token and token not in unique:
            unique.append(token)
    return unique


def rate_limit_retry_after(error: ClientError) -> float | None:
    """Seconds signal-cli said to wait (``... or wait "<n>" seconds``), or None if it did not."""
    if not isinstance(error, ApiError):
        return None
    found = _WAIT_IN_TEXT.search(_text(error))
    return float(found.group(1)) if found else None


def _text(error: ApiError) -> str:
    return f"{error}\n{error.body}"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
