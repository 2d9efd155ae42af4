"""The whatsignal exception hierarchy.

::

    WhatsignalError
    ├── ConfigError            a bad configuration file or environment (exit code 2)
    ├── PayloadError           an inbound payload that does not parse (HTTP 400)
    ├── StorageError           the database failed (a webhook answers 503)
    └── ClientError            a call to WAHA or signal-cli failed
        ├── TransportError     no HTTP answer at all (connect, read, timeout)
        └── ApiError           an HTTP answer with an error status

Every error a user can cause carries a message meant for that user; the CLI prints it
without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class WhatsignalError(Exception):
    """Base class of every error whatsignal raises on purpose."""


class ConfigError(WhatsignalError):
    """The configuration is invalid.

    ``problems`` holds one line per problem, each naming the key, the bad value and the fix,
    so that a user sees every mistake at once rather than one per run.
    """

    def __init__(self, problems: Sequence[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


class PayloadError(WhatsignalError):
    """An inbound payload (webhook body, Signal envelope) is malformed."""


class StorageError(WhatsignalError):
    """The store could not complete an operation."""


class ClientError(WhatsignalError):
    """A request to an upstream service (WAHA, signal-cli-rest-api) failed."""


class TransportError(ClientError):
    """The request got no HTTP answer (connection refused, reset, timeout)."""


class ApiError(ClientError):
    """The upstream answered with an error status.

    Attributes:
        status: the HTTP status code.
        body: the response text (already truncated to a sane length).
    """

    def __init__(self, message: str, *, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body
