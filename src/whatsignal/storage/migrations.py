"""Numbered schema migrations for the SQLite store.

The schema only moves forward: each :class:`Migration` has a version number, runs inside
its own transaction together with the row that records it in ``schema_version``, and is
never edited once released (a change is a new migration). A database written by a newer
whatsignal is refused rather than guessed at.

Protected columns (``fields.py``) hold what the store's codec makes of a value: the value
itself in development mode, a sealed value or a lookup hash with encryption on. Migration 6
added the ``_enc`` siblings of the looked-up ones and the ``encryption`` table with the key
check (``keyring.py``).
"""

from __future__ import annotations

import logging
import sqlite3

import attrs

from whatsignal.errors import StorageError

log = logging.getLogger(__name__)


@attrs.frozen
class Migration:
    """One schema step: ``statements`` run in order, in one transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


def _siblings(table: str, *columns: str) -> tuple[str, ...]:
    return tuple(f"ALTER TABLE {table} ADD COLUMN {column}_enc BLOB" for column in columns)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "journal of inbound events and message mappings",
        (
            """
            CREATE TABLE journal (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                source          TEXT    NOT NULL CHECK (source IN ('whatsapp', 'signal')),
                key             TEXT    NOT NULL UNIQUE,
                queue           TEXT    NOT NULL,
                chat            TEXT,
                kind            TEXT    NOT NULL,
                payload         BLOB    NOT NULL,
                received_at     REAL    NOT NULL,
                state           TEXT    NOT NULL DEFAULT 'pending'
                                        CHECK (state IN ('pending', 'done', 'dead')),
                attempts        INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL    NOT NULL DEFAULT 0,
                last_error      TEXT,
                updated_at      REAL    NOT NULL
            )
            """,
            # The work queue: heads per chat of one queue's pending rows.
            "CREATE INDEX journal_queue_state_chat ON journal (queue, state, chat, id)",
            # Pending rows are few next to the done ones kept for retention: counting them
            # and listing their queues must not scan the whole journal.
            "CREATE INDEX journal_pending ON journal (queue) WHERE state = 'pending'",
            # Dead letters are few; a partial index finds them without scanning done rows.
            "CREATE INDEX journal_dead ON journal (id) WHERE state = 'dead'",
            # Retention deletes old done rows.
            "CREATE INDEX journal_done_updated ON journal (updated_at) WHERE state = 'done'",
            """
            CREATE TABLE message_mappings (
                id               INTEGER PRIMARY KEY AUTOINCREMENT,
                session          TEXT    NOT NULL,
                whatsapp_id      TEXT    NOT NULL,
                chat_id          TEXT    NOT NULL,
                bridge_number    TEXT    NOT NULL,
                destination      TEXT    NOT NULL,
                signal_timestamp INTEGER NOT NULL,
                direction        TEXT    NOT NULL
                                         CHECK (direction IN ('wa_to_signal', 'signal_to_wa')),
                created_at       REAL    NOT NULL,
                sender_name      TEXT,
                delivery_status  INTEGER,
                UNIQUE (session, whatsapp_id)
            )
            """,
            "CREATE INDEX mappings_signal ON message_mappings (bridge_number, signal_timestamp)",
            """
            CREATE INDEX mappings_latest
                ON message_mappings (bridge_number, destination, created_at)
            """,
            "CREATE INDEX mappings_created ON message_mappings (created_at)",
        ),
    ),
    Migration(
        2,
        "contact, group and Signal identity caches",
        (
            """
            CREATE TABLE contacts (
                session    TEXT NOT NULL,
                contact_id TEXT NOT NULL,
                name       TEXT,
                number     TEXT,
                updated_at REAL NOT NULL,
                PRIMARY KEY (session, contact_id)
            )
            """,
            """
            CREATE TABLE groups (
                session    TEXT NOT NULL,
                group_id   TEXT NOT NULL,
                name       TEXT,
                updated_at REAL NOT NULL,
                PRIMARY KEY (session, group_id)
            )
            """,
            """
            CREATE TABLE signal_identities (
                number     TEXT NOT NULL PRIMARY KEY,
                uuid       TEXT NOT NULL UNIQUE,
                updated_at REAL NOT NULL
            )
            """,
        ),
    ),
    Migration(
        3,
        "the readiness probe's row",
        (
            # One row, rewritten by each readiness check: proof that the store can still write.
            """
            CREATE TABLE health (
                id         INTEGER PRIMARY KEY CHECK (id = 1),
                checked_at REAL NOT NULL
            )
            """,
        ),
    ),
    Migration(
        4,
        "WhatsApp LID <-> phone number pairings",
        (
            # One row per answer of WAHA's lids API: a pairing, or a lone half (no partner
            # known when it was asked). SQLite's UNIQUE lets several NULLs through.
            """
            CREATE TABLE lid_pairings (
                session    TEXT NOT NULL,
                lid        TEXT,
                pn         TEXT,
                updated_at REAL NOT NULL,
                CHECK (lid IS NOT NULL OR pn IS NOT NULL),
                UNIQUE (session, lid),
                UNIQUE (session, pn)
            )
            """,
        ),
    ),
    Migration(
        5,
        "encryption at rest: sealed siblings of looked-up columns, key check, re-encryption",
        (
            *_siblings("journal", "key", "queue", "chat"),
            *_siblings(
                "message_mappings",
                "session",
                "whatsapp_id",
                "chat_id",
                "bridge_number",
                "destination",
                "sender_name",
            ),
            *_siblings("contacts", "session", "contact_id"),
            *_siblings("groups", "session", "group_id"),
            *_siblings("signal_identities", "number", "uuid"),
            *_siblings("lid_pairings", "session", "lid", "pn"),
            # Row 1: the key the data is under (none: plaintext). Row 2: the key a rotation
            # or the first encryption is moving the data to, until it is finished.
            """
            CREATE TABLE encryption (
                id           INTEGER PRIMARY KEY CHECK (id IN (1, 2)),
                kdf          TEXT    NOT NULL,
                iterations   INTEGER NOT NULL,
                key_check    BLOB    NOT NULL,
                lookup_check TEXT    NOT NULL,
                created_at   REAL    NOT NULL
            )
            """,
            # How far a rotation got, per table (rows up to last_rowid are under row 2's key).
            """
            CREATE TABLE rekey_progress (
                name       TEXT    PRIMARY KEY,
                last_rowid INTEGER NOT NULL
            )
            """,
        ),
    ),
    Migration(
        6,
        "the message ids and progress of a row's WhatsApp sends",
        (
            # One row per send of a journal row (storage/send_parts.py), keyed by the row's
            # natural key (as journal.key stores it: its lookup under encryption): the row's id
            # changes when the router moves it to a session's queue.
            """
            CREATE TABLE send_parts (
                row_key     TEXT    NOT NULL,
                row_key_enc BLOB,
                part        INTEGER NOT NULL,
                message_id  TEXT,
                sent_id     TEXT,
                updated_at  REAL    NOT NULL,
                PRIMARY KEY (row_key, part)
            )
            """,
        ),
    ),
    Migration(
        7,
        "the alerts told to the user and not yet cleared",
        (
            # One row per raised alert (storage/alerts.py), so a restart does not repeat it;
            # the key names the condition (it holds a session name: looked up).
            """
            CREATE TABLE alerts (
                key       TEXT PRIMARY KEY,
                key_enc   BLOB,
                raised_at REAL NOT NULL
            )
            """,
        ),
    ),
    Migration(
        8,
        "portals: a Signal group per WhatsApp chat",
        (
            # One row per (bridge number, destination, session, chat): the chat's Signal
            # group (storage/portals.py). ``internal_id`` is what envelopes carry, looked up
            # to route what the user writes in the group; ``group_id`` the REST API's id.
            """
            CREATE TABLE portals (
                bridge_number     TEXT NOT NULL,
                bridge_number_enc BLOB,
                destination       TEXT NOT NULL,
                destination_enc   BLOB,
                session           TEXT NOT NULL,
                session_enc       BLOB,
                chat_id           TEXT NOT NULL,
                chat_id_enc       BLOB,
                internal_id       TEXT,
                internal_id_enc   BLOB,
                group_id          BLOB,
                name              BLOB,
                state             TEXT NOT NULL,
                updated_at        REAL NOT NULL,
                PRIMARY KEY (bridge_number, destination, session, chat_id)
            )
            """,
            "CREATE INDEX portals_by_internal_id ON portals (bridge_number, internal_id)",
            # The Signal conversation a bridged message is in: its portal's group id, or
            # NULL for the one-to-one conversation (sealed).
            "ALTER TABLE message_mappings ADD COLUMN signal_group BLOB",
        ),
    ),
    Migration(
        9,
        "chats muted from Signal",
        (
            # One row per muted chat (storage/chats.py): since when, and how many of its
            # messages were held back; the session and chat are looked up.
            """
            CREATE TABLE muted_chats (
                session     TEXT NOT NULL,
                session_enc BLOB,
                chat_id     TEXT NOT NULL,
                chat_id_enc BLOB,
                since       REAL NOT NULL,
                held        INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (session, chat_id)
            )
            """,
        ),
    ),
    Migration(
        10,
        "the options of bridged WhatsApp polls, for votes both ways",
        (
            # One row per WhatsApp poll bridged to Signal (storage/polls.py), keyed like its
            # message mapping; the options are sealed (a JSON list), and the row is pruned
            # with the mappings.
            """
            CREATE TABLE polls (
                session         TEXT NOT NULL,
                session_enc     BLOB,
                whatsapp_id     TEXT NOT NULL,
                whatsapp_id_enc BLOB,
                options         BLOB NOT NULL,
                multiple        INTEGER NOT NULL,
                native          INTEGER NOT NULL,
                voted           INTEGER NOT NULL DEFAULT 0,
                created_at      REAL NOT NULL,
                PRIMARY KEY (session, whatsapp_id)
            )
            """,
            "CREATE INDEX polls_created ON polls (created_at)",
        ),
    ),
    Migration(
        11,
        "each voter's latest vote on a bridged poll, so an older vote arriving late is not shown",
        # A sealed JSON object, voter -> the time of their latest vote shown (storage/polls.py).
        ("ALTER TABLE polls ADD COLUMN voters BLOB",),
    ),
)

LATEST_VERSION: int = MIGRATIONS[-1].version


def check_numbering(migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
    """Raise ValueError unless the migrations are numbered 1, 2, 3, ... without gaps."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1..n without gaps, got {versions}")


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of the database behind ``conn`` (0 for an empty database)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def migrate(
    conn: sqlite3.Connection,
    *,
    applied_at: float,
    target: int | None = None,
    migrations: tuple[Migration, ...] = MIGRATIONS,
) -> int:
    """Bring the schema up to ``target`` (default: the latest) and return the version.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration opens its
    own ``BEGIN IMMEDIATE`` transaction, so a crash leaves the database at the previous
    version, never half-way. Each step applied is recorded in ``schema_version`` with
    ``applied_at`` (unix time), which the caller reads from its clock: this module reads
    none, so that the bridge's one clock (and a test's hand-moved one) decides it.

    Raises:
        StorageError: the database is newer than this code, or a migration failed.
    """
    check_numbering(migrations)
    latest = migrations[-1].version if migrations else 0
    target = latest if target is None else target
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    version = current_version(conn)
    if version > latest:
        raise StorageError(
            f"the database has schema version {version}, newer than this whatsignal"
            f" understands ({latest}); upgrade whatsignal or restore a backup"
        )
    for step in migrations:
        if step.version <= version or step.version > target:
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (step.version, step.description, applied_at),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"schema migration {step.version} failed: {exc}") from exc
        log.info("database schema migrated to version %d (%s)", step.version, step.description)
        version = step.version
    return version
