"""Sparkplug B ingest: edge nodes' births, data and deaths into telemetry objects.

- `ingest.sparkplug.codec`: payload bounds and parsing, metric values by datatype;
- `ingest.sparkplug.session`: one edge node's session (bdSeq, seq, aliases, devices);
- `ingest.sparkplug.handler`: a message to telemetry objects, refusals and commands;
- `ingest.sparkplug.session_store`: the sessions kept on disk across an ingest restart;
- `ingest.sparkplug.primary_host`: ingest's Primary Host STATE on the broker.
"""

from ingest.sparkplug.codec import MAX_METRICS, decode_sparkplug, metric_value, rebirth_request
from ingest.sparkplug.handler import SparkplugHandler, SparkplugResult
from ingest.sparkplug.primary_host import PrimaryHost
from ingest.sparkplug.session import EdgeSession, Verdict
from ingest.sparkplug.session_store import SessionStore

__all__ = [
    "MAX_METRICS",
    "EdgeSession",
    "PrimaryHost",
    "SessionStore",
    "SparkplugHandler",
    "SparkplugResult",
    "Verdict",
    "decode_sparkplug",
    "metric_value",
    "rebirth_request",
]
