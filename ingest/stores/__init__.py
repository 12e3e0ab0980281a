"""Time-series stores behind one interface, chosen by URL."""

from ingest.stores.base import TelemetryStore
from ingest.stores.url import open_store

__all__ = ["TelemetryStore", "open_store"]
