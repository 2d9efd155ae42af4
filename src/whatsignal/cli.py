"""``python -m whatsignal``: the command line.

Commands: ``run`` (default), ``check-config``, ``demo``, ``rotate-key``, ``setup``,
``version``; Go's ``--healthcheck`` flag.
Command output goes to stdout, logs to stderr.

Exit codes:
    0  clean stop (or: the check passed)
    1  runtime failure (an upstream or the database failed beyond recovery, a port in use, ...)
    2  usage or configuration error (the message says what to fix; no traceback)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence

import httpx
import trio

from whatsignal._version import __version__
from whatsignal.errors import ConfigError, WhatsignalError

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_OK", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

log = logging.getLogger("whatsignal.cli")

_COMMANDS = ("run", "check-config", "demo", "rotate-key", "setup", "version")


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="configuration file "
        "(default: $WHATSIGNAL_CONFIG, else ./config.yaml, else ./config.json)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warn", "error"],
        default=default,
        help="log level (default: log_level from the config, else info). "
        "debug shows phone numbers and message text and is refused in secure mode",
    )
    parser.add_argument(
        "--log-format",
        choices=["json", "console"],
        default=default,
        help="log format on stderr (default: console on a terminal, JSON lines otherwise)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whatsignal",
        description="Bridge your WhatsApp chats (through WAHA) to Signal "
        "(through signal-cli-rest-api).",
        epilog="Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.",
    )
    _common_options(parser, suppress=False)
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        help="GET the local /readyz and exit 0 when ready, 1 otherwise "
        "(for container health checks)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    helps = {
        "run": "run the bridge (the default command)",
        "check-config": "validate the configuration and environment; print the effective config",
        "demo": "run the bridge against built-in WAHA and signal-cli simulators "
        "and show a conversation",
        "rotate-key": "re-encrypt the database under WHATSIGNAL_NEW_ENCRYPTION_SECRET "
        "(and optionally WHATSIGNAL_NEW_ENCRYPTION_SALT, WHATSIGNAL_NEW_ENCRYPTION_LOOKUP_SALT); "
        "the bridge must be stopped; resumable",
        "setup": "check WAHA and signal-cli, write the config and an env file with secrets, "
        "and set each WhatsApp session's webhook to the bridge (asks for what is missing on a "
        "terminal; --dry-run shows what it would change)",
        "version": "print the version",
    }
    for name in _COMMANDS:
        command = sub.add_parser(name, help=helps[name], description=helps[name])
        _common_options(command, suppress=True)
        if name == "setup":
            from whatsignal.setup import add_arguments

            add_arguments(command)
    return parser


def _print_config_error(error: ConfigError) -> None:
    count = len(error.problems)
    print(f"whatsignal: configuration error{'s' if count != 1 else ''}:", file=sys.stderr)
    for problem in error.problems:
        print(f"  - {problem}", file=sys.stderr)


def _healthcheck(args: argparse.Namespace) -> int:
    """GET http://127.0.0.1:<port>/readyz; the port from the config when it loads, else $PORT."""
    from whatsignal.config import load_config

    port: int | str = os.environ.get("PORT", "8082")
    # A config that does not load must not fail the probe of a running bridge: use $PORT.
    with contextlib.suppress(ConfigError):
        port = load_config(args.config).server.port
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5.0)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {exc.__class__.__name__}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{response.status_code} {response.text.strip()}")
    return EXIT_OK if response.status_code == 200 else EXIT_FAILURE


def _check_config(args: argparse.Namespace) -> int:
    from whatsignal.config import dump_config, load_config

    config = load_config(args.config)
    for warning in config.warnings:
        print(f"whatsignal: warning: {warning}", file=sys.stderr)
    print(f"# whatsignal {__version__}: the configuration is valid")
    print(dump_config(config), end="")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from whatsignal.config import load_config
    from whatsignal.log import configure_logging
    from whatsignal.running import serve

    config = load_config(args.config)
    if args.log_level == "debug" and not config.development:
        raise ConfigError(
            "--log-level debug: refused in secure mode (debug logs show phone numbers and "
            "message text); use it only with WHATSIGNAL_ENV=development"
        )
    configure_logging(args.log_level or config.log_level, args.log_format or "auto")
    for warning in config.warnings:
        log.warning("config: %s", warning)
    trio.run(serve, config)
    return EXIT_OK


def _rotate_key(args: argparse.Namespace) -> int:
    from whatsignal.config import load_config
    from whatsignal.log import configure_logging
    from whatsignal.rotate import rotate_key
    from whatsignal.wiring import encryption_keys

    config = load_config(args.config)
    configure_logging(args.log_level or config.log_level, args.log_format or "auto")
    rotate_key(config, encryption_keys(config), os.environ, sys.stdout)
    return EXIT_OK


def _ask(question: str, default: str) -> str:
    suffix = f" [{default}]" if default else ""
    return input(f"{question}{suffix}: ") or default


def _setup(args: argparse.Namespace) -> int:
    from whatsignal.setup import resolve, run_setup

    ask = _ask if sys.stdin.isatty() else None
    return run_setup(resolve(args, os.environ, ask), os.environ, ask, sys.stdout)


def _demo(args: argparse.Namespace) -> int:
    from whatsignal.demo import run_demo

    return run_demo(log_level=args.log_level, log_format=args.log_format)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def _report(error: BaseException) -> int | None:
    """Exit code for an error a user can act on (printed without a traceback), else None."""
    leaves = _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    if leaves and all(isinstance(e, ConfigError) for e in leaves):
        _print_config_error(ConfigError([p for e in leaves for p in e.problems]))  # type: ignore[attr-defined]
        return EXIT_CONFIG
    if leaves and all(isinstance(e, WhatsignalError | OSError) for e in leaves):
        for leaf in leaves:
            # OSError at start-up is most often "address already in use".
            print(f"whatsignal: {leaf}", file=sys.stderr)
        return EXIT_FAILURE
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    try:
        if args.healthcheck:
            return _healthcheck(args)
        if command == "version":
            print(f"whatsignal {__version__}")
            return EXIT_OK
        if command == "check-config":
            return _check_config(args)
        if command == "demo":
            return _demo(args)
        if command == "rotate-key":
            return _rotate_key(args)
        if command == "setup":
            return _setup(args)
        return _run(args)
    except (Exception, BaseExceptionGroup) as error:  # the process boundary
        code = _report(error)
        if code is not None:
            return code
        if isinstance(error, BaseExceptionGroup) and not isinstance(error, Exception):
            raise  # a group holding KeyboardInterrupt/SystemExit: not ours to turn into a code
        log.exception("whatsignal failed")
        return EXIT_FAILURE
