"""The two files ``setup`` writes: the configuration and the env file with the secrets."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from whatsignal.errors import ConfigError

__all__ = [
    "GENERATED",
    "HEADER",
    "check_ours",
    "config_text",
    "env_text",
    "merged_env",
    "read_env_file",
    "write_file",
]

GENERATED: tuple[tuple[str, int], ...] = (
    ("WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET", 32),
    ("WHATSIGNAL_ADMIN_TOKEN", 32),
    ("WHATSIGNAL_ENCRYPTION_SECRET", 32),
    ("WHATSIGNAL_ENCRYPTION_SALT", 24),
    ("WHATSIGNAL_ENCRYPTION_LOOKUP_SALT", 24),
)
"""The secrets setup makes when neither the environment nor the env file has them, with the
random bytes each gets (43 and 32 characters: above the bridge's minimums of 32 and 16)."""

HEADER = (
    "# Written by `whatsignal setup`. Every other key keeps its default; config.yaml in the\n"
    "# source documents them all. Secrets are in the env file, never here.\n"
)

_SAFE = re.compile(r"[A-Za-z0-9_.,:/@+=-]*")
_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def config_text(
    *,
    waha_url: str,
    signal_url: str,
    bridge_number: str,
    destination: str,
    sessions: Sequence[str],
    database: str,
    portals: bool = False,
) -> str:
    """The configuration file: the upstreams, the bridge number and one channel per session
    (each with a portal per chat when ``portals``)."""
    data = {
        "whatsapp": {"api_base_url": waha_url},
        "signal": {"rpc_url": signal_url, "intermediaryPhoneNumber": bridge_number},
        "channels": [
            {"whatsappSessionName": name, "signalDestinationPhoneNumber": destination}
            | ({"portals": True} if portals else {})
            for name in sessions
        ],
        "database": {"path": database},
        "server": {"port": 8082},
    }
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def check_ours(path: Path) -> None:
    """Refuse to replace a configuration that setup did not write (a hand-written one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot be read ({exc.strerror})") from None
    if not text.startswith(HEADER.splitlines()[0]):
        raise ConfigError(
            f"--config {path}: exists and was not written by setup; pass another path "
            "(setup never overwrites a configuration written by hand)"
        )


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of an env file (comments and blank lines skipped); {} if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"--env-file {path}: cannot be read ({exc.strerror})") from None
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not (match := _LINE.fullmatch(line)):
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[match.group(1)] = value
    return found


def merged_env(
    env: Mapping[str, str], existing: Mapping[str, str], api_key: str
) -> tuple[dict[str, str], list[str]]:
    """The env file's variables, and the names of the secrets made now.

    A secret already in the environment, or already in the env file, is kept: the database is
    encrypted with the encryption ones, and WAHA signs with the webhook one, so a second run
    must not change them. Other variables the file has stay as they are.
    """
    values = dict(existing)
    values["WHATSAPP_API_KEY"] = api_key
    made: list[str] = []
    for name, size in GENERATED:
        if env.get(name):
            values[name] = env[name]
        elif not values.get(name):
            values[name] = secrets.token_urlsafe(size)
            made.append(name)
    return values, made


def env_text(values: Mapping[str, str]) -> str:
    """The env file, readable by a shell (``set -a; . FILE``), compose and systemd alike."""
    lines = [
        "# whatsignal's secrets, written by `whatsignal setup`. Keep this file private (0600).",
        "# Load it with: set -a && . ./.env && set +a   (or compose's env_file, systemd's",
        "# EnvironmentFile).",
    ]
    for name, value in values.items():
        if _SAFE.fullmatch(value):
            lines.append(f"{name}={value}")
        elif "'" not in value and "\n" not in value:
            lines.append(f"{name}='{value}'")
        else:
            raise ConfigError(
                f"{name}: its value holds a quote or a line break, which an env file cannot "
                "carry for every reader; choose another value"
            )
    return "\n".join(lines) + "\n"


def write_file(path: Path, text: str, *, private: bool) -> str:
    """Write ``text`` to ``path`` atomically; ``private``: mode 0600. Returns what happened:
    ``created``, ``changed`` (the old file kept as ``<name>.bak``) or ``unchanged``."""
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            if private:
                path.chmod(0o600)
            return "unchanged"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        if private:
            os.fchmod(fd, 0o600)  # a left-over temporary file keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if old is not None:
            backup = path.with_name(path.name + ".bak")
            backup.write_text(old, encoding="utf-8")
            if private:
                backup.chmod(0o600)
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be written ({exc.strerror}); choose another path"
        ) from None
    return "created" if old is None else "changed"
