"""Settings of the riskstream service; from flags, environment (``RISKSTREAM_*``) or defaults."""

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.topics import DEFAULT_PREFIX, check_prefix
from ingest.deadletter import (
    DEFAULT_FILES,
    DEFAULT_MAX_FILE_BYTES,
    MAX_KEPT_BYTES,
    DeadLetterLimits,
)
from ingest.pipeline import OLDEST_ACCEPTED_TS
from riskstream.engine.checkpoint_key import MIN_KEY_CHARS
from riskstream.service.notify.secret_box import webhook_key_file

HOST_OR_NETWORK = re.compile(r"[A-Za-z0-9.:-]{1,253}(/[0-9]{1,3})?")


class ServiceSettings(BaseSettings):
    """Everything `riskstream serve` and `riskstream demo` need to run."""

    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_", extra="forbid")

    broker: str = Field("mqtt://127.0.0.1:1883", description="MQTT broker, mqtt://HOST:PORT")
    nats: str | None = Field(
        None,
        description="NATS cluster (nats://HOST:PORT, several separated by commas): serve the "
        "API over the cluster's alerts; its workers run ingest and the engine",
    )
    nats_login: Path | None = Field(
        None,
        description="NATS login file of the cluster's api user (riskstream cluster up "
        "writes DIR/logins/api.json); unset: nats_user and nats_password",
    )
    nats_user: str | None = Field(None, description="NATS user, when nats_login is unset")
    nats_password: SecretStr | None = Field(None, description="password of nats_user")
    store: str = Field(
        "duckdb:///riskstream-data/telemetry.duckdb", description="telemetry store URL"
    )
    database: str = Field(
        "riskstream-data/riskstream.db",
        description="SQL database of registry and alerts: a SQLite path or SQLAlchemy URL",
    )
    rules: Path | None = Field(None, description="rules file (TOML); built-in defaults if unset")
    deadletter: Path | None = Field(
        Path("riskstream-data/deadletter.jsonl"), description="dead-letter JSON-lines file"
    )
    deadletter_max_bytes: int = Field(
        DEFAULT_MAX_FILE_BYTES, ge=4096, description="a dead-letter file is rotated at this size"
    )
    deadletter_files: int = Field(
        DEFAULT_FILES, ge=1, description="dead-letter files kept, the one being written included"
    )
    deadletter_payload_bytes: int = Field(
        MAX_KEPT_BYTES, ge=0, description="each dead-lettered payload is cut to this many bytes"
    )
    oldest_ts: float = Field(
        OLDEST_ACCEPTED_TS,
        description="readings with an older event time (epoch seconds) are refused "
        "(old_timestamp); the retention period, when shorter, moves this forward",
    )
    ready_max_silence_s: float | None = Field(
        None,
        gt=0,
        description="GET /readyz answers 503 when no MQTT message was handled for this long",
    )
    spool_dir: Path = Field(
        Path("riskstream-data/spool"), description="where batches wait while the store is down"
    )
    spool_max_bytes: int = Field(1 << 30, gt=0, description="bound of the outage spool")
    checkpoint: Path | None = Field(
        None,
        description="engine checkpoint, written on shutdown and every checkpoint_every_s, "
        "restored at start; default: engine.ckpt next to the SQLite database (whose alerts "
        "it must match), or in riskstream-data/ for a database server",
    )
    checkpoint_enabled: bool = Field(True, description="false: neither write nor restore one")
    checkpoint_every_s: float = Field(300.0, gt=0, description="seconds between checkpoints")
    retention_s: float | None = Field(
        None, gt=0, description="drop embedded-store readings older than this (seconds)"
    )
    checkpoint_key: SecretStr | None = Field(
        None,
        min_length=MIN_KEY_CHARS,
        description="key that authenticates the engine checkpoint (at least 32 characters, "
        "e.g. from openssl rand -hex 32); default: engine.key next to the checkpoint, made "
        "with a random key at the first start",
    )
    platform_key: SecretStr | None = Field(
        None,
        min_length=MIN_KEY_CHARS,
        description="key of the hashes by which lots of different lenders are compared "
        "(pledged_elsewhere; at least 32 characters); default: platform.key next to the "
        "checkpoint, made with a random key at the first start (checkpoints off: a random "
        "key per process)",
    )
    webhook_key: SecretStr | None = Field(
        None,
        min_length=MIN_KEY_CHARS,
        description="key that seals webhook signing secrets in the database (AES-GCM; at "
        "least 32 characters); default: webhook.key next to the SQLite database (in "
        "riskstream-data/ for a database server), made with a random key at the first start",
    )
    max_body_bytes: int = Field(
        2 * 1024 * 1024,
        gt=0,
        description="HTTP requests with a larger body get 413 before it is read "
        "(a 1,000,000-character rules text needs about 1 MB plus JSON escapes)",
    )
    token_lifetime_s: float = Field(
        12 * 3600,
        gt=0,
        description="seconds a login token stays valid; logout, a new password, removing "
        "the user or changing its role, lender or portfolio end it at once",
    )
    metrics_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="when set, GET /metrics needs `Authorization: Bearer <token>` (401 "
        "otherwise): the figures are the whole service's, of every lender",
    )
    prefix: str = Field(
        DEFAULT_PREFIX, description="MQTT topic prefix: PREFIX/TENANT/DEVICE_ID/telemetry"
    )
    client_id: str = Field(
        "riskstream-ingest", description="MQTT client id of ingest; stable, for its session"
    )
    sparkplug_host_id: str | None = Field(
        "riskstream",
        min_length=1,
        max_length=128,
        pattern=r"^[^/+#]+$",
        description="Sparkplug Primary Host Application id: ingest publishes its STATE on "
        "spBv1.0/STATE/{id} (retained; the offline one is its MQTT will); null: none",
    )
    sparkplug_sessions: Path | None = Field(
        None,
        description="file keeping Sparkplug edge nodes' sessions (aliases, bdSeq, seq) across "
        "restarts; default: sparkplug-sessions.sqlite beside spool_dir",
    )
    webhook_allowed_destinations: list[str] = Field(
        default_factory=list,
        description="networks (10.1.2.0/24) or host names webhooks may be sent to; empty: "
        "any public address. Loopback, private and reserved addresses are refused unless "
        "their network is listed (a JSON list in the environment)",
    )
    webhook_max_attempts: int = Field(
        8, ge=1, le=50, description="attempts of a webhook delivery before it is dead-lettered"
    )
    webhook_backoff_s: float = Field(
        10.0, gt=0, description="seconds before the first retry; doubles with each retry"
    )
    webhook_backoff_cap_s: float = Field(
        3600.0, gt=0, description="longest wait between two attempts, in seconds"
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=120, description="seconds a webhook receiver has to connect and answer"
    )
    smtp_host: str | None = Field(
        None, description="SMTP server that e-mail notifications go through; unset: no e-mail"
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="port of the SMTP server")
    smtp_starttls: bool = Field(
        True, description="upgrade the SMTP connection with STARTTLS (certificate checked)"
    )
    smtp_ca_file: Path | None = Field(
        None,
        description="CA certificate (PEM) that the SMTP server's certificate is checked "
        "against; unset: the system's CAs",
    )
    smtp_username: str | None = Field(None, description="SMTP login; unset: no login")
    smtp_password: SecretStr | None = Field(None, description="SMTP password of smtp_username")
    smtp_from: str = Field(
        "riskstream@localhost", min_length=3, description="From address of notification mail"
    )
    smtp_timeout_s: float = Field(
        30.0, gt=0, le=300, description="seconds the SMTP server has to answer"
    )
    dashboard_url: str = Field(
        "http://127.0.0.1:8000",
        description="the dashboard's address as recipients reach it: mails link to "
        "DASHBOARD_URL/#/borrower/ID",
    )
    alerts_mqtt_username: str | None = Field(
        None,
        description="login of the client that publishes lenders' alerts to the broker "
        "(PREFIX/TENANT/alerts); unset: none",
    )
    alerts_mqtt_password: SecretStr | None = Field(
        None, description="password of alerts_mqtt_username"
    )
    host: str = Field("127.0.0.1", description="address the HTTP service listens on")
    port: int = Field(8000, ge=0, le=65535, description="port of the HTTP service (0: any)")

    @property
    def deadletter_limits(self) -> DeadLetterLimits:
        """How much the dead-letter files may hold."""
        return DeadLetterLimits(
            self.deadletter_max_bytes, self.deadletter_files, self.deadletter_payload_bytes
        )

    @property
    def checkpoint_path(self) -> Path | None:
        """Where the engine checkpoint lives, or None when checkpoints are off."""
        if not self.checkpoint_enabled:
            return None
        if self.checkpoint is not None:
            return self.checkpoint
        if "://" in self.database:
            return Path("riskstream-data/engine.ckpt")
        return Path(self.database).parent / "engine.ckpt"

    @property
    def webhook_key_file(self) -> Path:
        """The key file of webhook secrets, used when ``webhook_key`` is not set."""
        return webhook_key_file(self.database)

    @field_validator("broker")
    @classmethod
    def _broker_is_mqtt_url(cls, value: str) -> str:
        if not value.startswith("mqtt://"):
            raise ValueError(f"broker has value {value!r}; expected mqtt://HOST:PORT")
        return value

    @model_validator(mode="after")
    def _deadletter_limits_fit(self) -> "ServiceSettings":
        self.deadletter_limits  # noqa: B018 - raises ValueError naming the setting
        return self

    @field_validator("webhook_allowed_destinations")
    @classmethod
    def _destinations_valid(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not HOST_OR_NETWORK.fullmatch(entry):
                raise ValueError(
                    f"webhook_allowed_destinations has {entry!r}; expected a network "
                    "(10.0.0.0/8, 127.0.0.1/32, ::1/128) or a host name"
                )
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"dashboard_url has value {value!r}; expected http(s)://HOST[:PORT]")
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _prefix_valid(cls, value: str) -> str:
        return check_prefix(value)
