"""Checking and normalising single values, one function per `Kind`.

Types are strict on purpose: the string ``"false"`` is not a bool (Python would call it true),
``1.5`` is not an int and a number is not a string (YAML reads an unquoted ``+4917...`` as an
integer and drops the ``+``). Every failure raises `Invalid` with a message that states the bad
value and the fix; the caller prefixes the key path.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from whatsignal.config._keys import Key, Kind

GO_NANOSECONDS = 1_000_000_000

_PHONE_JUNK = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXT = re.compile(r"[a-z0-9]{1,16}")
PHONE_FIX = "use E.164, e.g. +491701234567"


class Invalid(ValueError):
    """A value failed its check; the message names the value and the fix."""


def describe(raw: object) -> str:
    """A short name of a raw value's type, in the user's vocabulary."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list | tuple):
        return "a list"
    if isinstance(raw, dict):
        return "a mapping"
    return type(raw).__name__


def normalize_phone_number(raw: str) -> str | None:
    """E.164 form of ``raw`` (``+`` and 8-15 digits), or None if it is not a phone number.

    Spaces, dashes, dots and parentheses are dropped; a missing ``+`` is added and a ``00``
    international prefix becomes ``+``.
    """
    digits = _PHONE_JUNK.sub("", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif not digits.startswith("+"):
        digits = "+" + digits
    return digits if _PHONE.fullmatch(digits) else None


def _bool(key: Key, raw: object) -> bool:
    if not isinstance(raw, bool):
        raise Invalid(f"{raw!r} is {describe(raw)}, not a boolean; write true or false (no quotes)")
    return raw


def number(value: float) -> str:
    """A bound as a user writes it: ``3600000``, not ``3.6e+06``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _in_range(key: Key, value: float) -> None:
    lo = float("-inf") if key.lo is None else key.lo
    hi = float("inf") if key.hi is None else key.hi
    if not lo <= value <= hi:
        raise Invalid(f"{value!r} is out of range; use a value from {number(lo)} to {number(hi)}")


def _int(key: Key, raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        hint = " without quotes" if isinstance(raw, str) else ""
        raise Invalid(f"{raw!r} is {describe(raw)}, not a whole number; write an integer{hint}")
    _in_range(key, raw)
    return raw


def _float(key: Key, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Invalid(f"{raw!r} is {describe(raw)}, not a number; write a number (no quotes)")
    _in_range(key, raw)
    return float(raw)


def _str(key: Key, raw: object) -> str:
    if not isinstance(raw, str):
        raise Invalid(f"{raw!r} is {describe(raw)}, not a string; quote it")
    if key.path == "whatsapp.sessionApiPath" and not raw.startswith("/"):
        raise Invalid(f"{raw!r} is not a URL path; start it with /, e.g. /api/sessions/")
    if key.path == "media.tempDir":
        _writable_directory(raw)
    return raw


def _writable_directory(raw: str) -> None:
    if not os.path.isdir(raw):
        raise Invalid(f"{raw!r} is not an existing directory; create it or name another")
    if not os.access(raw, os.W_OK | os.X_OK):
        raise Invalid(f"{raw!r} is not writable by the bridge; fix its permissions")


def _url(key: Key, raw: object) -> str:
    text = _str(key, raw)
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(f"{text!r} is not an http(s) URL; use e.g. http://localhost:3000")
    return text.rstrip("/")


def _phone(key: Key, raw: object) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raise Invalid(f"{raw!r} is a number, not a string; quote it, e.g. '+{raw}'")
    number = normalize_phone_number(_str(key, raw))
    if number is None:
        raise Invalid(f"{raw!r} is not a phone number; {PHONE_FIX}")
    return number


def _session(key: Key, raw: object) -> str:
    text = _str(key, raw)
    if text != "*" and not _SESSION.fullmatch(text):
        raise Invalid(
            f"{text!r} is not a session name; use 1-64 characters of A-Z a-z 0-9 _ - "
            '(or "*" for the default channel)'
        )
    return text


def _choice(key: Key, raw: object) -> str:
    if raw is False and "OFF" in key.choices:
        raw = "OFF"  # YAML 1.1 reads an unquoted OFF as false
    text = _str(key, raw)
    folded = {c.lower(): c for c in key.choices}
    if key.path == "log_level":
        folded["warning"] = "warn"
    if text.lower() not in folded:
        raise Invalid(f"{text!r} is not allowed; use one of {', '.join(key.choices)}")
    return folded[text.lower()]


def _str_items(raw: object) -> list[str]:
    if not isinstance(raw, list | tuple):
        raise Invalid(f"{raw!r} is {describe(raw)}, not a list; write a list of strings")
    for item in raw:
        if not isinstance(item, str):
            raise Invalid(f"item {item!r} is {describe(item)}, not a string; quote it")
    return list(raw)


def _ext_list(key: Key, raw: object) -> tuple[str, ...]:
    out: list[str] = []
    for item in _str_items(raw):
        ext = item.strip().removeprefix(".").lower()
        if not _EXT.fullmatch(ext):
            raise Invalid(f"{item!r} is not a file extension; use e.g. jpg or .jpg")
        out.append(ext)
    return tuple(dict.fromkeys(out))


def _cidr_list(key: Key, raw: object) -> tuple[str, ...]:
    out: list[str] = []
    for item in _str_items(raw):
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise Invalid(
                f"{item!r} is not a CIDR; use e.g. 10.0.0.0/8 or 192.168.1.5/32"
            ) from None
    return tuple(out)


def _timeout_ms(key: Key, raw: object, warn: Callable[[str], None]) -> int:
    value = _int(Key(key.path, Kind.INT), raw)
    if value >= GO_NANOSECONDS:
        millis = round(value / 1_000_000)
        warn(
            f"{key.path}: {value} read as Go nanoseconds = {millis / 1000:g} s; "
            f"write {millis} (milliseconds)"
        )
        value = millis
    try:
        _in_range(key, value)
    except Invalid as exc:
        raise Invalid(f"{exc} (milliseconds; >= 1e9 is read as Go nanoseconds)") from None
    return value


_CHECKS: dict[Kind, Callable[[Key, object], Any]] = {
    Kind.BOOL: _bool,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.STR: _str,
    Kind.URL: _url,
    Kind.PHONE: _phone,
    Kind.SESSION: _session,
    Kind.CHOICE: _choice,
    Kind.EXT_LIST: _ext_list,
    Kind.CIDR_LIST: _cidr_list,
}


def convert(key: Key, raw: object, warn: Callable[[str], None]) -> Any:
    """Check and normalise ``raw`` for ``key``; None means "not set, use the default".

    Null, an empty string for string-like keys, and 0 for the keys Go treated that way
    (``key.zero_default``) all mean "not set".

    Raises:
        Invalid: the value is of the wrong type or out of range.
    """
    if raw is None or (raw == "" and isinstance(raw, str)):
        return None
    if key.zero_default and raw == 0 and not isinstance(raw, bool):
        return None
    if key.kind is Kind.TIMEOUT_MS:
        return _timeout_ms(key, raw, warn)
    return _CHECKS[key.kind](key, raw)


def from_env(key: Key, text: str) -> object:
    """Turn an environment variable's text into the raw value ``convert`` expects."""
    if key.kind is Kind.CIDR_LIST:
        return [part for part in text.split(",") if part.strip()]
    if key.kind is Kind.INT:
        try:
            return int(text.strip())
        except ValueError:
            return text
    return text
