"""Service configuration: a TOML file, environment overrides, validated with bounds.

Precedence, highest first: command-line flags, environment variables
(``STRIDESYNC_<SECTION>__<KEY>``, e.g. ``STRIDESYNC_SERVER__PORT=8080``), the
config file, the defaults below. An unknown key anywhere is an error, so a
typo never silently leaves a default in place. The commented template is
``deploy/stridesync.toml``; docs/api.md describes every key.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from firmware_bridge.errors import StridesyncError
from firmware_bridge.link import DEFAULT_PORTS

from .cues.policy import CuePolicy, Mode

_CUES = CuePolicy()  # the default policy

log = logging.getLogger("stridesync.config")

TOKEN_PREFIX = "sha256:"


class error(StridesyncError):
    """A configuration that cannot be used; the message says which key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    host: str = Field("127.0.0.1", description="address to bind; 0.0.0.0 for every interface")
    port: int = Field(8000, ge=1, le=65535)
    # Browsers from these origins may open the websocket and, when listed in
    # cors_origins, call the API. The page's own origin is always allowed.
    allowed_origins: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list, description="CORS: closed when empty")
    dashboard_dir: str = Field("", description="static files of the dashboard; empty: built-in")
    # HTTPS, e.g. on a club's centre (docs/club.md); both empty: plain HTTP.
    tls_cert_file: str = Field("", description="PEM certificate (chain) for HTTPS")
    tls_key_file: str = Field("", description="its PEM private key")
    # The front door (service/httpguard.py, docs/api.md "Limits"): open connections in
    # all and from one address (websockets included), kept below the file descriptors
    # the unit allows (LimitNOFILE) so that a sensor can always be opened; a request's
    # headers must be complete within header_timeout_s; an idle keep-alive
    # connection is closed after keep_alive_s.
    max_connections: int = Field(256, ge=8, le=4096)
    max_connections_per_client: int = Field(32, ge=2, le=4096)
    header_timeout_s: float = Field(10.0, ge=1.0, le=120.0)
    keep_alive_s: float = Field(5.0, ge=1.0, le=120.0)


class DatabaseConfig(_Section):
    url: str = Field(
        "sqlite+aiosqlite:///stridesync.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///PATH or postgresql+asyncpg://...",
    )

    @field_validator("url")
    @classmethod
    def _driver(cls, v: str) -> str:
        if not v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return v


class DevicesConfig(_Section):
    ports: list[str] = Field(default_factory=lambda: list(DEFAULT_PORTS))
    scan_interval_s: float = Field(0.5, ge=0.05, le=10.0)
    tick_s: float = Field(0.01, ge=0.002, le=0.05)


class RecordingConfig(_Section):
    # Raw samples are committed in chunks this long: a power cut loses at most
    # one chunk plus one commit (docs/api.md, "Storage").
    chunk_s: float = Field(0.5, ge=0.1, le=1.0)
    commit_interval_s: float = Field(0.25, ge=0.05, le=1.0)
    # While the database cannot be written (a full disk), keep this much in
    # memory and retry; beyond it the oldest chunks are dropped and counted.
    max_pending_s: float = Field(300.0, ge=10.0, le=3600.0)
    # On stop and shutdown the writer gets this long to commit what waits; the
    # systemd unit's TimeoutStopSec (30 s) leaves room for it.
    stop_flush_s: float = Field(10.0, ge=1.0, le=25.0)
    # /healthz says "degraded" when the oldest sample waiting to be stored is older.
    degraded_backlog_s: float = Field(5.0, ge=1.0, le=600.0)


class LiveConfig(_Section):
    queue_size: int = Field(2000, ge=10, le=100_000, description="messages per websocket client")
    trace_hz: float = Field(50.0, ge=5.0, le=200.0, description="live trace points per second")
    trace_interval_s: float = Field(0.1, ge=0.02, le=1.0, description="one trace message per")
    status_interval_s: float = Field(1.0, ge=0.2, le=10.0)
    # The host is behind when the newest sample the engine has finished is this old:
    # /healthz says "degraded" and the optional work is shed (docs/api.md, "Overload").
    overload_lag_s: float = Field(0.5, ge=0.05, le=60.0)


class AuthConfig(_Section):
    # Hashes of the tokens, "sha256:<hex>": `stridesync token` makes one.
    admin_token_hashes: list[str] = Field(default_factory=list)
    viewer_token_hashes: list[str] = Field(default_factory=list)
    ticket_ttl_s: float = Field(30.0, ge=1.0, le=600.0)

    @field_validator("admin_token_hashes", "viewer_token_hashes")
    @classmethod
    def _hashes(cls, v: list[str]) -> list[str]:
        for h in v:
            hexpart = h.removeprefix(TOKEN_PREFIX)
            if not h.startswith(TOKEN_PREFIX) or len(hexpart) != 64:
                raise ValueError(f"{h[:12]}...: a token hash is 'sha256:' and 64 hex digits")
            int(hexpart, 16)
        return v


class MqttConfig(_Section):
    # "host:port" of the broker; empty: no MQTT (everything but the cues works).
    broker: str = Field("", description="host:port, e.g. 127.0.0.1:1883")
    node: str = Field("", description="this Pi's name in the topics; default: the host name")
    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: str = Field("", description="read the password from this file instead")
    tls: bool = False
    ca_file: str = Field("", description="CA certificate for TLS; empty: the system's")
    queue_size: int = Field(1000, ge=10, le=100_000, description="messages waiting for the broker")

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str) -> str:
        if v:
            host, sep, port = v.rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError("broker is HOST:PORT, e.g. 127.0.0.1:1883")
        return v

    @field_validator("node")
    @classmethod
    def _node(cls, v: str) -> str:
        if v and not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("node: letters, digits, '-', '_' and '.' only (it is a topic level)")
        return v

    def address(self) -> tuple[str, int]:
        host, _, port = self.broker.rpartition(":")
        return host, int(port)

    def secret(self) -> str | None:
        if self.password_file:
            return Path(self.password_file).read_text().strip()
        return self.password.get_secret_value() or None


class ClubConfig(_Section):
    """Several lanes, one centre (docs/club.md). A lane uploads finished sessions to
    `central_url`; the centre (`stridesync central`) takes them from the lanes whose
    tokens it knows and consumes every lane's topics from the broker in `[mqtt]`."""

    role: Literal["lane", "central"] = Field("lane", description="lane: a Pi; central: the centre")
    central_url: str = Field("", description="lane: the centre's API; empty: no upload")
    token: SecretStr = SecretStr("")
    token_file: str = Field("", description="lane: read its token at the centre from this file")
    ca_file: str = Field("", description="lane: CA certificate of the centre; empty: the system's")
    upload_interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="lane: retry every")
    upload_batch_bytes: int = Field(2_000_000, ge=10_000, le=8_000_000, description="per request")
    # centre: each lane's token, hashed as `stridesync token` prints it; the key is the lane.
    node_token_hashes: dict[str, str] = Field(default_factory=dict)

    @field_validator("central_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("central_url is http(s)://HOST[:PORT]")
        return v.rstrip("/")

    @field_validator("node_token_hashes")
    @classmethod
    def _node_hashes(cls, v: dict[str, str]) -> dict[str, str]:
        for node, h in v.items():
            if not node or not all(c.isalnum() or c in "-_." for c in node):
                raise ValueError(f"{node!r}: a lane's name is letters, digits, '-', '_', '.'")
            if not h.startswith(TOKEN_PREFIX) or len(h) != len(TOKEN_PREFIX) + 64:
                raise ValueError(f"{node}: a token hash is 'sha256:' and 64 hex digits")
        return v

    def secret(self) -> str | None:
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token.get_secret_value() or None


class CuesConfig(_Section):
    """The default cue policy (docs/cues.md); athletes and sessions may override it.
    The defaults are CuePolicy's (service/cues/policy.py); here, their bounds."""

    mode: Mode = _CUES.mode
    out_of_band: float = Field(_CUES.out_of_band, ge=0.0, le=1.5)
    min_gap_steps: int = Field(_CUES.min_gap_steps, ge=1, le=100)
    aligned_streak: int = Field(_CUES.aligned_streak, ge=0, le=100)
    rep_summary: bool = _CUES.rep_summary
    fade_after_reps: int = Field(_CUES.fade_after_reps, ge=0, le=100)
    fade_every: int = Field(_CUES.fade_every, ge=1, le=20)
    step_expiry_s: float = Field(_CUES.step_expiry_s, ge=0.05, le=5.0)
    summary_expiry_s: float = Field(_CUES.summary_expiry_s, ge=1.0, le=120.0)


LogLevel = Literal["debug", "info", "warning", "error"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STRIDESYNC_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    cues: CuesConfig = Field(default_factory=CuesConfig)
    club: ClubConfig = Field(default_factory=ClubConfig)
    log_level: LogLevel = "info"
    # A plain admin token from the environment (STRIDESYNC_TOKEN) or --token,
    # for the demo and for tests; an installed Pi keeps only hashes.
    token: Annotated[SecretStr | None, Field(repr=False)] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    def effective(self) -> dict[str, Any]:
        """The configuration as used, secrets masked: logged at start."""
        d = self.model_dump(mode="json")
        d["token"] = "(set)" if self.token else None
        d["mqtt"]["password"] = "(set)" if self.mqtt.password.get_secret_value() else ""
        d["club"]["token"] = "(set)" if self.club.token.get_secret_value() else ""
        return d


def load(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from `path` (TOML), the environment and `overrides` (nested dicts).

    Raises `error` with every problem on one line each, key path first."""
    file = None
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise error(f"{file}: no such config file")
        try:
            tomllib.loads(file.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise error(f"{file}: not valid TOML: {exc}") from None
    cls = Settings
    if file is not None:
        cls = type(
            "Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": file}}
        )
    try:
        return cls(**overrides)
    except ValidationError as exc:
        where = f"{file}: " if file else ""
        lines = [
            f"{where}{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise error("invalid configuration\n  " + "\n  ".join(lines)) from None


def hash_token(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 suffices: nothing to brute-force."""
    return TOKEN_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)
