"""SqliteStore: the embedded :class:`~whatsignal.storage.base.Store`, on stdlib sqlite3.

One actor, one dedicated thread, one connection (see ``_thread.py`` for why and for group
commit). The database runs in WAL mode with ``synchronous=FULL`` by default: WAHA forgets
an event as soon as it has its 200, so a journaled event must survive a power cut, not just
a process crash. ``database.synchronous`` may relax that.

With encryption key material (secure mode), every protected field goes through a
:class:`~whatsignal.storage.crypto.SealingCodec` (``keyring.py`` checks the key, and encrypts
a plaintext database in place, while the store opens); without, through the plain codec.
``secure_delete`` is on, so deleted rows are zeroed rather than left in free pages.

Only opening, migrating and serving live here; the SQL is in ``journal.py``, ``mappings.py``,
``caches.py`` and the like. Each method binds one of those functions to its arguments and to
the time read from the store's ``clock`` (on the trio thread, never the database thread) and
hands it to the database thread as one work item (a transaction, or a group commit's savepoint).

Resource handling:
    ``await nursery.start(store.run)`` opens the database, migrates it and returns the
    store; cancelling ``run`` finishes the queued work and closes the connection. Calls
    outside that window raise StorageError.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Concatenate, NoReturn, ParamSpec, TypeVar

import attrs
import trio

from whatsignal.clock import Clock, wall_clock
from whatsignal.errors import StorageError
from whatsignal.storage import _connect, _units
from whatsignal.storage import caches as _caches
from whatsignal.storage import health as _health
from whatsignal.storage import journal as _journal
from whatsignal.storage import keyring as _keyring
from whatsignal.storage import lids as _lids
from whatsignal.storage import send_parts as _parts
from whatsignal.storage._thread import DbThread, DbThreads, StoreStats
from whatsignal.storage.alerts import AlertsSql
from whatsignal.storage.base import Store
from whatsignal.storage.chats import ChatsSql
from whatsignal.storage.crypto import KDF_ITERATIONS, Codec, KeyMaterial, PlainCodec
from whatsignal.storage.lids import LidPairing
from whatsignal.storage.mappings import MappingsSql, RecentMappings
from whatsignal.storage.migrations import migrate
from whatsignal.storage.models import (
    Contact,
    Group,
    InboundEvent,
    JournalRow,
    JournalState,
    MessageMapping,
    PendingSnapshot,
)
from whatsignal.storage.polls import PollsSql
from whatsignal.storage.portals import PortalsSql
from whatsignal.storage.send_parts import SendPart

log = logging.getLogger(__name__)

CHECKPOINT_AFTER = 150
"""Write items between the writer's own WAL checkpoints: about SQLite's default of 1,000
pages, at the six or so pages a journaled message and its completion write."""

T = TypeVar("T")
P = ParamSpec("P")

Sql = Callable[Concatenate[sqlite3.Connection, Codec, P], T]
"""A SQL function of ``journal``/``mappings``/``caches``: connection, codec, arguments."""
Hook = Callable[[T], None] | None  # DbThread.call's ``then``


@attrs.define(eq=False)
class SqliteStore(AlertsSql, ChatsSql, MappingsSql, PollsSql, PortalsSql, Store):
    """The SQLite store actor.

    :class:`Store` is named as its base so that mypy checks each method against the
    protocol, whose docstrings the methods here inherit rather than repeat.

    Args:
        path: the database file, or ``":memory:"`` (tests; gone when the store stops).
        synchronous: SQLite's ``PRAGMA synchronous``; FULL unless durability against power
            loss may be traded for speed.
        batch_max: the most calls group-committed into one transaction.
        busy_timeout_ms: how long to wait for a lock held by another process.
        clock: the unix time the store stamps rows and migrations with (the bridge's clock).
        keys: the encryption secrets (secure mode); None stores fields in clear.
        keep_message_text: False drops a row's payload once it is done
            (``database.keepMessageText``).
        kdf_iterations: the KDF cost of a database that gets its key now (tests lower it).

    ``stats`` counts transactions and calls (see :class:`StoreStats`).
    """

    path: str
    synchronous: str = attrs.field(
        default="FULL",
        kw_only=True,
        converter=_connect.upper,
        validator=attrs.validators.in_(_connect.SYNCHRONOUS_MODES),
    )
    batch_max: int = attrs.field(
        default=256,
        kw_only=True,
        validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)],
    )
    busy_timeout_ms: int = attrs.field(default=5000, kw_only=True)
    _clock: Clock = attrs.field(default=wall_clock, kw_only=True)
    keys: KeyMaterial | None = attrs.field(default=None, kw_only=True)
    keep_message_text: bool = attrs.field(default=True, kw_only=True)
    kdf_iterations: int = attrs.field(default=KDF_ITERATIONS, kw_only=True)
    stats: StoreStats = attrs.field(init=False, factory=StoreStats)
    _db: DbThreads | None = attrs.field(init=False, default=None)
    _opened: _health.FileId | None = attrs.field(init=False, default=None)
    _codec: Codec = attrs.field(init=False, factory=PlainCodec)
    _recent: RecentMappings = attrs.field(init=False, factory=RecentMappings)
    _with_parts: set[str] = attrs.field(init=False, factory=set)
    """The rows (their keys, looked up) with send parts stored: read at start, then kept."""

    @property
    def encrypted(self) -> bool:
        """Whether the data is stored encrypted (known once the store has started)."""
        return self._codec.encrypted

    @property
    def thread_ident(self) -> int | None:
        """The id of the thread that owns the connection while the store runs."""
        return None if self._db is None else self._db.ident

    async def run(
        self, *, task_status: trio.TaskStatus[SqliteStore] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Open and migrate the database, report the store as started, serve until cancelled.

        Raises:
            StorageError: the database cannot be opened or migrated (from ``nursery.start``).
        """
        if self._db is not None:
            raise StorageError("the store is already running")
        opener = partial(self._open, applied_at=self._clock())
        reader = partial(_connect.connect_reader, self.path, self.busy_timeout_ms, self.synchronous)
        on_file = self.path != ":memory:"
        db = DbThreads(
            DbThread(
                opener,
                batch_max=self.batch_max,
                stats=self.stats,
                checkpoint_after=CHECKPOINT_AFTER if on_file else None,
            ),
            DbThread(reader, "whatsignal-db-read") if on_file else None,
        )
        lock = _keyring.lock_file(self.path, exclusive=False) if on_file else None
        self._db = db
        try:
            await db.start()
            self._with_parts = set(await self._read(_parts.row_keys))
            task_status.started(self)
            await trio.sleep_forever()
        finally:
            self._db = None
            await db.stop()
            if lock is not None:
                _keyring.close_lock(lock)

    def _open(self, *, applied_at: float) -> sqlite3.Connection:
        """Runs on the database thread: connect, set the pragmas, migrate (stamped
        ``applied_at``, read from the clock on the trio thread)."""
        conn = _connect.connect(
            self.path, busy_timeout_ms=self.busy_timeout_ms, synchronous=self.synchronous
        )
        ready = False
        try:
            checked = _keyring.check_before_migration(conn, self.keys)
            migrate(conn, applied_at=applied_at)
            self._codec = (
                checked
                if checked is not None
                else _keyring.open_codec(
                    conn, self.keys, now=applied_at, iterations=self.kdf_iterations
                )
            )
            if self.path != ":memory:":
                # Which file this connection writes: the health check tells when the path
                # names another one (deleted, or replaced under the bridge).
                self._opened = _health.file_id(self.path)
            ready = True
        finally:
            if not ready:
                conn.close()  # whatever went wrong, the half-opened connection goes
        return conn

    async def _call(
        self, fn: Callable[[sqlite3.Connection], T], *, write: bool, then: Hook[T] = None
    ) -> T:
        db = self._db
        if db is None:
            raise StorageError("the store is not running")
        return await db.call(fn, write=write, then=then)

    async def _read(self, fn: Sql[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(conn, codec, *args, **kwargs)`` as a read on the database thread."""
        codec = self._codec
        return await self._call(lambda conn: fn(conn, codec, *args, **kwargs), write=False)

    async def _write(self, fn: Sql[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(conn, codec, *args, **kwargs)`` as one write item of the next group commit."""
        codec = self._codec
        return await self._call(lambda conn: fn(conn, codec, *args, **kwargs), write=True)

    # ---- Journal ------------------------------------------------------------------------

    async def journal(
        self,
        events: Sequence[InboundEvent],
        *,
        committed: Callable[[list[int | None]], None] | None = None,
    ) -> list[int | None]:
        batch = tuple(events)
        if not batch:
            return []
        insert = partial(_journal.insert, codec=self._codec, events=batch, now=self._clock())
        return await self._call(insert, write=True, then=committed)

    async def pending_heads(self, queue: str, *, limit: int = 256) -> list[JournalRow]:
        return await self._read(_journal.pending_heads, queue, limit=limit)

    async def pending_snapshot(self, queue: str, *, limit: int = 1024) -> PendingSnapshot:
        return await self._read(_units.pending_snapshot, queue, limit=limit)

    async def pending_after(self, queue: str, after: int, *, limit: int = 1024) -> PendingSnapshot:
        return await self._read(_units.pending_after, queue, after=after, limit=limit)

    async def pending_count(self, queue: str | None = None, *, source: str | None = None) -> int:
        return await self._read(_journal.pending_count, queue, source)

    async def queues_with_pending(self) -> list[str]:
        return await self._read(_journal.queues_with_pending)

    async def complete(self, row_id: int, *, mappings: Sequence[MessageMapping] = ()) -> None:
        written = tuple(mappings)
        forgotten = await self._write(
            _units.complete,
            row_id,
            mappings=written,
            now=self._clock(),
            keep_text=self.keep_message_text,
        )
        if forgotten is not None:
            self._with_parts.discard(forgotten)
        self._recent.written(written)

    async def retry_later(
        self, row_id: int, *, next_attempt_at: float, error: str, count_attempt: bool
    ) -> int:
        return await self._write(
            _journal.retry_later,
            row_id,
            next_attempt_at=next_attempt_at,
            error=error,
            count_attempt=count_attempt,
            now=self._clock(),
        )

    async def bury(self, row_id: int, *, error: str) -> None:
        await self._write(_journal.bury, row_id, error=error, now=self._clock())

    async def requeue(
        self, row_id: int, *, queue: str, chat: str | None, to_end: bool = False
    ) -> int:
        now = self._clock()
        return await self._write(_journal.requeue, row_id, queue, chat, to_end=to_end, now=now)

    async def requeue_many(self, moves: Sequence[tuple[int, str, str | None]]) -> list[int]:
        return await self._write(_journal.requeue_many, tuple(moves), now=self._clock())

    async def retry_now(self) -> int:
        return await self._call(_journal.retry_now, write=True)

    async def dead_letters(self, *, limit: int = 100) -> list[JournalRow]:
        return await self._read(_journal.dead_letters, limit=limit)

    async def resurrect(self, row_id: int) -> bool:
        resurrect = partial(_journal.resurrect, row_id=row_id, now=self._clock())
        return await self._call(resurrect, write=True)

    async def pending_by_queue(self) -> dict[str, int]:
        return await self._read(_journal.pending_by_queue)

    async def pending_stats(self) -> dict[str, tuple[int, float]]:
        return await self._read(_journal.pending_stats)

    async def pending_since(self, *, before: float, limit: int = 256) -> list[JournalRow]:
        return await self._read(_journal.pending_since, before=before, limit=limit)

    async def state_counts(self) -> dict[tuple[str, str], int]:
        return await self._read(_journal.state_counts)

    async def last_received(self, queue: str, source: str) -> float | None:
        return await self._read(_journal.last_received, queue, source)

    async def has_key(self, key: str) -> bool:
        return await self._read(_journal.has_key, key)

    async def state_of(self, key: str) -> JournalState | None:
        return await self._read(_journal.state_of, key)

    # ---- Caches -------------------------------------------------------------------------

    async def put_contact(self, contact: Contact) -> None:
        await self._write(_caches.put_contact, contact)

    async def get_contact(self, session: str, contact_id: str) -> Contact | None:
        return await self._read(_caches.get_contact, session, contact_id)

    async def put_group(self, group: Group) -> None:
        await self._write(_caches.put_group, group)

    async def get_group(self, session: str, group_id: str) -> Group | None:
        return await self._read(_caches.get_group, session, group_id)

    async def put_signal_identity(self, number: str, uuid: str) -> None:
        await self._write(_caches.put_signal_identity, number, uuid, now=self._clock())

    async def number_for_uuid(self, uuid: str) -> str | None:
        return await self._read(_caches.number_for_uuid, uuid)

    async def uuid_for_number(self, number: str) -> str | None:
        return await self._read(_caches.uuid_for_number, number)

    async def put_lid_pairing(self, pairing: LidPairing) -> None:
        await self._write(_lids.put_pairing, pairing)

    async def lid_pairing(
        self, session: str, *, lid: str | None = None, pn: str | None = None
    ) -> LidPairing | None:
        if lid is None and pn is None:
            raise ValueError("give a lid or a phone number")
        return await self._read(_lids.get_pairing, session, lid=lid, pn=pn)

    # ---- Send parts ---------------------------------------------------------------------

    async def send_parts(self, row_key: str) -> dict[int, SendPart]:
        if self._codec.lookup(row_key) not in self._with_parts:
            return {}  # no attempt stored any (most rows): answered without the database
        return await self._read(_parts.load, row_key)

    async def put_send_part(self, row_key: str, index: int, part: SendPart) -> None:
        self._with_parts.add(self._codec.lookup(row_key))  # before: a read must not miss it
        await self._write(_parts.put, row_key, index, part, now=self._clock())

    # ---- Health -------------------------------------------------------------------------

    async def check_health(self) -> None:
        check = partial(_health.check, path=self.path, opened=self._opened, now=self._clock())
        await self._call(check, write=True)

    # ---- Retention ----------------------------------------------------------------------

    async def prune(self, *, done_before: float, mappings_before: float) -> int:
        try:
            return await self._write(
                _units.prune, done_before=done_before, mappings_before=mappings_before
            )
        finally:
            self._recent.clear()
