"""Settings of the riskstream service; from flags, environment (``RISKSTREAM_*``) or defaults."""

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


class ServiceSettings(BaseSettings):
    """Everything `riskstream serve` and `riskstream demo` need to run."""

    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_", extra="forbid")

    broker: str = Field("mqtt://127.0.0.1:1883", description="MQTT broker, mqtt://HOST:PORT")
    nats: str | None = Field(
        None,
        description="NATS cluster (nats://HOST:PORT, several separated by commas): serve the "
        "API over the cluster's alerts; its workers run ingest and the engine",
    )
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

    @field_validator("prefix")
    @classmethod
    def _prefix_valid(cls, value: str) -> str:
        return check_prefix(value)
