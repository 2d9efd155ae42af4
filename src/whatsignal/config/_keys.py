"""The declarative table of every configuration key: the single source of truth.

Each `Key` row names the canonical spelling (the one the Go whatsignal's ``config.json`` uses,
plus the keys this project adds), its kind, default, range, accepted aliases, the environment
variable that overrides it and whether the bridge uses it yet. The loader validates against this
table, the dumper walks it to print the effective configuration, and the reference table in
``docs/configuration.md`` is generated from it, so the three cannot drift apart. The attrs
classes in `_model` are written out by hand for the type checker; a test checks that they agree
with this table.
"""

from __future__ import annotations

import enum
import re

import attrs


class Kind(enum.Enum):
    """How a raw value is checked and normalised."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "string"
    URL = "URL"
    PHONE = "phone number"
    SESSION = "session name"
    CHOICE = "choice"
    EXT_LIST = "list of file extensions"
    CIDR_LIST = "list of CIDRs"
    TIMEOUT_MS = "int (milliseconds)"


@attrs.frozen
class Key:
    """One configuration key.

    ``path`` is dotted; ``channels[]`` marks the list of channel objects. ``zero_default`` keeps
    the Go rule "0 means the default" for the keys where Go applied it, so that an existing
    ``config.json`` with explicit zeros loads unchanged.
    """

    path: str
    kind: Kind
    default: object = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    env: str | None = None
    used: bool = True
    required: bool = False
    secret: bool = False
    zero_default: bool = False
    note: str = ""
    ignored: str = ""
    """For a key that is not used (``used=False``) and never will be: why it means nothing
    here. Set keys with one reason are named in one warning; the others are "not used yet"."""

    @property
    def name(self) -> str:
        """The last segment: the spelling matched inside its section."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def parents(self) -> tuple[str, ...]:
        """The section segments leading to this key (``("media", "maxSizeMB")``)."""
        return tuple(self.path.split(".")[:-1])


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """The Python attribute name for a key segment (``maxSizeMB`` -> ``max_size_mb``)."""
    return _CAMEL.sub("_", name.replace("[]", "")).lower()


_B, _I, _F, _S = Kind.BOOL, Kind.INT, Kind.FLOAT, Kind.STR
_UNUSED = "accepted for Go compatibility; not used yet"
_IGNORED = "accepted for Go compatibility; ignored: "
# Why keys Go had mean nothing here (one start-up warning per reason, naming the keys set).
_GO_UNUSED = "the Go whatsignal never used it either"
_NO_DISK = (
    "no file is stored: a file in flight is kept in an unnamed temporary file in media.tempDir "
    "until it is sent"
)
_POOL = (
    "connection-pool settings mean nothing to SQLite: the bridge has one connection, on one thread"
)
_NO_WORKERS = "each bridge number has one receiver and each session one worker"
_NO_WRITE = (
    "hypercorn has no write timeout; server.readTimeoutSec bounds a request, its handling included"
)

KEYS: tuple[Key, ...] = (
    # whatsapp
    Key("whatsapp.api_base_url", Kind.URL, required=True, env="WHATSAPP_API_URL",
        note="WAHA base URL, e.g. http://waha:3000"),
    Key("whatsapp.timeout_ms", Kind.TIMEOUT_MS, 30000, 1000, 3_600_000, zero_default=True,
        note="HTTP timeout toward WAHA in milliseconds; >= 1e9 is read as Go nanoseconds "
        "(warning)"),
    Key("whatsapp.retry_count", _I, 3, 0, 100, used=False, zero_default=True,
        ignored=_GO_UNUSED, note=_IGNORED + _GO_UNUSED),
    Key("whatsapp.webhook_secret", _S, env="WHATSIGNAL_WHATSAPP_WEBHOOK_SECRET", secret=True,
        note="HMAC-SHA512 secret of WAHA webhooks; >= 32 chars when set; secure mode: "
        "required"),
    Key("whatsapp.pollIntervalSec", _I, 30, 1, 3600, used=False, zero_default=True,
        ignored=_GO_UNUSED, note=_IGNORED + _GO_UNUSED),
    Key("whatsapp.contactSyncOnStartup", _B, False,
        note="fetch every contact name at start (else on first use)"),
    Key("whatsapp.contactCacheHours", _I, 24, 1, 168, zero_default=True),
    Key("whatsapp.sessionHealthCheckSec", _I, 30, 1, 3600, zero_default=True,
        note="how often sessions are listed when discovery is off"),
    Key("whatsapp.sessionAutoRestart", _B, False,
        note="restart sessions stuck in STARTING or FAILED"),
    Key("whatsapp.sessionStartupTimeoutSec", _I, 30, 1, 3600,
        env="WHATSAPP_SESSION_STARTUP_TIMEOUT_SEC", zero_default=True),
    Key("whatsapp.groups.syncOnStartup", _B, False,
        note="fetch every group name at start (else on first use)"),
    Key("whatsapp.groups.cacheHours", _I, 24, 1, 168, zero_default=True),
    Key("whatsapp.sessionApiEnabled", _B, True,
        note="list WAHA's sessions (discovery with signal.enableDynamicPolling, health, "
        "auto restart); off: only session.status webhooks tell, exactly the configured run"),
    Key("whatsapp.sessionApiPath", _S, "/api/sessions/", note="must start with /"),
    Key("whatsapp.linkPreview", _B, True, note="ask WAHA for link previews on URLs"),
    # signal
    Key("signal.rpc_url", Kind.URL, required=True, env="SIGNAL_RPC_URL",
        note="signal-cli-rest-api base URL"),
    Key("signal.intermediaryPhoneNumber", Kind.PHONE, required=True,
        note="the bridge's own Signal number (E.164)"),
    Key("signal.device_name", _S, used=False, ignored=_GO_UNUSED, note=_IGNORED + _GO_UNUSED),
    Key("signal.pollingEnabled", _B, True, note="receive from Signal (Go default was false)"),
    Key("signal.pollIntervalSec", _I, 1, 1, 3600),
    Key("signal.pollTimeoutSec", _I, 10, 1, 3600, note="long-poll timeout"),
    Key("signal.attachmentsDir", _S, used=False, ignored=_NO_DISK, note=_IGNORED + _NO_DISK),
    Key("signal.httpTimeoutSec", _I, 60, 1, 3600, zero_default=True,
        note="must be >= pollTimeoutSec + 10"),
    Key("signal.strictInit", _B, False,
        note="a signal-cli that does not answer /v1/about at start stops the bridge"),
    Key("signal.pollWorkers", _I, 5, 1, 100, used=False, zero_default=True,
        ignored=_NO_WORKERS, note=_IGNORED + _NO_WORKERS),
    Key("signal.forceNativePolling", _B, False,
        note="with receiveMode auto: poll even in json-rpc mode (prefer receiveMode: poll)"),
    Key("signal.sessionDiscoveryIntervalSec", _I, 30, 1, 3600),
    Key("signal.maxConcurrentSessions", _I, 10, 1, 100000,
        note="discovered sessions served at once; more are left out (their work waits)"),
    Key("signal.enableDynamicPolling", _B, True,
        note="serve sessions the '*' channel finds at run time (with "
        "whatsapp.sessionApiEnabled); off: exactly the configured sessions run"),
    Key("signal.receiveMode", Kind.CHOICE, "auto", choices=("auto", "websocket", "poll"),
        note="checked against /v1/about at start"),
    Key("signal.webhookToken", _S, env="WHATSIGNAL_SIGNAL_WEBHOOK_TOKEN", secret=True,
        note="token of POST /webhook/signal?token=...; >= 16 chars when set"),
    # channels
    Key("channels[].whatsappSessionName", Kind.SESSION, required=True,
        note='[A-Za-z0-9_-]{1,64}, unique; "*" = default for discovered sessions'),
    Key("channels[].signalDestinationPhoneNumber", Kind.PHONE, required=True,
        note="your own Signal number; may serve several sessions"),
    Key("channels[].signalPhoneNumber", Kind.PHONE,
        note="this channel's own bridge number; default signal.intermediaryPhoneNumber"),
    Key("channels[].portals", _B, False,
        note="a Signal group per WhatsApp chat, made on its first message; "
        "false: every chat in one conversation with the bridge number"),
    # database
    Key("database.path", _S, required=True, env="DB_PATH", note="SQLite file"),
    Key("database.maxOpenConnections", _I, 25, 1, 1000, used=False, zero_default=True,
        ignored=_POOL, note=_IGNORED + _POOL),
    Key("database.maxIdleConnections", _I, 5, 0, 1000, used=False, zero_default=True,
        ignored=_POOL, note=_IGNORED + _POOL + "; <= maxOpenConnections"),
    Key("database.connMaxLifetimeSec", _I, 300, 1, 3600, used=False, zero_default=True,
        ignored=_POOL, note=_IGNORED + _POOL),
    Key("database.connMaxIdleTimeSec", _I, 60, 1, 3600, used=False, zero_default=True,
        ignored=_POOL, note=_IGNORED + _POOL),
    Key("database.synchronous", Kind.CHOICE, "FULL", choices=("FULL", "NORMAL", "OFF"),
        note="SQLite synchronous pragma; FULL loses nothing on power loss"),
    Key("database.keepMessageText", _B, True,
        note="false: a finished journal row's payload (text, media references) is dropped; "
        "ids and mappings stay for routing"),
    # media
    Key("media.cache_dir", _S, env="MEDIA_DIR", used=False, ignored=_NO_DISK,
        note=_IGNORED + _NO_DISK),
    Key("media.maxSizeMB.image", _I, 5, 1, 100, zero_default=True),
    Key("media.maxSizeMB.video", _I, 100, 1, 500, zero_default=True),
    Key("media.maxSizeMB.document", _I, 100, 1, 100, zero_default=True),
    Key("media.maxSizeMB.voice", _I, 16, 1, 50, zero_default=True),
    Key("media.allowedTypes.image", Kind.EXT_LIST, ("jpg", "jpeg", "png", "gif"),
        note="leading dot optional, case-insensitive"),
    Key("media.allowedTypes.video", Kind.EXT_LIST, ("mp4", "mov")),
    Key("media.allowedTypes.document", Kind.EXT_LIST, ("pdf", "doc", "docx")),
    Key("media.allowedTypes.voice", Kind.EXT_LIST, ("ogg",)),
    Key("media.downloadTimeoutSec", _I, 30, 1, 3600, zero_default=True),
    Key("media.tempDir", _S,
        note="where a file crossing the bridge is kept while in flight (an unnamed temporary "
        "file, gone once sent); an existing, writable directory; unset: the system's "
        "temporary directory (TMPDIR)"),
    # retry
    Key("retry.initialBackoffMs", _I, 1000, 10, 10000, aliases=("initial_backoff_ms",)),
    Key("retry.maxBackoffMs", _I, 60000, 100, 600000, aliases=("max_backoff_ms",),
        note=">= initialBackoffMs"),
    Key("retry.maxAttempts", _I, 5, 1, 100, aliases=("max_attempts",),
        note="then the message goes to the dead letters"),
    Key("retry.maxAgeHours", _I, 24, 1, 8760, note="transient failures retried this long"),
    # top level
    Key("retentionDays", _I, 30, 1, 3650, zero_default=True,
        note="finished rows and mappings are kept this long; events older than a tenth less "
        "(the dedupe horizon) are refused as replays; 0 means the default (as in Go), not "
        "forever"),
    Key("log_level", Kind.CHOICE, "info", choices=("debug", "info", "warn", "error"),
        note="debug is refused in secure mode"),
    # server
    Key("server.host", _S, env="WHATSIGNAL_HOST",
        note="unset: 0.0.0.0 (every interface); in development mode 127.0.0.1 (this machine "
        "only), so the admin API of a test setup is not open to the network"),
    Key("server.port", _I, 8082, 0, 65535, env="PORT", note="0 = any free port"),
    Key("server.shutdownGraceSec", _I, 30, 0, 3600,
        note="time in-flight work gets after SIGTERM"),
    Key("server.readTimeoutSec", _I, 15, 5, 3600, zero_default=True,
        note="a connection whose client sends nothing for this long is closed (slow uploads, "
        "slow-loris clients); the time a request is being handled counts too, so it must "
        "exceed the slowest answer (readiness: up to 3 s)"),
    Key("server.writeTimeoutSec", _I, 15, 1, 3600, used=False, zero_default=True,
        ignored=_NO_WRITE, note=_IGNORED + _NO_WRITE),
    Key("server.idleTimeoutSec", _I, 60, 1, 3600, zero_default=True,
        note="an idle keep-alive connection is closed after this long"),
    Key("server.webhookMaxSkewSec", _I, None, 1, 3600, zero_default=True,
        note="X-Webhook-Timestamp window; unset or 0 = no check"),
    Key("server.webhookMaxBytes", _I, 5 * 1024 * 1024, 1024, 50 * 1024 * 1024,
        zero_default=True),
    Key("server.maxPendingBacklog", _I, 2000, 0, 1_000_000,
        note="admission control: while more rows than this wait in the journal, WAHA's "
        "webhooks are answered 503 with Retry-After (WAHA retries them), so latency stays "
        "bounded under overload; the Signal push path is never refused; 0 = no bound"),
    Key("server.rateLimitPerMinute", _I, 100, 1, 10000, zero_default=True,
        note="failed authentications (webhooks, admin) per client address and minute; "
        "then 429 with Retry-After. Correctly authenticated requests are never limited"),
    Key("server.rateLimitCleanupMinutes", _I, 5, 1, 60, zero_default=True,
        note="how often addresses that stopped failing authentication are forgotten "
        "(at most ten thousand are tracked)"),
    Key("server.cleanupIntervalHours", _I, 24, 1, 168, zero_default=True),
    Key("server.trustedProxies", Kind.CIDR_LIST, (), env="WHATSIGNAL_TRUSTED_PROXIES",
        note="reverse proxies whose X-Forwarded-For names the client (the right-most address "
        "that is not a trusted proxy); env: comma-separated"),
    # alerts (new in this project)
    Key("alerts.graceSec", _I, 60, 0, 3600,
        note="a session FAILED or STOPPED (not by the bridge) this long is told in Signal; "
        "SCAN_QR_CODE is told at once"),
    Key("alerts.stuckAfterMinutes", _I, 15, 1, 10080,
        note="messages pending this long are told in Signal"),
    # tracing (all accepted, none used yet)
    Key("tracing.service_name", _S, "whatsignal", used=False, note=_UNUSED),
    Key("tracing.service_version", _S, "dev", used=False, note=_UNUSED),
    Key("tracing.environment", _S, "development", used=False, note=_UNUSED),
    Key("tracing.enabled", _B, False, used=False, note=_UNUSED),
    Key("tracing.otlp_endpoint", Kind.URL, "http://localhost:4318/v1/traces", used=False,
        note=_UNUSED),
    Key("tracing.sample_rate", _F, 0.1, 0, 1, used=False, zero_default=True, note=_UNUSED),
    Key("tracing.use_stdout", _B, None, used=False, note=_UNUSED + "; unset = derived"),
    Key("tracing.otlp_insecure", _B, False, used=False, note=_UNUSED),
    Key("tracing.shutdown_timeout_sec", _I, 5, 1, 300, used=False, zero_default=True,
        note=_UNUSED),
)  # fmt: skip

KEYS_BY_PATH: dict[str, Key] = {key.path: key for key in KEYS}


@attrs.frozen
class SecretEnv:
    """A secret read only from the environment (never from the file)."""

    attr: str
    env: str
    note: str


SECRET_ENVS: tuple[SecretEnv, ...] = (
    SecretEnv("api_key", "WHATSAPP_API_KEY", "sent to WAHA as X-Api-Key; secure mode: required"),
    SecretEnv("admin_token", "WHATSIGNAL_ADMIN_TOKEN",
              ">= 32 chars when set; secure mode: required"),
    SecretEnv("encryption_secret", "WHATSIGNAL_ENCRYPTION_SECRET",
              ">= 32 chars; required (development: warning when missing)"),
    SecretEnv("encryption_salt", "WHATSIGNAL_ENCRYPTION_SALT",
              ">= 16 chars; secure mode: required; development fallback whatsignal-salt-v1"),
    SecretEnv("encryption_lookup_salt", "WHATSIGNAL_ENCRYPTION_LOOKUP_SALT",
              ">= 16 chars; secure mode: required; development fallback "
              "whatsignal-lookup-salt-v1"),
)  # fmt: skip

ENV_MODE = "WHATSIGNAL_ENV"
ENV_CONFIG = "WHATSIGNAL_CONFIG"
ENV_DEVELOPMENT = "development"
