"""Logging setup and the helpers that keep personal data out of logs.

Logs go to stderr: JSON lines when stderr is not a terminal (containers, journald), a readable
console format otherwise, or whatever ``--log-format`` says.

Privacy: phone numbers are masked to their last four digits and message text is replaced by
``[hidden]``, everywhere and always, unless debug logging was explicitly enabled (which secure
mode refuses at config time). Call sites use :func:`phone`, :func:`chat` and :func:`content` on
values they log; as a second line of defence the formatter masks anything left in the final line
that looks like a phone number.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, Literal, TextIO

__all__ = [
    "LogFormat",
    "chat",
    "configure_logging",
    "content",
    "mask_text",
    "phone",
    "sensitive_enabled",
]

LogFormat = Literal["json", "console", "auto"]

# Long digit runs, with or without a leading +, optionally followed by a WhatsApp/Signal domain.
# 8+ digits catches phone numbers and chat ids; Signal timestamps (13 digits) are masked too,
# which costs nothing (they are correlatable through message ids anyway).
_PHONE_RE = re.compile(r"(?<!\d)(\+?)(\d{4,11})(\d{4})(?!\d)")

# Whether debug logging with personal data was explicitly enabled. Logging is process-global by
# nature (the stdlib logging tree), so this one switch lives with it.
_sensitive = False


def sensitive_enabled() -> bool:
    """True only when the operator asked for debug logs that may show numbers and text."""
    return _sensitive


def mask_text(text: str) -> str:
    """Mask every phone-number-like digit run in ``text`` down to its last four digits."""
    return _PHONE_RE.sub(lambda m: f"{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}", text)


def phone(number: str | None) -> str:
    """A phone number (or uuid) fit for a log line: ``+491701234567`` -> ``+*********4567``."""
    if number is None:
        return "-"
    if _sensitive:
        return number
    digits = number.lstrip("+")
    if digits.isdigit():
        return ("+" if number.startswith("+") else "") + "*" * max(len(digits) - 4, 0) + digits[-4:]
    # uuids and other ids: keep a short prefix for correlation
    return number[:8] + "..." if len(number) > 8 else number


def chat(chat_id: str | None) -> str:
    """A WhatsApp chat id fit for a log line: ``491701234567@c.us`` -> ``********4567@c.us``."""
    if chat_id is None:
        return "-"
    if _sensitive:
        return chat_id
    user, sep, domain = chat_id.partition("@")
    return phone(user) + sep + domain


def content(text: str | None) -> str:
    """Message text fit for a log line: ``[hidden]`` unless sensitive debug logging is on."""
    if text is None:
        return "-"
    return text if _sensitive else "[hidden]"


_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class _Masking(logging.Formatter):
    def mask(self, text: str) -> str:
        return text if _sensitive else mask_text(text)


class JsonFormatter(_Masking):
    """One JSON object per line: ts, level, logger, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            entry[key] = (
                value if isinstance(value, int | float | bool) or value is None else str(value)
            )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(entry, ensure_ascii=False, default=str))


class ConsoleFormatter(_Masking):
    """``12:00:01 INFO  whatsignal.bridge  message forwarded  session=default``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}  {record.getMessage()}"
        if extras:
            line += f"  {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.mask(line)


def configure_logging(
    level: str = "info",
    fmt: LogFormat = "auto",
    *,
    stream: TextIO | None = None,
) -> None:
    """Send whatsignal's logs to ``stream`` (stderr) at ``level`` in ``fmt``.

    ``level`` is one of debug/info/warn/warning/error. ``debug`` turns on sensitive logging (full
    numbers and message text): config validation refuses it in secure mode.
    """
    global _sensitive
    stream = sys.stderr if stream is None else stream
    names = {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "warning": logging.WARNING,
        "error": logging.ERROR,
    }
    numeric = names.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}; use one of debug, info, warn, error")
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Libraries stay at warning unless we debug.
    for noisy in ("httpx", "httpcore", "hypercorn", "quart", "trio-websocket"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if numeric == logging.DEBUG else logging.WARNING
        )
    _sensitive = numeric == logging.DEBUG
