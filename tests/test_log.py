"""Logs keep personal data out unless debug logging was explicitly asked for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from whatsignal import log as wlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    wlog.configure_logging("info", "json", stream=io.StringIO())


def _capture(level: str, fmt: wlog.LogFormat) -> io.StringIO:
    stream = io.StringIO()
    wlog.configure_logging(level, fmt, stream=stream)
    return stream


def test_phone_masked_to_last_four_digits() -> None:
    wlog.configure_logging("info", "json", stream=io.StringIO())
    assert wlog.phone("+491701234567") == "+********4567"
    assert wlog.phone("491701234567") == "********4567"
    assert wlog.phone(None) == "-"
    assert wlog.phone("6f1b2c3d-aaaa-bbbb-cccc-000000000000") == "6f1b2c3d..."
    assert wlog.phone("abc") == "abc"
    assert wlog.chat("491701234567@c.us") == "********4567@c.us"
    assert wlog.chat(None) == "-"
    assert wlog.content("secret text") == "[hidden]"
    assert wlog.content(None) == "-"


def test_json_lines_mask_numbers_left_in_messages() -> None:
    stream = _capture("info", "json")
    logging.getLogger("whatsignal.test").info(
        "forwarded from %s id=%s",
        "+491701234567",
        "true_491701234567@c.us_3EB0",
        extra={"session": "s1"},
    )
    line = json.loads(stream.getvalue().strip())
    assert line["level"] == "info"
    assert line["logger"] == "whatsignal.test"
    assert line["session"] == "s1"
    assert "491701234567" not in line["msg"]
    assert "4567" in line["msg"]


def test_console_format_and_exceptions() -> None:
    stream = _capture("warn", "console")
    logger = logging.getLogger("whatsignal.test")
    logger.info("not shown at warn level")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed for +15551234567", extra={"attempt": 2})
    text = stream.getvalue()
    assert "not shown" not in text
    assert "ERROR" in text
    assert "attempt=2" in text
    assert "ValueError: boom" in text
    assert "5551234567" not in text


def test_debug_shows_everything() -> None:
    stream = _capture("debug", "json")
    assert wlog.sensitive_enabled()
    assert wlog.phone("+491701234567") == "+491701234567"
    assert wlog.chat("491701234567@c.us") == "491701234567@c.us"
    assert wlog.content("hello") == "hello"
    logging.getLogger("whatsignal.test").debug("to %s", "+491701234567")
    assert "+491701234567" in stream.getvalue()


def test_json_formatter_keeps_exceptions_and_plain_values() -> None:
    stream = _capture("info", "json")
    try:
        raise RuntimeError("bad")
    except RuntimeError:
        logging.getLogger("x").exception("oops", extra={"count": 3, "ok": True, "obj": object()})
    line = json.loads(stream.getvalue())
    assert line["count"] == 3
    assert line["ok"] is True
    assert isinstance(line["obj"], str)
    assert "RuntimeError: bad" in line["exc"]


def test_auto_format_picks_console_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    wlog.configure_logging("info", "auto", stream=tty)
    logging.getLogger("whatsignal.test").info("hello")
    assert not tty.getvalue().startswith("{")
    plain = io.StringIO()
    wlog.configure_logging("info", "auto", stream=plain)
    logging.getLogger("whatsignal.test").info("hello")
    assert plain.getvalue().startswith("{")


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        wlog.configure_logging("loud", "json", stream=io.StringIO())
