"""``whatsignal setup``'s flags, and the prompts that fill in a missing one on a terminal."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from whatsignal.config import normalize_phone_number
from whatsignal.errors import ConfigError

__all__ = ["Ask", "SetupOptions", "add_arguments", "resolve"]

Ask = Callable[[str, str], str]
"""``ask(question, default) -> answer`` on a terminal (the default when the answer is empty)."""

DEFAULT_PUBLIC_URL = "http://whatsignal:8082"


@attrs.frozen
class SetupOptions:
    """What ``setup`` was asked to do, checked."""

    waha_url: str
    signal_url: str
    bridge_number: str
    destination: str
    sessions: tuple[str, ...]
    public_url: str
    config: Path
    env_file: Path
    dry_run: bool
    api_key: str
    portals: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The setup subcommand's own flags (``--config`` comes with every command)."""
    parser.add_argument("--waha-url", metavar="URL", help="WAHA's base URL (http://host:3000)")
    parser.add_argument(
        "--signal-url", metavar="URL", help="signal-cli-rest-api's base URL (http://host:8080)"
    )
    parser.add_argument(
        "--bridge-number",
        metavar="+E164",
        help="the bridge's own Signal number (an account of signal-cli)",
    )
    parser.add_argument(
        "--destination", metavar="+E164", help="your own Signal number: where chats arrive"
    )
    parser.add_argument(
        "--session",
        metavar="NAME",
        action="append",
        dest="sessions",
        help="a WAHA session to bridge (repeatable; a missing one is created); "
        "default: every session ('*')",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help=f"the bridge's address as WAHA reaches it (default {DEFAULT_PUBLIC_URL})",
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        default=None,
        help="where the secrets go, mode 0600 (default: .env beside the config)",
    )
    parser.add_argument(
        "--portals",
        action="store_true",
        help="a Signal group per WhatsApp chat (channels[].portals: true) instead of one "
        "conversation for all chats",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check and print what would change; write nothing, change nothing in WAHA",
    )


_QUESTIONS = {
    "waha_url": ("--waha-url", "WAHA's URL", "http://localhost:3000"),
    "signal_url": ("--signal-url", "signal-cli-rest-api's URL", "http://localhost:8080"),
    "bridge_number": ("--bridge-number", "The bridge's Signal number (+E164)", ""),
    "destination": ("--destination", "Your own Signal number (+E164)", ""),
}


def _url(flag: str, value: str, problems: list[str]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{flag} {value!r}: not an http(s) URL; write e.g. http://waha:3000")
    return value.rstrip("/")


def _number(flag: str, value: str, problems: list[str]) -> str:
    number = normalize_phone_number(value)
    if number is None:
        problems.append(
            f"{flag}: not a phone number; write it in international form, e.g. +491701234567"
        )
        return value
    return number


def resolve(args: argparse.Namespace, env: Mapping[str, str], ask: Ask | None) -> SetupOptions:
    """Check the flags, asking for the missing ones when ``ask`` is given (a terminal).

    Raises:
        ConfigError: every missing or bad flag at once, each with its fix.
    """
    problems: list[str] = []
    given: dict[str, str] = {}
    for attr, (flag, question, default) in _QUESTIONS.items():
        value = getattr(args, attr, None)
        if value is None and ask is not None:
            value = ask(question, default).strip() or None
        if value is None:
            problems.append(f"{flag}: missing; pass it (or run setup on a terminal to be asked)")
        else:
            given[attr] = value
    public_url = args.public_url
    if public_url is None and ask is not None:
        public_url = ask("The bridge's URL as WAHA reaches it", DEFAULT_PUBLIC_URL).strip()
    public = _url("--public-url", public_url or DEFAULT_PUBLIC_URL, problems)
    waha = _url("--waha-url", given.get("waha_url", "http://-"), problems)
    signal = _url("--signal-url", given.get("signal_url", "http://-"), problems)
    bridge = _number("--bridge-number", given.get("bridge_number", "+10000000"), problems)
    destination = _number("--destination", given.get("destination", "+10000001"), problems)
    if bridge == destination:
        problems.append(
            "--destination: the same number as --bridge-number; the destination is your own "
            "Signal number, the bridge number is the one signal-cli runs"
        )
    sessions = tuple(args.sessions or ())
    problems.extend(
        f"--session {name!r}: a WAHA session name is 1-64 of A-Z a-z 0-9 _ -, or '*'"
        for name in sessions
        if name != "*" and not _session_name_ok(name)
    )
    api_key = env.get("WHATSAPP_API_KEY", "")
    if not api_key:
        problems.append(
            "WHATSAPP_API_KEY: not set; export WAHA's API key (its WAHA_API_KEY) as "
            "WHATSAPP_API_KEY: setup and the bridge both send it to WAHA"
        )
    if problems:
        raise ConfigError(problems)
    config = Path(getattr(args, "config", None) or "config.yaml")
    env_file = Path(args.env_file) if args.env_file else config.parent / ".env"
    return SetupOptions(
        waha_url=waha,
        signal_url=signal,
        bridge_number=bridge,
        destination=destination,
        sessions=sessions,
        public_url=public,
        config=config,
        env_file=env_file,
        dry_run=bool(args.dry_run),
        api_key=api_key,
        portals=bool(getattr(args, "portals", False)),
    )


def _session_name_ok(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
