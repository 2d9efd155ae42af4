"""The validated configuration as frozen attrs classes.

Every attribute is the snake_case form of its canonical key (see `_keys.KEYS`); values are
already normalised (E.164 phone numbers, milliseconds, lower-case extensions, tuples instead of
lists). Secrets are left out of ``repr`` so that logging a config object cannot leak them.
Nothing here knows the file format: `_load` builds these objects through cattrs.
"""

from __future__ import annotations

import attrs

ANY_SESSION = "*"


def _secret() -> str | None:
    return attrs.field(default=None, repr=False)  # type: ignore[no-any-return]


@attrs.frozen
class GroupsConfig:
    """``whatsapp.groups``: the group-metadata cache."""

    sync_on_startup: bool = False
    cache_hours: int = 24


@attrs.frozen
class WhatsAppConfig:
    """``whatsapp``: how to reach WAHA and how to treat its sessions."""

    api_base_url: str
    timeout_ms: int = 30000
    retry_count: int = 3
    webhook_secret: str | None = _secret()
    poll_interval_sec: int = 30
    contact_sync_on_startup: bool = False
    contact_cache_hours: int = 24
    session_health_check_sec: int = 30
    session_auto_restart: bool = False
    session_startup_timeout_sec: int = 30
    groups: GroupsConfig = GroupsConfig()
    session_api_enabled: bool = True
    session_api_path: str = "/api/sessions/"
    link_preview: bool = True

    @property
    def timeout_sec(self) -> float:
        """The WAHA request timeout in seconds (``timeout_ms`` / 1000)."""
        return self.timeout_ms / 1000


@attrs.frozen
class SignalConfig:
    """``signal``: how to reach signal-cli-rest-api and how to receive from it."""

    rpc_url: str
    intermediary_phone_number: str
    device_name: str | None = None
    polling_enabled: bool = True
    poll_interval_sec: int = 1
    poll_timeout_sec: int = 10
    attachments_dir: str | None = None
    http_timeout_sec: int = 60
    strict_init: bool = False
    poll_workers: int = 5
    force_native_polling: bool = False
    session_discovery_interval_sec: int = 30
    max_concurrent_sessions: int = 10
    enable_dynamic_polling: bool = True
    receive_mode: str = "auto"
    webhook_token: str | None = _secret()


@attrs.frozen
class Channel:
    """One WhatsApp session paired with one destination Signal number.

    A ``whatsapp_session_name`` of ``"*"`` is the default channel: it serves every session
    discovered at run time that has no channel of its own.
    """

    whatsapp_session_name: str
    signal_destination_phone_number: str
    signal_phone_number: str | None = None
    portals: bool = False

    @property
    def is_default(self) -> bool:
        """True for the ``"*"`` channel."""
        return self.whatsapp_session_name == ANY_SESSION

    def bridge_number(self, config: Config) -> str:
        """The Signal number this channel sends from: its own, else the global bridge number."""
        return self.signal_phone_number or config.signal.intermediary_phone_number


@attrs.frozen
class DatabaseConfig:
    """``database``: the SQLite store."""

    path: str
    max_open_connections: int = 25
    max_idle_connections: int = 5
    conn_max_lifetime_sec: int = 300
    conn_max_idle_time_sec: int = 60
    synchronous: str = "FULL"
    keep_message_text: bool = True


@attrs.frozen
class MediaSizes:
    """``media.maxSizeMB``: size limits per media class, in MB."""

    image: int = 5
    video: int = 100
    document: int = 100
    voice: int = 16


@attrs.frozen
class MediaTypes:
    """``media.allowedTypes``: file extensions per media class (lower case, no dot)."""

    image: tuple[str, ...] = ("jpg", "jpeg", "png", "gif")
    video: tuple[str, ...] = ("mp4", "mov")
    document: tuple[str, ...] = ("pdf", "doc", "docx")
    voice: tuple[str, ...] = ("ogg",)


@attrs.frozen
class MediaConfig:
    """``media``: limits of the files that cross the bridge (``cache_dir`` is Go's, unused)."""

    cache_dir: str | None = None
    max_size_mb: MediaSizes = MediaSizes()
    allowed_types: MediaTypes = MediaTypes()
    download_timeout_sec: int = 30
    temp_dir: str | None = None


@attrs.frozen
class RetryConfig:
    """``retry``: backoff and give-up policy of sends."""

    initial_backoff_ms: int = 1000
    max_backoff_ms: int = 60000
    max_attempts: int = 5
    max_age_hours: int = 24


@attrs.frozen
class ServerConfig:
    """``server``: the bridge's own HTTP server."""

    host: str = "0.0.0.0"
    port: int = 8082
    shutdown_grace_sec: int = 30
    read_timeout_sec: int = 15
    write_timeout_sec: int = 15
    idle_timeout_sec: int = 60
    webhook_max_skew_sec: int | None = None
    webhook_max_bytes: int = 5 * 1024 * 1024
    max_pending_backlog: int = 2000
    rate_limit_per_minute: int = 100
    rate_limit_cleanup_minutes: int = 5
    cleanup_interval_hours: int = 24
    trusted_proxies: tuple[str, ...] = ()


@attrs.frozen
class AlertsConfig:
    """``alerts``: when the bridge tells the user, in Signal, that something needs them."""

    grace_sec: int = 60
    stuck_after_minutes: int = 15


@attrs.frozen
class TracingConfig:
    """``tracing``: accepted for Go compatibility, not used yet."""

    service_name: str = "whatsignal"
    service_version: str = "dev"
    environment: str = "development"
    enabled: bool = False
    otlp_endpoint: str = "http://localhost:4318/v1/traces"
    sample_rate: float = 0.1
    use_stdout: bool | None = None
    otlp_insecure: bool = False
    shutdown_timeout_sec: int = 5


@attrs.frozen
class Secrets:
    """Secrets from the environment (and ``whatsapp.webhook_secret`` from the file).

    ``webhook_secret`` is the effective WAHA webhook secret (env wins over the file) and always
    equals ``config.whatsapp.webhook_secret``.
    """

    api_key: str | None = _secret()
    webhook_secret: str | None = _secret()
    admin_token: str | None = _secret()
    encryption_secret: str | None = _secret()
    encryption_salt: str | None = _secret()
    encryption_lookup_salt: str | None = _secret()


@attrs.frozen
class Config:
    """The whole, validated configuration of one bridge.

    ``warnings`` (things the user should know, e.g. keys accepted but not used) and ``source``
    (the file it came from) are not part of equality.
    """

    whatsapp: WhatsAppConfig
    signal: SignalConfig
    channels: tuple[Channel, ...]
    database: DatabaseConfig
    media: MediaConfig
    retry: RetryConfig = RetryConfig()
    server: ServerConfig = ServerConfig()
    tracing: TracingConfig = TracingConfig()
    alerts: AlertsConfig = AlertsConfig()
    retention_days: int = 30
    log_level: str = "info"
    development: bool = False
    secrets: Secrets = Secrets()
    warnings: tuple[str, ...] = attrs.field(default=(), eq=False)
    source: str = attrs.field(default="<mapping>", eq=False)

    def bridge_number_for(self, channel: Channel) -> str:
        """The Signal number ``channel`` sends from (see `Channel.bridge_number`)."""
        return channel.bridge_number(self)

    @property
    def default_channel(self) -> Channel | None:
        """The ``"*"`` channel, if configured."""
        return next((c for c in self.channels if c.is_default), None)

    def channel_for(self, session: str) -> Channel | None:
        """The channel serving ``session``: its own, else the ``"*"`` channel, else None."""
        for channel in self.channels:
            if channel.whatsapp_session_name == session:
                return channel
        return self.default_channel

    @property
    def bridge_numbers(self) -> tuple[str, ...]:
        """Every distinct Signal bridge number in use, in channel order."""
        numbers = dict.fromkeys(self.bridge_number_for(c) for c in self.channels)
        return tuple(numbers)
