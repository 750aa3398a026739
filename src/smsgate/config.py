"""One settings object, read once at start-up (from flags, then ``SMSGATE_*`` variables).

Every variable the service reads is named here: :meth:`Settings.from_env` reads the service's,
and the command line's flags fall back to the variables of :class:`FlagEnv` (typer reads those,
as the flags' defaults, and shows them in ``--help``).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo


DEFAULT_DATA_DIR = "data"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FlagEnv:
    """The variables command-line flags fall back to (``typer.Option(envvar=...)``)."""

    DATA_DIR = "SMSGATE_DATA_DIR"
    DATABASE_URL = "SMSGATE_DATABASE_URL"
    REDIS_URL = "SMSGATE_REDIS_URL"
    CHANNELS = "SMSGATE_CHANNELS"
    #: ``admin operator create|password``: the password, for scripts
    OPERATOR_PASSWORD = "SMSGATE_OPERATOR_PASSWORD"
    #: ``send`` / ``check``: the API they talk to, and the credentials they use
    SERVER = "SMSGATE_SERVER"
    ACCESS_KEY = "SMSGATE_AK"
    SECRET_KEY = "SMSGATE_SK"
    TOKEN = "SMSGATE_TOKEN"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def parse_allow(text: str) -> tuple[IPNetwork, ...]:
    """``SMSGATE_CALLBACK_ALLOW``: comma-separated CIDRs (a bare address is a /32 or /128);
    a block with host bits set is an error, not silently widened or narrowed."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=True))
        except ValueError as exc:
            raise ValueError(f"SMSGATE_CALLBACK_ALLOW: {part!r} is not a CIDR block ({exc})") from None
    return tuple(networks)


#: the default of ``Settings.unrecorded_max``: sends wait for the store once this many parts
#: are out and unrecorded, so it must cover a store write's worth of traffic (a PostgreSQL flush
#: of receipts under load takes ~0.3 s: at 256, end to end was half of what 2,048 gave)
UNRECORDED_MAX = 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment.

    ``database_url`` wins over ``data_dir``; with neither, the embedded default is
    ``sqlite:///<data_dir>/smsgate.sqlite3``.
    """

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    #: the largest request body accepted; 999 messages of 490 characters sent as \\uXXXX escapes
    #: (Python's json.dumps default) take about 3 MB.
    max_body_bytes: int = 4 * 1024 * 1024
    #: default per-number daily cap on promotional SMS (per project; a project may override it)
    daily_cap: int = 10
    send_window: str = "08:00-20:00"
    timezone: str = "Asia/Shanghai"
    #: "full" survives an OS crash or power loss after the 200; "normal" only a process crash
    sqlite_synchronous: str = "FULL"
    #: emit the seed's short sensitive-word code "SMN.227" instead of "SMN.0227"
    short_sensitive_code: bool = False
    token_ttl_seconds: int = 24 * 3600
    #: carrier links (TOML/JSON, see smpp.config); None: the built-in SMSC simulator
    channels_file: Path | None = None
    #: the built-in simulator's SMPP port when no channel is configured (its control port is +1)
    sim_port: int = 2775
    #: run the dispatcher and callbacks in this process (``smsgate serve``)
    deliver: bool = True
    #: cluster-wide counters (frequency caps, rate limits); None: kept in the store / in process
    redis_url: str | None = None
    #: cluster-wide accepted messages per second per project (0: no limit)
    project_rate: float = 0.0
    #: how long a worker's claim on a message lasts unless renewed (a dead worker's messages
    #: are taken over after this); and the same for its SMPP bind slots
    lease_ms: int = 60_000
    bind_lease_ms: int = 15_000
    #: parts a worker may have sent whose answer is not yet stored: what a crash can make its
    #: successor send twice (see dispatch.dispatcher.DispatchSettings.unrecorded_max)
    unrecorded_max: int = UNRECORDED_MAX
    #: on SIGTERM the process stops in order within this long, or ends itself (smsgate.shutdown)
    stop_timeout_s: float = 30.0
    #: networks callbacks may be posted to besides public addresses (``SMSGATE_CALLBACK_ALLOW``,
    #: comma-separated CIDRs; see callbacks.targets)
    callback_allow: tuple[IPNetwork, ...] = ()
    #: callback posts in flight at once for one project, per process
    #: (``SMSGATE_CALLBACK_CONCURRENCY``)
    callback_concurrency: int = 16
    #: the Fernet key secrets are sealed with (SMSGATE_MASTER_KEY); None: ``master.key`` in
    #: ``secrets_dir``
    master_key: str | None = field(default=None, repr=False)
    #: HTTP connections served at once by one API process; a request on one more is answered
    #: 503 (``api.server``).  Keep the process's open-files limit above it.
    max_connections: int = 1000
    #: a request's line and headers must arrive within this long of its first byte (of the
    #: connection, for its first request), or the connection is cut off with 408
    header_timeout_s: float = 10.0
    #: a request's body must arrive within this long of its headers, or 408
    body_timeout_s: float = 30.0
    #: bytes of AK/SK-signed bodies one access key may have being read, not yet verified, at
    #: once in one API process; past it 429 (``api.unverified``)
    unverified_bytes_per_key: int = 8 * 4 * 1024 * 1024
    #: the lowest level logged (JSON lines on stderr, ``smsgate.logs``)
    log_level: str = "info"
    #: log phone numbers and texts in full (else masked / left out)
    log_pii: bool = False
    #: how long a console login lasts
    console_session_hours: float = 8.0
    #: ``smsgate serve``: how many times a process of the service that died is started again
    #: within ``RESTART_WINDOW_S`` (cli.supervise) before the whole service stops, exit 1
    restart_limit: int = 5
    #: where this API process finds the delivery process's ``/metrics`` to append to its own
    #: (set by ``smsgate serve`` for its API processes; never from the environment)
    deliver_metrics_url: str | None = None

    def __post_init__(self) -> None:
        url = self.database_url
        if url and not self.is_postgres and not url.startswith("sqlite:///"):
            raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")
        if self.unrecorded_max < 1:
            raise ValueError(f"SMSGATE_UNRECORDED_MAX must be at least 1, not {self.unrecorded_max}")
        if self.callback_concurrency < 1:
            raise ValueError(f"SMSGATE_CALLBACK_CONCURRENCY must be at least 1, not {self.callback_concurrency}")

    @property
    def is_postgres(self) -> bool:
        return (self.database_url or "").startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        url = self.database_url
        if url:
            return Path(url.removeprefix("sqlite:///"))
        return self.data_dir / "smsgate.sqlite3"

    @property
    def store_name(self) -> str:
        """The store, as a line of output may name it (no password)."""
        if self.is_postgres:
            return "PostgreSQL " + (self.database_url or "").split("@")[-1].split("?")[0]
        return f"store {self.sqlite_path}"

    @property
    def secrets_dir(self) -> Path:
        """Where ``master.key`` lives (unless SMSGATE_MASTER_KEY is set): beside the SQLite
        file, or the data directory with PostgreSQL (give every process the same key)."""
        return self.data_dir if self.is_postgres else self.sqlite_path.parent

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build from ``SMSGATE_*`` variables; explicit (non-None) overrides win, and an explicit
        ``data_dir`` without a ``database_url`` means the SQLite store there, whatever
        ``SMSGATE_DATABASE_URL`` says."""
        env = os.environ
        base = cls()
        values: dict[str, object] = {
            "data_dir": Path(env.get(FlagEnv.DATA_DIR, DEFAULT_DATA_DIR)),
            "database_url": env.get(FlagEnv.DATABASE_URL) or None,
            "max_body_bytes": _env_int("SMSGATE_MAX_BODY_BYTES", base.max_body_bytes),
            "daily_cap": _env_int("SMSGATE_DAILY_CAP", base.daily_cap),
            "send_window": env.get("SMSGATE_SEND_WINDOW", base.send_window),
            "timezone": env.get("SMSGATE_TIMEZONE", base.timezone),
            "sqlite_synchronous": env.get("SMSGATE_SQLITE_SYNCHRONOUS", "FULL").upper(),
            "short_sensitive_code": env.get("SMSGATE_SHORT_SENSITIVE_CODE", "") in ("1", "true"),
            "channels_file": Path(env[FlagEnv.CHANNELS]) if env.get(FlagEnv.CHANNELS) else None,
            "sim_port": _env_int("SMSGATE_SIM_PORT", base.sim_port),
            "redis_url": env.get(FlagEnv.REDIS_URL) or None,
            "project_rate": float(env.get("SMSGATE_PROJECT_RATE") or 0),
            "lease_ms": _env_int("SMSGATE_LEASE_MS", base.lease_ms),
            "bind_lease_ms": _env_int("SMSGATE_BIND_LEASE_MS", base.bind_lease_ms),
            "unrecorded_max": _env_int("SMSGATE_UNRECORDED_MAX", base.unrecorded_max),
            "stop_timeout_s": float(env.get("SMSGATE_STOP_TIMEOUT") or base.stop_timeout_s),
            "callback_allow": parse_allow(env.get("SMSGATE_CALLBACK_ALLOW", "")),
            "callback_concurrency": _env_int("SMSGATE_CALLBACK_CONCURRENCY", base.callback_concurrency),
            "master_key": env.get("SMSGATE_MASTER_KEY") or None,
            "max_connections": _env_int("SMSGATE_MAX_CONNECTIONS", base.max_connections),
            "header_timeout_s": float(env.get("SMSGATE_HEADER_TIMEOUT") or base.header_timeout_s),
            "body_timeout_s": float(env.get("SMSGATE_BODY_TIMEOUT") or base.body_timeout_s),
            "unverified_bytes_per_key": _env_int("SMSGATE_UNVERIFIED_BYTES_PER_KEY",
                                                 base.unverified_bytes_per_key),
            "log_level": env.get("SMSGATE_LOG_LEVEL", base.log_level),
            "log_pii": env.get("SMSGATE_LOG_PII") == "1",
            "console_session_hours": float(env.get("SMSGATE_CONSOLE_SESSION_HOURS")
                                           or base.console_session_hours),
            "restart_limit": _env_int("SMSGATE_RESTART_LIMIT", base.restart_limit),
        }
        if overrides.get("data_dir") is not None and overrides.get("database_url") is None:
            values["database_url"] = None
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("data_dir", "channels_file"):
            if isinstance(values[key], str):
                values[key] = Path(values[key])
        return cls(**values)  # type: ignore[arg-type]


def environment_for(settings: Settings) -> dict[str, str]:
    """This process's environment with the store, Redis, channels and simulator port of
    ``settings``: what a process ``smsgate serve`` starts reads its settings from (the store's
    URL, which may hold a password, stays off the command line)."""
    env = dict(os.environ)
    env[FlagEnv.DATA_DIR] = str(settings.data_dir)
    env[FlagEnv.DATABASE_URL] = settings.database_url or ""
    env[FlagEnv.REDIS_URL] = settings.redis_url or ""
    env[FlagEnv.CHANNELS] = str(settings.channels_file) if settings.channels_file else ""
    env["SMSGATE_SIM_PORT"] = str(settings.sim_port)
    return env
