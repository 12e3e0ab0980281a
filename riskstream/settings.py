"""Settings of the riskstream service; from flags, environment (``RISKSTREAM_*``) or defaults."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.topics import DEFAULT_PREFIX, check_prefix


class ServiceSettings(BaseSettings):
    """Everything `riskstream serve` and `riskstream demo` need to run."""

    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_", extra="forbid")

    broker: str = Field("mqtt://127.0.0.1:1883", description="MQTT broker, mqtt://HOST:PORT")
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
    prefix: str = DEFAULT_PREFIX
    client_id: str = "riskstream-ingest"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

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

    @field_validator("prefix")
    @classmethod
    def _prefix_valid(cls, value: str) -> str:
        return check_prefix(value)
