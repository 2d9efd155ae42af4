"""Command-line options of ``python -m whatsignal.testing waha``, defaulting like WAHA's env."""

from __future__ import annotations

import argparse
import os

from whatsignal.testing._waha_payloads import ENGINES
from whatsignal.testing._waha_webhooks import DEFAULT_EVENTS

__all__ = ["add_arguments"]


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        return default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m whatsignal.testing waha``; defaults follow WAHA's environment."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port (0: any free port)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("WHATSAPP_API_KEY") or os.environ.get("WAHA_API_KEY"),
        help="X-Api-Key required on /api/* (default: $WHATSAPP_API_KEY or $WAHA_API_KEY; "
        "none: no auth)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=os.environ.get("WHATSAPP_DEFAULT_ENGINE", "WEBJS"),
        help="engine whose ids and response shapes to imitate (default: WEBJS)",
    )
    parser.add_argument(
        "--session",
        dest="sessions",
        action="append",
        metavar="NAME",
        help="a session that exists at start, WORKING (repeatable; default: 'default')",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("WHATSAPP_HOOK_URL"),
        help="global webhook URL (default: $WHATSAPP_HOOK_URL)",
    )
    parser.add_argument(
        "--webhook-events",
        default=os.environ.get("WHATSAPP_HOOK_EVENTS", ",".join(DEFAULT_EVENTS)),
        help="comma-separated events for the global webhook, or '*' "
        "(default: $WHATSAPP_HOOK_EVENTS or the events a bridge needs)",
    )
    parser.add_argument(
        "--webhook-hmac-key",
        default=os.environ.get("WHATSAPP_HOOK_HMAC_KEY"),
        help="sign webhooks with HMAC-SHA512 using this key (default: $WHATSAPP_HOOK_HMAC_KEY)",
    )
    parser.add_argument(
        "--webhook-retry-attempts",
        type=int,
        default=int(_env_float("WHATSAPP_HOOK_RETRIES_ATTEMPTS", 15)),
        help="retries after a failed delivery (default: $WHATSAPP_HOOK_RETRIES_ATTEMPTS or 15)",
    )
    parser.add_argument(
        "--webhook-retry-delay",
        type=float,
        default=_env_float("WHATSAPP_HOOK_RETRIES_DELAY_SECONDS", 2.0),
        help="seconds between retries (default: $WHATSAPP_HOOK_RETRIES_DELAY_SECONDS or 2)",
    )
    parser.add_argument(
        "--file-expiry",
        type=float,
        default=_env_float("WHATSAPP_FILES_LIFETIME", 180.0),
        help="seconds received media stays downloadable, 0 = forever "
        "(default: $WHATSAPP_FILES_LIFETIME or 180)",
    )
    parser.add_argument(
        "--public-url",
        default=os.environ.get("WAHA_BASE_URL"),
        help="base URL written into received media URLs, e.g. http://localhost:3000 "
        "(default: $WAHA_BASE_URL, else the simulator's own address)",
    )
    parser.add_argument(
        "--status-step",
        type=float,
        default=1.0,
        help="seconds each automatic session transition takes (default: 1)",
    )
    parser.add_argument(
        "--not-working-wait",
        type=float,
        default=5.0,
        help="seconds a send waits for a STARTING session before answering 422 (default: 5)",
    )
    parser.add_argument(
        "--auto-pair",
        action="store_true",
        help="sessions created over the API reach WORKING without a QR scan",
    )
    parser.add_argument(
        "--check-contracts",
        action="store_true",
        help="validate requests, responses and webhooks against the vendored WAHA spec",
    )
