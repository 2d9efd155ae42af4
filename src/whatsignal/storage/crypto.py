"""Field encryption of the store: the codec every SQL function hands its values through.

A :class:`Codec` does three things to one value, and nothing else:

- ``seal``: what is stored for a field that is only read back (a payload, a name, an error);
- ``lookup``: what is stored, and searched for, in a column the SQL compares for equality
  (chat ids, numbers, message ids, natural keys): the same input always gives the same
  output, so ``WHERE chat = ?``, ``UNIQUE`` and ``GROUP BY`` keep working on it;
- ``open``: the value back from what ``seal`` stored.

A looked-up column ``x`` that is also read back has a sibling ``x_enc`` holding ``seal(x)``:
the lookup value cannot be turned back into the clear one.

:class:`SealingCodec` is the secure-mode codec: AES-256-GCM with a random 96-bit nonce per
value (stored as ``version || nonce || ciphertext+tag``), and HMAC-SHA256 for lookups. Both
keys come from one PBKDF2-HMAC-SHA256 run over the encryption secret and salt (the lookup
key is then bound to the lookup salt with HMAC), done once at start-up: a value then costs
microseconds. :class:`PlainCodec` is development mode without a secret: every method is
the identity, so a plaintext database looks exactly as it did before encryption existed.

Error handling:
    ``open`` raises :class:`~whatsignal.errors.StorageError` for a value that was not sealed
    with this key (tampered with, or another key's): the store never hands out garbage.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Protocol

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from whatsignal.errors import StorageError

KDF_NAME = "pbkdf2-sha256"
"""The key-derivation function; stored in the database with its iteration count."""

KDF_ITERATIONS = 600_000
"""PBKDF2-HMAC-SHA256 iterations for new databases (OWASP's 2023 figure); about a quarter
of a second at start-up, never per message."""

_VERSION = b"\x01"
_NONCE = 12

Stored = str | bytes | None
"""What a sealed or looked-up column holds: TEXT or BLOB (plain) / BLOB (sealed), or NULL."""


@attrs.frozen(repr=False)
class KeyMaterial:
    """The three secrets the key is made of (``repr`` hides them).

    Attributes:
        secret: ``WHATSIGNAL_ENCRYPTION_SECRET``.
        salt: ``WHATSIGNAL_ENCRYPTION_SALT``.
        lookup_salt: ``WHATSIGNAL_ENCRYPTION_LOOKUP_SALT``.
    """

    secret: str
    salt: str
    lookup_salt: str

    def __repr__(self) -> str:
        return "KeyMaterial(<hidden>)"


class Codec(Protocol):
    """How stored fields are written and read (see the module docstring)."""

    @property
    def encrypted(self) -> bool:
        """Whether values are stored sealed (secure mode) or in clear (development)."""
        ...

    def seal(self, value: str | bytes | None) -> Stored:
        """The stored form of a field (None stays None)."""
        ...

    def open_text(self, stored: Stored) -> str | None:
        """A text field back from its stored form."""
        ...

    def open_bytes(self, stored: Stored) -> bytes:
        """A byte field (a payload) back from its stored form."""
        ...

    def lookup(self, value: str) -> str:
        """The searchable stand-in of a looked-up value (deterministic)."""
        ...

    def lookup_or_none(self, value: str | None) -> str | None:
        """:meth:`lookup` that lets None through."""
        ...

    def sibling(self, value: str | None) -> bytes | None:
        """The ``x_enc`` sibling of a looked-up column: sealed, or None in plain mode."""
        ...

    def reveal(self, looked_up: Stored, sibling: Stored) -> str | None:
        """A looked-up column's clear value, from the column and its ``x_enc`` sibling."""
        ...


class _Base:
    """What both codecs share: reading values back, and None through lookups."""

    def lookup(self, value: str) -> str:
        raise NotImplementedError

    def lookup_or_none(self, value: str | None) -> str | None:
        return None if value is None else self.lookup(value)

    def open_text(self, stored: Stored) -> str | None:
        clear = self._open(stored)
        return clear.decode() if isinstance(clear, bytes) else clear

    def open_bytes(self, stored: Stored) -> bytes:
        clear = self._open(stored)
        if clear is None:
            return b""
        return clear.encode() if isinstance(clear, str) else bytes(clear)

    def _open(self, stored: Stored) -> str | bytes | None:
        raise NotImplementedError


@attrs.frozen
class PlainCodec(_Base):
    """Development mode without a secret: values are stored as they are."""

    @property
    def encrypted(self) -> bool:
        return False

    def seal(self, value: str | bytes | None) -> Stored:
        return value

    def _open(self, stored: Stored) -> str | bytes | None:
        return stored

    def lookup(self, value: str) -> str:
        return value

    def sibling(self, value: str | None) -> bytes | None:
        return None

    def reveal(self, looked_up: Stored, sibling: Stored) -> str | None:
        return self.open_text(looked_up)


LOOKUPS_KEPT = 4096
"""How many lookups a :class:`SealingCodec` remembers (a dict, shared by the store's threads:
each get and set is atomic)."""


@attrs.frozen(repr=False)
class SealingCodec(_Base):
    """AES-256-GCM per value, HMAC-SHA256 lookups. Build it with :func:`derive`."""

    _aead: AESGCM
    _lookup_key: bytes
    _looked_up: dict[str, str] = attrs.field(factory=dict, init=False, eq=False)
    """Recent lookups: the same queues, sessions and chats are looked up for every message."""

    @property
    def encrypted(self) -> bool:
        return True

    def seal(self, value: str | bytes | None) -> bytes | None:
        if value is None:
            return None
        data = value.encode() if isinstance(value, str) else value
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, None)

    def _open(self, stored: Stored) -> bytes | None:
        if stored is None:
            return None
        if not isinstance(stored, bytes) or stored[:1] != _VERSION:
            raise StorageError("a stored value is not encrypted: the database was changed")
        nonce, body = stored[1 : 1 + _NONCE], stored[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, None)
        except InvalidTag:
            raise StorageError(
                "a stored value does not decrypt with this key (tampered with, or another key's)"
            ) from None

    def lookup(self, value: str) -> str:
        found = self._looked_up.get(value)
        if found is None:
            found = hmac.digest(self._lookup_key, value.encode(), "sha256").hex()
            if len(self._looked_up) >= LOOKUPS_KEPT:
                self._looked_up.clear()  # bounded; the repeated ones come back at once
            self._looked_up[value] = found
        return found

    def sibling(self, value: str | None) -> bytes | None:
        return self.seal(value)

    def reveal(self, looked_up: Stored, sibling: Stored) -> str | None:
        if looked_up is None:
            return None
        return self.open_text(sibling)

    def __repr__(self) -> str:
        return "SealingCodec(<key hidden>)"


def derive(keys: KeyMaterial, *, iterations: int = KDF_ITERATIONS) -> SealingCodec:
    """Run the KDF once and build the codec (a quarter of a second at the default cost)."""
    master = hashlib.pbkdf2_hmac(
        "sha256", keys.secret.encode(), keys.salt.encode(), iterations, dklen=64
    )
    lookup_key = hmac.new(master[32:], keys.lookup_salt.encode(), hashlib.sha256).digest()
    return SealingCodec(AESGCM(master[:32]), lookup_key)


def codec_for(keys: KeyMaterial | None, *, iterations: int = KDF_ITERATIONS) -> Codec:
    """The codec of these secrets: plain without any."""
    return PlainCodec() if keys is None else derive(keys, iterations=iterations)
