"""Prometheus metrics of ingest, registered on a registry the caller owns."""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class IngestMetrics:
    """The counters and gauges ingest updates."""

    received: Counter
    accepted: Counter
    rejected: Counter
    duplicates: Counter
    gaps: Counter
    batch_size: Histogram
    write_seconds: Histogram
    lag_seconds: Gauge
    spool_bytes: Gauge
    spool_batches: Gauge
    store_refused: Counter
    deadletters_dropped: Counter
    loop_alive: Gauge
    last_message_age: Gauge
    loop_restarts: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> "IngestMetrics":
        """Register ingest's metrics on ``registry`` (a fresh one per test)."""
        return cls(
            received=Counter("ingest_received", "MQTT messages received", registry=registry),
            accepted=Counter("ingest_accepted", "readings accepted and stored", registry=registry),
            rejected=Counter(
                "ingest_rejected", "inputs refused, by reason", ["reason"], registry=registry
            ),
            duplicates=Counter(
                "ingest_duplicates",
                "messages dropped as duplicates (QoS 1 redelivery, gateway resend)",
                registry=registry,
            ),
            gaps=Counter(
                "ingest_seq_gaps",
                "messages missing according to devices' seq counters",
                registry=registry,
            ),
            batch_size=Histogram(
                "ingest_batch_size_readings",
                "readings per store write",
                buckets=(1, 10, 100, 1000, 5000, 20000, 100000),
                registry=registry,
            ),
            write_seconds=Histogram(
                "ingest_write_seconds", "time to write one batch to the store", registry=registry
            ),
            lag_seconds=Gauge(
                "ingest_lag_seconds",
                "wall time minus newest event time of the last batch",
                registry=registry,
            ),
            spool_bytes=Gauge(
                "ingest_spool_bytes", "bytes waiting in the store-outage spool", registry=registry
            ),
            spool_batches=Gauge(
                "ingest_spool_batches",
                "batches waiting in the store-outage spool",
                registry=registry,
            ),
            store_refused=Counter(
                "ingest_store_refused_readings",
                "readings neither stored nor spooled (spool full)",
                registry=registry,
            ),
            deadletters_dropped=Counter(
                "ingest_deadletters_dropped",
                "dead-letter records deleted when the oldest dead-letter file was rotated out",
                registry=registry,
            ),
            loop_alive=Gauge(
                "ingest_loop_alive",
                "1 while the MQTT network loop and the batch writer are both running",
                registry=registry,
            ),
            last_message_age=Gauge(
                "ingest_last_message_age_seconds",
                "seconds since the last MQTT message was handled (since start if none was)",
                registry=registry,
            ),
            loop_restarts=Counter(
                "ingest_loop_restarts",
                "times the MQTT network loop was found stopped and started again",
                registry=registry,
            ),
        )
