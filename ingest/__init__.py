"""Ingest: MQTT telemetry in, validated readings out to a time-series store.

Parses device topics (grammar in `devices.topics`), decodes payloads, refuses bad
input with a counted reason and a dead-letter record, batches what is good, and
writes it to a `TelemetryStore` (DuckDB embedded; InfluxDB in production). It knows
nothing of credit risk: whoever runs it passes a sink that receives each batch.
"""

from ingest.codec import DecodedObject, decode_payload
from ingest.deadletter import DeadLetterStore
from ingest.metrics import IngestMetrics
from ingest.pipeline import IngestPipeline, MessageOutcome
from ingest.stores import TelemetryStore, open_store

__all__ = [
    "DeadLetterStore",
    "DecodedObject",
    "IngestMetrics",
    "IngestPipeline",
    "MessageOutcome",
    "TelemetryStore",
    "decode_payload",
    "open_store",
]
