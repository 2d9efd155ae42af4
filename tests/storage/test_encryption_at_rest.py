"""Encryption at rest: the codec, the key check, and moving a database to another key."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import pytest
import trio
from storage_helpers import FAST_KDF, KEYS, event, mapping

from whatsignal.errors import ConfigError, StorageError
from whatsignal.storage import Contact, KeyMaterial, SqliteStore
from whatsignal.storage import keyring as _keyring
from whatsignal.storage.crypto import LOOKUPS_KEPT, PlainCodec, derive
from whatsignal.storage.migrations import MIGRATIONS

OTHER = KeyMaterial(secret="o" * 32, salt=KEYS.salt, lookup_salt=KEYS.lookup_salt)
SECRETS = (b"Hello from Carol", b"+4917000000099", b"4917000000099@c.us", b"Carol Secret")


def test_sealing_is_random_authenticated_and_lookups_are_keyed() -> None:
    codec = derive(KEYS, iterations=FAST_KDF)
    first, second = codec.seal("+4917000000099"), codec.seal("+4917000000099")
    assert first != second  # a fresh nonce each time: equal values do not look equal
    assert codec.open_text(first) == codec.open_text(second) == "+4917000000099"
    assert codec.open_bytes(codec.seal(b"\x00raw")) == b"\x00raw"
    assert codec.seal(None) is None
    assert codec.lookup("x") == codec.lookup("x") != codec.lookup("y")
    other = derive(OTHER, iterations=FAST_KDF)
    assert other.lookup("x") != codec.lookup("x")  # the lookup is keyed by the secret
    assert first is not None
    with pytest.raises(StorageError, match="does not decrypt"):
        other.open_text(first)
    tampered = bytes(first[:-1]) + bytes([first[-1] ^ 1])
    with pytest.raises(StorageError, match="does not decrypt"):
        codec.open_text(tampered)
    with pytest.raises(StorageError, match="not encrypted"):
        codec.open_text("clear text")
    assert "s" * 32 not in repr(KEYS) + repr(codec)


def test_remembered_lookups_are_the_keyed_hashes_and_stay_bounded() -> None:
    codec, fresh = derive(KEYS, iterations=FAST_KDF), derive(KEYS, iterations=FAST_KDF)
    values = [f"49170000{i:05}@c.us" for i in range(LOOKUPS_KEPT + 10)]
    first = [codec.lookup(v) for v in values]  # more than it keeps: it starts again
    assert [codec.lookup(v) for v in values] == first == [fresh.lookup(v) for v in values]
    assert len(codec._looked_up) <= LOOKUPS_KEPT
    assert len(set(first)) == len(values)


def test_the_plain_codec_stores_values_as_they_are() -> None:
    plain = PlainCodec()
    assert (plain.seal("a"), plain.lookup("a"), plain.sibling("a")) == ("a", "a", None)
    assert plain.reveal("a", None) == "a"
    assert plain.open_bytes(None) == b""
    assert not plain.encrypted


async def _fill(path: str, keys: KeyMaterial | None, *, count: int = 3) -> None:
    async with trio.open_nursery() as nursery:
        store = await nursery.start(SqliteStore(path, keys=keys, kdf_iterations=FAST_KDF).run)
        ids = await store.journal(
            [
                event(f"wa:s:msg:{i}", chat="4917000000099@c.us", payload=b'"Hello from Carol"')
                for i in range(count)
            ]
        )
        assert ids[0] is not None
        await store.complete(ids[0], mappings=[mapping("m1", sender_name="Carol Secret")])
        await store.put_contact(Contact("s", "c1", "Carol Secret", "+4917000000099", 1.0))
        await store.put_signal_identity("+4917000000099", "uuid-1")
        nursery.cancel_scope.cancel()


async def _read_back(path: str, keys: KeyMaterial | None) -> None:
    async with trio.open_nursery() as nursery:
        store = await nursery.start(SqliteStore(path, keys=keys, kdf_iterations=FAST_KDF).run)
        heads = await store.pending_heads("default")
        assert [row.payload for row in heads] == [b'"Hello from Carol"']
        assert heads[0].chat == "4917000000099@c.us"
        found = await store.mapping_by_whatsapp_id("default", "m1")
        assert found is not None
        assert found.sender_name == "Carol Secret"
        contact = await store.get_contact("s", "c1")
        assert contact is not None
        assert contact.number == "+4917000000099"
        assert await store.number_for_uuid("uuid-1") == "+4917000000099"
        nursery.cancel_scope.cancel()


async def _refusal(path: str, keys: KeyMaterial | None) -> str:
    """Why the store refuses to open ``path`` with ``keys`` (a ConfigError's message)."""
    try:
        await _read_back(path, keys)
    except BaseExceptionGroup as group:
        matched, rest = group.split(ConfigError)
        assert matched is not None
        assert rest is None
        while isinstance(matched, BaseExceptionGroup):
            matched = matched.exceptions[0]
        return str(matched)
    raise AssertionError("the store opened")


def _files(path: str) -> bytes:
    return b"".join(p.read_bytes() for p in Path(path).parent.glob(Path(path).name + "*"))


async def test_an_encrypted_store_keeps_nothing_readable_and_refuses_other_secrets(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "enc.db")
    await _fill(path, KEYS)
    content = _files(path)
    assert not [s for s in SECRETS if s in content]
    digest = hashlib.sha256(content).hexdigest()
    assert "WHATSIGNAL_ENCRYPTION_SECRET" in await _refusal(path, OTHER)
    assert "WHATSIGNAL_ENCRYPTION_SECRET: missing" in await _refusal(path, None)
    lookup = KeyMaterial(KEYS.secret, KEYS.salt, "another-lookup-salt")
    assert "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT" in await _refusal(path, lookup)
    assert hashlib.sha256(_files(path)).hexdigest() == digest  # nothing changed
    await _read_back(path, KEYS)


async def test_other_secrets_are_refused_before_a_newer_schema_is_applied(
    tmp_path: Path,
) -> None:
    # A database an earlier version encrypted (here: as if the last migration had not run yet):
    # a bridge started with the wrong secret must not migrate it either.
    path = str(tmp_path / "older.db")
    await _fill(path, KEYS)
    with sqlite3.connect(path) as conn:
        latest = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        conn.execute("DELETE FROM schema_version WHERE version = ?", (latest,))
        for statement in MIGRATIONS[-1].statements:  # undo what the last migration created
            if match := re.search(r"CREATE TABLE (\w+)", statement):
                conn.execute(f"DROP TABLE {match[1]}")
            elif match := re.search(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", statement):
                conn.execute(f"ALTER TABLE {match[1]} DROP COLUMN {match[2]}")
    for keys in (OTHER, None):
        assert "WHATSIGNAL_ENCRYPTION_SECRET" in await _refusal(path, keys)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] < latest
    await _read_back(path, KEYS)  # the right secret: migrated, and everything readable
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == latest


async def test_a_plaintext_database_is_encrypted_in_place_resuming_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "old.db")
    await _fill(path, None, count=7)
    assert b"Hello from Carol" in _files(path)
    monkeypatch.setattr(_keyring, "BATCH", 2)
    conn = sqlite3.connect(path, isolation_level=None)
    seen: list[tuple[str, int, int]] = []

    def crash_after_two_batches(table: str, done: int, total: int) -> None:
        seen.append((table, done, total))
        if len(seen) == 2:
            raise KeyboardInterrupt  # the process dies half-way

    with pytest.raises(KeyboardInterrupt):
        _keyring.open_codec(
            conn, KEYS, now=0.0, iterations=FAST_KDF, progress=crash_after_two_batches
        )
    conn.close()
    assert seen == [("journal", 2, 7), ("journal", 4, 7)]
    # Half-encrypted: not readable in clear any more.
    assert "WHATSIGNAL_ENCRYPTION_SECRET" in await _refusal(path, None)
    await _read_back(path, KEYS)  # resumes, finishes, reads everything
    assert not [s for s in SECRETS if s in _files(path)]


async def test_a_rotation_moves_to_the_new_key_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "rot.db")
    await _fill(path, KEYS, count=5)
    monkeypatch.setattr(_keyring, "BATCH", 2)
    conn = sqlite3.connect(path, isolation_level=None)
    old, new = _keyring.start_rotation(conn, KEYS, OTHER, now=1.0, iterations=FAST_KDF)

    def crash(table: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _keyring.rekey(conn, old, new, progress=crash)
    assert "rotation of this database is unfinished" in await _refusal(path, KEYS)
    with pytest.raises(ConfigError, match="interrupted rotation"):
        _keyring.start_rotation(conn, KEYS, KEYS, now=2.0, iterations=FAST_KDF)
    old, new = _keyring.start_rotation(conn, KEYS, OTHER, now=2.0, iterations=FAST_KDF)
    _keyring.rekey(conn, old, new)
    conn.close()
    await _read_back(path, OTHER)
    assert "WHATSIGNAL_ENCRYPTION_SECRET" in await _refusal(path, KEYS)


async def test_without_keep_message_text_a_done_row_drops_its_payload(tmp_path: Path) -> None:
    path = str(tmp_path / "forget.db")
    async with trio.open_nursery() as nursery:
        store = await nursery.start(
            SqliteStore(path, keys=KEYS, kdf_iterations=FAST_KDF, keep_message_text=False).run
        )
        first, _ = await store.journal([event("a", chat="1"), event("b", chat="2")])
        assert first is not None
        await store.retry_later(
            first, next_attempt_at=0, error="no +4917000000099", count_attempt=True
        )
        await store.complete(first, mappings=[mapping("m1")])
        assert await store.state_of("a") == "done"
        assert await store.mapping_by_whatsapp_id("default", "m1") is not None
        nursery.cancel_scope.cancel()
    codec = derive(KEYS, iterations=FAST_KDF)
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT state, payload, last_error FROM journal ORDER BY id").fetchall()
    conn.close()
    assert (rows[0][0], codec.open_bytes(rows[0][1]), rows[0][2]) == ("done", b"", None)
    assert codec.open_bytes(rows[1][1]) == b'{"body": "hi"}'  # the pending one keeps it


async def test_the_store_and_a_rotation_do_not_run_on_one_file_together(tmp_path: Path) -> None:
    path = str(tmp_path / "busy.db")
    async with trio.open_nursery() as nursery:
        await nursery.start(SqliteStore(path).run)
        with pytest.raises(StorageError, match="the bridge is running on it"):
            _keyring.lock_file(path, exclusive=True)
        nursery.cancel_scope.cancel()
    held = _keyring.lock_file(path, exclusive=True)
    try:
        with pytest.raises(StorageError, match="rotate-key"):
            await SqliteStore(path).run()  # refused before it starts anything
    finally:
        _keyring.close_lock(held)
