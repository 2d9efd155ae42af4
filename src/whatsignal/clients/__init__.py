"""Typed HTTP clients for the two upstreams: WAHA (WhatsApp) and signal-cli-rest-api (Signal).

Each client is handed an :class:`httpx.AsyncClient` made by :func:`open_http_client` and
performs one request per method: no retries, no background tasks. Failures are
:class:`~whatsignal.errors.TransportError` (no answer) or :class:`~whatsignal.errors.ApiError`
(an error answer, or a 2xx answer that is not what the API promises); the actors decide
what to do with them through :mod:`whatsignal.reliability`.
"""

from __future__ import annotations

from whatsignal.clients._http import open_http_client as open_http_client
from whatsignal.clients._redact import mask_numbers as mask_numbers
from whatsignal.clients._redact import redact_error as redact_error
from whatsignal.clients._signal_groups import SignalGroups as SignalGroups
from whatsignal.clients._signal_groups import group_id_of as group_id_of
from whatsignal.clients._signal_groups import internal_id_of as internal_id_of
from whatsignal.clients._signal_parse import About as About
from whatsignal.clients._spool import FileData as FileData
from whatsignal.clients._spool import Spool as Spool
from whatsignal.clients._waha_lids import LidAnswer as LidAnswer
from whatsignal.clients._waha_lids import WahaLids as WahaLids
from whatsignal.clients._waha_parse import SessionInfo as SessionInfo
from whatsignal.clients._waha_parse import WebhookConfig as WebhookConfig
from whatsignal.clients.signal_api import OutboundAttachment as OutboundAttachment
from whatsignal.clients.signal_api import SignalClient as SignalClient
from whatsignal.clients.signal_api import attachment_id_ok as attachment_id_ok
from whatsignal.clients.waha import MediaKind as MediaKind
from whatsignal.clients.waha import WahaClient as WahaClient

__all__ = [
    "About",
    "FileData",
    "LidAnswer",
    "MediaKind",
    "OutboundAttachment",
    "SessionInfo",
    "SignalClient",
    "SignalGroups",
    "Spool",
    "WahaClient",
    "WahaLids",
    "WebhookConfig",
    "attachment_id_ok",
    "group_id_of",
    "internal_id_of",
    "mask_numbers",
    "open_http_client",
    "redact_error",
]
