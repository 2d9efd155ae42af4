"""What an upstream's error text may keep once it is logged, stored or shown.

Error texts go to the log, to the journal's ``last_error``, to ``/admin/dead-letters`` and to
``/session/status``. Upstreams quote what they were sent: signal-cli names the recipient and may
quote the message, WAHA's validation and exception messages can echo the body, Node's JSON parser
quotes the start of a body it cannot read. So an error text is reduced before anyone keeps it
(:func:`redact_error`):

1. every string of the request body that failed (the message text, a caption, a file name, a
   quote) is cut out wherever it appears, and so is any longer run that starts like one (an
   echo cut short); phone numbers and chat ids are left to step 3, so the operator still sees
   whose send failed;
2. whatever the text puts in quotes (``"..."``, ``'...'``, ``“...”``, backticks) becomes
   ``"…"``, an unterminated quote to the end, unless it is only an identifier: a phone
   number, a uuid, a group id;
3. phone-number-like runs of digits are masked to their last four digits
   (:func:`mask_numbers`);
4. lone surrogates are replaced and whitespace runs collapsed, and the text is bounded.

What is left is the upstream's own words: ``Unregistered user "+***5678"``,
``text must be a string``, ``Session status is not as expected``. The classifiers still read the
whole (sanitised) body, which is kept only in memory on the :class:`~whatsignal.errors.ApiError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from whatsignal.convert.safe import clean_text

__all__ = ["ERROR_TEXT_LIMIT", "mask_numbers", "redact_error", "redact_sent"]

ERROR_TEXT_LIMIT = 300
"""How many characters of a reduced error text are kept by default."""

# A phone number as it appears in error texts: an optional "+" and seven or more digits,
# not glued to letters, digits, dashes or dots (so uuids, challenge tokens, version numbers
# and decimal fractions are left alone) but found inside WAHA ids ("false_<number>@c.us_...").
# Timestamps match too; losing them in an error text is harmless.
_NUMBER = re.compile(r"(?<![A-Za-z0-9.-])(\+?)(\d{3,})(\d{4})(?![A-Za-z0-9-])")

# Quoted runs. A double (or typographic) quote without its end runs to the end of the text; a
# single quote counts only when it is not an apostrophe (``can't`` stays).
_QUOTED = re.compile(
    '"[^"]*"?|\u201c[^\u201d]*\u201d?|\u201e[^\u201c\u201d]*[\u201c\u201d]?'
    "|\u00ab[^\u00bb]*\u00bb?|\u2018[^\u2019]*\u2019?|`[^`]*`?"
    r"|(?<![\w'])'[^']*'(?!\w)"
)

# What may stay inside quotes: a (masked or not) phone number or chat id, a uuid, a group id.
_IDENTIFIER = re.compile(
    r"\+?[\d*]{4,}(?:@[\w.]+)?"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|group\.[A-Za-z0-9+/=_-]+"
)

# A sent string that is a phone number or a chat id: masked (step 3) rather than cut out.
_NUMBER_LIKE = re.compile(r"\+?\d+(?:@[\w.]+)?")

_ECHO_PREFIX = 16
"""A sent string at least this long is also cut out where an echo starts like it."""

_CLOSERS = {
    '"': '"',
    "\u201c": "\u201d",
    "\u201e": "\u201c\u201d",
    "\u00ab": "\u00bb",
    "\u2018": "\u2019",
    "`": "`",
    "'": "'",
}

_CUT = "…"


def mask_numbers(text: str) -> str:
    """Mask every phone-number-like run of 7+ digits in ``text``, keeping its last four.

    ``"Unregistered user \\"+4915112345678\\""`` becomes ``"Unregistered user \\"+***5678\\""``.
    """
    return _NUMBER.sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


def redact_error(text: str, *, sent: Any = None, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``text`` reduced to what may be logged and stored (the module docstring's steps).

    Args:
        sent: the JSON body of the request that failed, whose strings are cut out.
        limit: the most characters kept.
    """
    text = redact_sent(clean_text(text), sent)
    text = _QUOTED.sub(_quote, text)
    text = mask_numbers(text)
    return " ".join(text.split())[:limit]


def redact_sent(text: str, sent: Any) -> str:
    """``text`` without the strings of the request body ``sent`` (step 1 only)."""
    for secret in sorted(set(_strings(sent)), key=len, reverse=True):
        text = _cut(text, secret)
    return text


def _strings(value: Any) -> Iterator[str]:
    """The strings of a JSON value worth cutting out (not keys, numbers or chat ids)."""
    if isinstance(value, str):
        stripped = clean_text(value).strip()
        if len(stripped) >= 2 and not _NUMBER_LIKE.fullmatch(stripped):
            yield stripped
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _cut(text: str, secret: str) -> str:
    if len(secret) < 4:
        return re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", _CUT, text)
    text = text.replace(secret, _CUT)
    if len(secret) < _ECHO_PREFIX:
        return text
    head = secret[:_ECHO_PREFIX]
    start = text.find(head)
    while start >= 0:
        end = start + _ECHO_PREFIX
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + _CUT + text[end:]
        start = text.find(head, start + 1)
    return text


def _quote(match: re.Match[str]) -> str:
    quoted = match.group(0)
    closed = len(quoted) > 1 and quoted[-1] in _CLOSERS[quoted[0]]
    inner = quoted[1:-1] if closed else quoted[1:]
    if _IDENTIFIER.fullmatch(inner.strip()):
        return quoted
    return f'"{_CUT}"'
