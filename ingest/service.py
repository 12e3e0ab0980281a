"""Ingest on its own: MQTT in, store out, for deployments that split processes.

`run_ingest` owns the store and the MQTT client for the duration of the call; setting
``stop`` (the command does on SIGINT/SIGTERM) flushes what is buffered, acknowledges
it, closes the store and returns.
"""

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from devices.sparkplug.mapping import SparkplugMap
from ingest.deadletter import DeadLetterLimits, DeadLetterStore
from ingest.device_table import seed_sequences
from ingest.metrics import IngestMetrics
from ingest.pipeline import OLDEST_ACCEPTED_TS, DeviceAuth, IngestPipeline
from ingest.sparkplug.session_store import SessionStore, sessions_file_beside
from ingest.stores import open_resilient_store
from ingest.subscriber import BrokerAddress, IngestRunner, MqttOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestSettings:
    """What a standalone ingest process needs."""

    broker: str
    store: str
    deadletter: Path | None = None
    deadletter_limits: DeadLetterLimits = field(default_factory=DeadLetterLimits)
    oldest_ts: float = OLDEST_ACCEPTED_TS
    spool_dir: Path = Path("riskstream-data/spool")
    spool_max_bytes: int = 1 << 30
    retention_s: float | None = None
    mqtt: MqttOptions = field(default_factory=MqttOptions)
    sparkplug_sessions: Path | None = None
    """Where Sparkplug sessions are kept; default: beside the spool directory."""

    @property
    def sparkplug_sessions_path(self) -> Path:
        """The Sparkplug sessions file (`ingest.sparkplug.session_store`)."""
        return self.sparkplug_sessions or sessions_file_beside(self.spool_dir)


async def run_ingest(
    settings: IngestSettings,
    devices: Mapping[tuple[str, str], DeviceAuth],
    stop: asyncio.Event,
    registry: CollectorRegistry | None = None,
    on_ready: Callable[[IngestRunner], None] | None = None,
    sparkplug: SparkplugMap | None = None,
) -> IngestRunner:
    """Run until ``stop`` is set; return the runner (its counters) after a clean shutdown."""
    metrics = IngestMetrics.create(registry or CollectorRegistry())
    deadletter = DeadLetterStore(settings.deadletter, limits=settings.deadletter_limits)
    pipeline = IngestPipeline(
        devices,
        deadletter,
        metrics,
        prefix=settings.mqtt.prefix,
        oldest_ts=settings.oldest_ts,
        retention_s=settings.retention_s,
        sparkplug=sparkplug,
    )
    store = open_resilient_store(settings.store, settings.spool_dir, settings.spool_max_bytes)
    sessions = SessionStore(settings.sparkplug_sessions_path)
    try:
        seeded = seed_sequences(pipeline, store)
        log.info("ingest: %d devices registered, %d resumed from the store", len(devices), seeded)
        runner = IngestRunner(
            pipeline,
            store,
            BrokerAddress.parse(settings.broker),
            options=settings.mqtt,
            retention_s=settings.retention_s,
            sessions=sessions,
        )
        if on_ready is not None:
            on_ready(runner)
        await runner.run(stop)
    finally:
        await asyncio.to_thread(store.close)
        sessions.close()
        deadletter.close()
    return runner
