"""What the bridge does with a message: both directions, the router that places Signal replies,
the names it shows, the guarded upstream calls, and the notices it sends.

Nothing here runs on its own or holds a channel end: the actors (:mod:`whatsignal.actors`)
call into it, one row or one envelope at a time.
"""

from __future__ import annotations

from whatsignal.relay.dispatch import Relay as Relay
from whatsignal.relay.names import Names as Names
from whatsignal.relay.notices import Notices as Notices
from whatsignal.relay.portals import PortalKeeper as PortalKeeper
from whatsignal.relay.router import Decision as Decision
from whatsignal.relay.router import Router as Router
from whatsignal.relay.router import SessionView as SessionView
from whatsignal.relay.to_signal import ToSignal as ToSignal
from whatsignal.relay.to_whatsapp import ToWhatsApp as ToWhatsApp
from whatsignal.relay.upstreams import Deferred as Deferred
from whatsignal.relay.upstreams import SignalGate as SignalGate
from whatsignal.relay.upstreams import SignalUpstream as SignalUpstream
from whatsignal.relay.upstreams import UpstreamError as UpstreamError
from whatsignal.relay.upstreams import Upstreams as Upstreams
from whatsignal.relay.upstreams import WhatsAppUpstream as WhatsAppUpstream

__all__ = [
    "Decision",
    "Deferred",
    "Names",
    "Notices",
    "PortalKeeper",
    "Relay",
    "Router",
    "SessionView",
    "SignalGate",
    "SignalUpstream",
    "ToSignal",
    "ToWhatsApp",
    "UpstreamError",
    "Upstreams",
    "WhatsAppUpstream",
]
