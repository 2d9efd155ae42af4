"""Secrets and the secure-mode rules (Go's ``validateSecurity``, kept and tightened).

Secure mode is the default: anything but ``WHATSIGNAL_ENV=development``. It requires an admin
token and a webhook secret of at least 32 characters, both encryption salts of at least 16,
the encryption secret of at least 32, and refuses ``log_level: debug`` (debug logs carry
message text and phone numbers). Development mode relaxes the missing-secret rules into
warnings so that the demo runs without any setup; a secret that *is* set must still be long
enough in any mode (the webhook secret too, and signal-cli's push token: 16). Messages name the
variable and the length, never the secret itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from whatsignal.config._keys import ENV_DEVELOPMENT, ENV_MODE
from whatsignal.config._tree import Context

DEV_SALT = "whatsignal-salt-v1"
DEV_LOOKUP_SALT = "whatsignal-lookup-salt-v1"
PLACEHOLDER_API_KEY = "your-api-key"
_GENERATE = "generate one with: openssl rand -hex 32"
_OR_DEV = f"or set {ENV_MODE}={ENV_DEVELOPMENT} for a local test setup"


def _env(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def _length(
    ctx: Context, name: str, value: str | None, minimum: int, *, required: bool
) -> str | None:
    """Check a secret's length; report it as missing when ``required``."""
    if value is None:
        if required:
            ctx.problems.append(
                f"{name}: missing; secure mode needs at least {minimum} characters; "
                f"{_GENERATE}, {_OR_DEV}"
            )
        return None
    if len(value) < minimum:
        ctx.problems.append(
            f"{name}: {len(value)} characters is too short; use at least {minimum}; {_GENERATE}"
        )
    return value


PUSH_TOKEN_MIN = 16
"""signal-cli's push token is compared in constant time and can only be guessed online; 16
characters of ``openssl rand -hex`` are 64 bits."""


def secrets_from(
    env: Mapping[str, str],
    file_webhook_secret: str | None,
    log_level: str,
    ctx: Context,
    *,
    push_token: str | None = None,
) -> tuple[bool, dict[str, str | None]]:
    """Read and check the secrets (``push_token``: the effective ``signal.webhookToken``, only
    checked); return (development, secrets by attribute name)."""
    mode = env.get(ENV_MODE, "")
    dev = mode == ENV_DEVELOPMENT
    secure = not dev

    api_key = _env(env, "WHATSAPP_API_KEY")
    if api_key is None:
        if secure:
            ctx.problems.append(
                f"WHATSAPP_API_KEY: missing; set it to WAHA's API key (WAHA_API_KEY), {_OR_DEV}"
            )
        else:
            ctx.warn("WHATSAPP_API_KEY is not set: requests to WAHA carry no X-Api-Key")
    elif mode == "production" and api_key == PLACEHOLDER_API_KEY:
        ctx.problems.append(
            f"WHATSAPP_API_KEY: {PLACEHOLDER_API_KEY!r} is the example placeholder; "
            "set the real WAHA API key"
        )

    webhook_name = "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET (or whatsapp.webhook_secret)"
    webhook_secret = _env(env, "WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET") or file_webhook_secret
    _length(ctx, webhook_name, webhook_secret, 32, required=secure)
    if webhook_secret is None and dev:
        ctx.warn("no webhook secret: WAHA webhooks are accepted without an HMAC check")
    push_name = "WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN (or signal.webhookToken)"
    _length(ctx, push_name, push_token, PUSH_TOKEN_MIN, required=False)

    admin_token = _length(
        ctx, "WHATSIGNAL_ADMIN_TOKEN", _env(env, "WHATSIGNAL_ADMIN_TOKEN"), 32, required=secure
    )
    encryption_secret = _length(
        ctx,
        "WHATSIGNAL_ENCRYPTION_SECRET",
        _env(env, "WHATSIGNAL_ENCRYPTION_SECRET"),
        32,
        required=secure,
    )
    if encryption_secret is None and dev:
        ctx.warn(
            "WHATSIGNAL_ENCRYPTION_SECRET is not set: allowed in development only; "
            "secure mode requires it (>= 32 characters)"
        )

    salts: dict[str, str | None] = {}
    for attr, name, fallback in (
        ("encryption_salt", "WHATSIGNAL_ENCRYPTION_SALT", DEV_SALT),
        ("encryption_lookup_salt", "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT", DEV_LOOKUP_SALT),
    ):
        salt = _length(ctx, name, _env(env, name), 16, required=secure)
        if salt is None and dev:
            ctx.warn(f"{name} is not set: using the development fallback {fallback!r}")
            salt = fallback
        salts[attr] = salt

    if secure and log_level == "debug":
        ctx.problems.append(
            "log_level: 'debug' is refused in secure mode (debug logs contain message text "
            f"and phone numbers); use info, {_OR_DEV}"
        )

    return dev, {
        "api_key": api_key,
        "webhook_secret": webhook_secret,
        "admin_token": admin_token,
        "encryption_secret": encryption_secret,
        **salts,
    }
