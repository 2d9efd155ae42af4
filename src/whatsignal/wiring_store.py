"""The store built from the configuration: ``database.*`` and the encryption secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whatsignal.clock import Clock
from whatsignal.errors import ConfigError
from whatsignal.storage import KeyMaterial, SqliteStore

if TYPE_CHECKING:
    from whatsignal.config import Config

__all__ = ["encryption_keys", "store"]


def encryption_keys(config: Config) -> KeyMaterial | None:
    """The database's key material: None (stored in clear) without an encryption secret,
    which only development mode allows; its salts then fall back to the development ones."""
    secrets = config.secrets
    if secrets.encryption_secret is None:
        return None
    if secrets.encryption_salt is None or secrets.encryption_lookup_salt is None:
        raise ConfigError(
            "WHATSIGNAL_ENCRYPTION_SALT and WHATSIGNAL_ENCRYPTION_LOOKUP_SALT: both are needed "
            "with WHATSIGNAL_ENCRYPTION_SECRET"
        )
    return KeyMaterial(
        secrets.encryption_secret, secrets.encryption_salt, secrets.encryption_lookup_salt
    )


def store(config: Config, clock: Clock) -> SqliteStore:
    """The store of ``database``, encrypting with the configured secrets."""
    db = config.database
    return SqliteStore(
        db.path,
        synchronous=db.synchronous,
        clock=clock,
        keys=encryption_keys(config),
        keep_message_text=db.keep_message_text,
    )
