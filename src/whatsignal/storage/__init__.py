"""Durable state of the bridge: the journal of inbound events (the work queue), message
mappings, and the contact/group/LID/identity caches.

``Store`` is the interface, the union of narrower protocols that callers may ask for
instead: ``Journal`` (the work queue), ``Mappings``, ``Caches``, ``SendParts`` (the ids and progress
of a row's WhatsApp sends), ``Retention`` and ``Health``.
``SqliteStore`` is the embedded implementation (one actor, one dedicated database thread,
group commit); its SQL lives per concern in ``journal``, ``mappings``, ``caches`` and
``lids``. Every database failure is a StorageError.
"""

from __future__ import annotations

from whatsignal.storage._connect import SYNCHRONOUS_MODES as SYNCHRONOUS_MODES
from whatsignal.storage._thread import StoreStats as StoreStats
from whatsignal.storage.alerts import Alerts as Alerts
from whatsignal.storage.base import Caches as Caches
from whatsignal.storage.base import Health as Health
from whatsignal.storage.base import Journal as Journal
from whatsignal.storage.base import Mappings as Mappings
from whatsignal.storage.base import Portals as Portals
from whatsignal.storage.base import Retention as Retention
from whatsignal.storage.base import SendParts as SendParts
from whatsignal.storage.base import Store as Store
from whatsignal.storage.chats import ChatActivity as ChatActivity
from whatsignal.storage.chats import Chats as Chats
from whatsignal.storage.chats import Mute as Mute
from whatsignal.storage.crypto import KeyMaterial as KeyMaterial
from whatsignal.storage.lids import LidPairing as LidPairing
from whatsignal.storage.migrations import LATEST_VERSION as LATEST_VERSION
from whatsignal.storage.models import ACK_DEVICE as ACK_DEVICE
from whatsignal.storage.models import ACK_ERROR as ACK_ERROR
from whatsignal.storage.models import ACK_PENDING as ACK_PENDING
from whatsignal.storage.models import ACK_PLAYED as ACK_PLAYED
from whatsignal.storage.models import ACK_READ as ACK_READ
from whatsignal.storage.models import ACK_SERVER as ACK_SERVER
from whatsignal.storage.models import Contact as Contact
from whatsignal.storage.models import Direction as Direction
from whatsignal.storage.models import Group as Group
from whatsignal.storage.models import InboundEvent as InboundEvent
from whatsignal.storage.models import JournalRow as JournalRow
from whatsignal.storage.models import JournalState as JournalState
from whatsignal.storage.models import MessageMapping as MessageMapping
from whatsignal.storage.models import PendingSnapshot as PendingSnapshot
from whatsignal.storage.models import Source as Source
from whatsignal.storage.models import delivery_rank as delivery_rank
from whatsignal.storage.polls import BridgedPoll as BridgedPoll
from whatsignal.storage.polls import Polls as Polls
from whatsignal.storage.portals import Portal as Portal
from whatsignal.storage.portals import PortalState as PortalState
from whatsignal.storage.send_parts import SendPart as SendPart
from whatsignal.storage.sqlite import SqliteStore as SqliteStore

__all__ = [
    "ACK_DEVICE",
    "ACK_ERROR",
    "ACK_PENDING",
    "ACK_PLAYED",
    "ACK_READ",
    "ACK_SERVER",
    "LATEST_VERSION",
    "SYNCHRONOUS_MODES",
    "Alerts",
    "BridgedPoll",
    "Caches",
    "ChatActivity",
    "Chats",
    "Contact",
    "Direction",
    "Group",
    "Health",
    "InboundEvent",
    "Journal",
    "JournalRow",
    "JournalState",
    "KeyMaterial",
    "LidPairing",
    "Mappings",
    "MessageMapping",
    "Mute",
    "PendingSnapshot",
    "Polls",
    "Portal",
    "PortalState",
    "Portals",
    "Retention",
    "SendPart",
    "SendParts",
    "Source",
    "SqliteStore",
    "Store",
    "StoreStats",
    "delivery_rank",
]
