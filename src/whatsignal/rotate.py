"""``python -m whatsignal rotate-key``: re-encrypt the database under new secrets.

The current secrets are the bridge's own variables (``WHATSIGNAL_ENCRYPTION_SECRET``,
``..._SALT``, ``..._LOOKUP_SALT``); the new ones are the same names with ``NEW_`` after
``WHATSIGNAL_``. The new secret is required; a new salt that is not given keeps the current
one. The bridge must be stopped (the command refuses while it holds the file, and the bridge
refuses to start while a rotation is unfinished). Progress goes to stdout, one line per batch;
an interrupted rotation resumes where it stopped when run again with the same variables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import TextIO

from whatsignal.clock import Clock, wall_clock
from whatsignal.config import Config
from whatsignal.errors import ConfigError, StorageError
from whatsignal.storage import KeyMaterial
from whatsignal.storage import keyring as _keyring
from whatsignal.storage.crypto import KDF_ITERATIONS
from whatsignal.storage.migrations import migrate

NEW_SECRET = "WHATSIGNAL_NEW_ENCRYPTION_SECRET"
NEW_SALT = "WHATSIGNAL_NEW_ENCRYPTION_SALT"
NEW_LOOKUP_SALT = "WHATSIGNAL_NEW_ENCRYPTION_LOOKUP_SALT"


def _new_keys(old: KeyMaterial, env: Mapping[str, str]) -> KeyMaterial:
    problems: list[str] = []
    secret = env.get(NEW_SECRET) or ""
    if len(secret) < 32:
        state = "missing" if not secret else f"{len(secret)} characters is too short"
        problems.append(
            f"{NEW_SECRET}: {state}; set the new encryption secret (at least 32 characters; "
            "generate one with: openssl rand -hex 32)"
        )
    salts = []
    for name, current in ((NEW_SALT, old.salt), (NEW_LOOKUP_SALT, old.lookup_salt)):
        salt = env.get(name) or current
        if len(salt) < 16:
            problems.append(f"{name}: {len(salt)} characters is too short; use at least 16")
        salts.append(salt)
    if secret and secret == old.secret and salts == [old.salt, old.lookup_salt]:
        problems.append(f"{NEW_SECRET}: the same as the current secret; nothing would change")
    if problems:
        raise ConfigError(problems)
    return KeyMaterial(secret, salts[0], salts[1])


def rotate_key(
    config: Config,
    old: KeyMaterial | None,
    env: Mapping[str, str],
    out: TextIO,
    *,
    clock: Clock = wall_clock,
    iterations: int = KDF_ITERATIONS,
) -> None:
    """Re-encrypt ``config.database.path`` from ``old`` to the secrets in ``env``.

    Raises:
        ConfigError: a secret is missing, short or wrong (nothing was changed).
        StorageError: the database is in use by the bridge, or cannot be written.
    """
    if old is None:
        raise ConfigError(
            f"{_keyring.SECRET}: missing; set the current encryption secret and salts, and the "
            f"new ones as {NEW_SECRET} (and optionally {NEW_SALT}, {NEW_LOOKUP_SALT})"
        )
    new = _new_keys(old, env)
    path = config.database.path
    lock = _keyring.lock_file(path, exclusive=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA secure_delete = ON")
        now = clock()
        migrate(conn, applied_at=now)
        old_codec, new_codec = _keyring.start_rotation(
            conn, old, new, now=now, iterations=iterations
        )

        def progress(table: str, done: int, total: int) -> None:
            print(f"{table}: {done}/{total} rows re-encrypted", file=out, flush=True)

        _keyring.rekey(conn, old_codec, new_codec, progress=progress)
    except sqlite3.Error as exc:
        raise StorageError(f"the key rotation failed: {exc}; run it again to resume") from exc
    finally:
        conn.close()
        _keyring.close_lock(lock)
    print(
        f"done: start the bridge with {_keyring.SECRET}, {_keyring.SALT} and "
        f"{_keyring.LOOKUP_SALT} set to the new values",
        file=out,
    )
