"""``setup`` on a terminal: it asks for what is missing, which sessions, and before updating."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
import trio
from setup_tools import API_KEY, BRIDGE, ME, bridge_hooks, read_env, status_events, upstreams

from whatsignal.cli import build_parser
from whatsignal.errors import ConfigError
from whatsignal.setup import resolve, run_setup


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["setup", *argv])


class Terminal:
    """Answers questions in order and remembers them."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, question: str, default: str) -> str:
        self.asked.append(question)
        answer = self.answers.pop(0)
        return answer or default


async def test_a_terminal_is_asked_for_each_missing_flag_sessions_and_consent(
    tmp_path: Path,
) -> None:
    async with upstreams(("default", "work")) as up:
        ask = Terminal(up.waha_url, up.signal_url, BRIDGE, ME, "", "work", "n")
        opts = resolve(_args("--config", str(tmp_path / "c.yaml")), {"WHATSAPP_API_KEY": API_KEY},
                       ask)  # fmt: skip
        assert opts.public_url == "http://whatsignal:8082"  # the default, taken with Enter
        out = io.StringIO()
        events = status_events(up.waha, "work")
        code = await trio.to_thread.run_sync(run_setup, opts, {}, ask, out)
        assert code == 0
        assert ask.asked[-2].startswith("Sessions to bridge")
        assert ask.asked[-1] == "Update work now? [y/n]"
        assert "webhooks left as they were" in out.getvalue()
        assert bridge_hooks(up.waha, "work") == []  # "n" was respected
        assert status_events(up.waha, "work") == events
        assert "whatsappSessionName: work" in (tmp_path / "c.yaml").read_text()


async def test_the_consent_and_the_wildcard_answer(tmp_path: Path) -> None:
    async with upstreams(("default",)) as up:
        opts = resolve(_args(*up.flags(tmp_path, "http://whatsignal:8082")),
                       {"WHATSAPP_API_KEY": API_KEY}, None)  # fmt: skip
        ask = Terminal("", "y")  # Enter: every session; then yes
        env = {"WHATSIGNAL_ADMIN_TOKEN": "a" * 40}
        code = await trio.to_thread.run_sync(run_setup, opts, env, ask, io.StringIO())
        assert code == 0
        assert len(bridge_hooks(up.waha, "default")) == 1
        assert read_env(tmp_path / ".env")["WHATSIGNAL_ADMIN_TOKEN"] == "a" * 40  # env wins

        both = resolve(_args(*up.flags(tmp_path, "http://w:8082", "--session", "*",
                                       "--session", "default")),
                       {"WHATSAPP_API_KEY": API_KEY}, None)  # fmt: skip
        with pytest.raises(ConfigError, match="'\\*' already means every session"):
            await trio.to_thread.run_sync(run_setup, both, {}, None, io.StringIO())


def test_bad_session_names_and_equal_numbers_are_refused() -> None:
    args = _args("--waha-url", "http://w", "--signal-url", "http://s", "--bridge-number", ME,
                 "--destination", ME, "--session", "no spaces")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        resolve(args, {"WHATSAPP_API_KEY": "k"}, None)
    problems = "\n".join(caught.value.problems)
    assert "--destination: the same number as --bridge-number" in problems
    assert "--session 'no spaces'" in problems
