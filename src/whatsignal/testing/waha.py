"""FakeWaha: an in-process WAHA (WhatsApp HTTP API) that behaves like the real one.

It serves WAHA's HTTP API over real HTTP (quart-trio on hypercorn), keeps sessions with
realistic status transitions, answers sends with engine-native bodies and fresh ids, and
delivers webhooks in WAHA's envelope, signed and retried like upstream. Tests and the ``demo``
command drive it through a control API: Python methods on the object, and the same under
``/_sim/`` over HTTP (``GET /_sim/`` lists them). See docs/simulators.md for the full surface
and for where it follows WAHA rather than WAHA's (sometimes wrong) OpenAPI spec.

Typical use::

    fake = FakeWaha(webhook_url=bridge_url, webhook_retry_delay=0.01, status_step=0.01)
    url = await nursery.start(fake.run)
    fake.inject_message("default", from_="+491711234567", body="hi")

The class is assembled in layers, one concern per module, each importing only the layers
below: fields, records and faults (:mod:`._waha_base`), webhook emission
(:mod:`._waha_emitter`), the session status machine (:mod:`._waha_sessions`) and the phone
side (:mod:`._waha_model`). This module adds the HTTP app, whose routes
(:mod:`._waha_app`) take the model, and the command-line entry points.
"""

from __future__ import annotations

import argparse
from typing import cast

import attrs

from whatsignal.testing._common import ASGIApp
from whatsignal.testing._waha_app import build_app as build_waha_app
from whatsignal.testing._waha_cli import add_arguments
from whatsignal.testing._waha_model import WahaModel
from whatsignal.testing._waha_polls import inject_poll_vote as _inject_poll_vote
from whatsignal.testing._waha_webhooks import DEFAULT_EVENTS

__all__ = ["DEFAULT_EVENTS", "FakeWaha", "add_arguments", "from_args"]


@attrs.define(eq=False, kw_only=True)
class FakeWaha(WahaModel):
    """A WAHA server in a box. All real-time constants are parameters, so tests run fast.

    Args:
        api_key: required ``X-Api-Key`` (or ``?x-api-key=``) for ``/api/*``; None: no auth.
        engine: WEBJS (default), NOWEB, GOWS or WPP; shapes ids and send responses.
        sessions: sessions that exist at start, WORKING and paired.
        webhook_url / webhook_events / webhook_hmac_key: the global webhook, like
            ``WHATSAPP_HOOK_URL`` / ``_EVENTS`` / ``_HMAC_KEY``.
        webhook_retry_attempts / webhook_retry_delay: retries after the first try and the
            constant delay between them (upstream 15 x 2 s); also the defaults for session
            webhooks that configure no ``retries``.
        webhook_timeout: per-attempt HTTP timeout (upstream sets none; a bound keeps tests sane).
        not_working_wait: how long a send waits for a STARTING session before its 422
            (upstream ``WAIT_STATUS_TIMEOUT``).
        file_expiry: seconds a received media file stays downloadable (0: forever; upstream
            ``WHATSAPP_FILES_LIFETIME=180``).
        public_url: the base URL written into ``media.url`` (upstream ``WAHA_BASE_URL``, whose
            default ``http://localhost:3000`` rarely is where clients reach WAHA); None: the
            fake's own address. The files are served by the fake whatever it says.
        status_step: delay of each automatic transition (STARTING -> WORKING / SCAN_QR_CODE).
        auto_pair: sessions created by ``POST /api/sessions`` reach WORKING as if their QR code
            had been scanned (default: they stop at SCAN_QR_CODE, as a new WAHA session does).
        qr_refresh: seconds a QR code stays the same (WhatsApp rotates it about every 20 s).
        check_contracts: validate accepted requests, responses and emitted webhooks against
            the vendored spec (minus the documented deviations). On in tests, off in demos.
    """

    inject_poll_vote = _inject_poll_vote
    """A contact's vote on a known poll (see :func:`._waha_polls.inject_poll_vote`)."""

    def build_app(self) -> ASGIApp:
        """WAHA's API and the ``/_sim`` control API, served for this fake."""
        # quart's precise ASGI types are narrower than the generic mapping-based alias.
        return cast("ASGIApp", build_waha_app(self))


def from_args(args: argparse.Namespace) -> FakeWaha:
    """Build a :class:`FakeWaha` from options parsed with :func:`add_arguments`."""
    events = [e.strip() for e in (args.webhook_events or "").split(",") if e.strip()]
    return FakeWaha(
        host=args.host,
        port=args.port,
        api_key=args.api_key or None,
        engine=args.engine,
        sessions=tuple(args.sessions or ("default",)),
        webhook_url=args.webhook_url or None,
        webhook_events=tuple(events),
        webhook_hmac_key=args.webhook_hmac_key or None,
        webhook_retry_attempts=args.webhook_retry_attempts,
        webhook_retry_delay=args.webhook_retry_delay,
        file_expiry=args.file_expiry,
        public_url=args.public_url or None,
        status_step=args.status_step,
        not_working_wait=args.not_working_wait,
        auto_pair=args.auto_pair,
        check_contracts=args.check_contracts,
    )
