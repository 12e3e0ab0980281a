"""Time-series stores behind one interface, chosen by URL.

`TelemetryStore` is the contract; `DuckDBStore` (embedded) and
`ingest.stores.influx_store.InfluxStore` (InfluxDB 1.x/2.x, VictoriaMetrics; imported
only when a URL asks for it) implement it; `open_store` picks one from a URL. Store
failures are `StoreError`s: `StoreUnavailableError` (try again later, see
`ingest.spool.SpoolingStore`) or `StoreRejectedError` (the data is refused).
"""

from ingest.stores.base import TelemetryStore
from ingest.stores.duckdb_store import DuckDBStore
from ingest.stores.errors import StoreError, StoreRejectedError, StoreUnavailableError
from ingest.stores.url import open_resilient_store, open_store

__all__ = [
    "DuckDBStore",
    "StoreError",
    "StoreRejectedError",
    "StoreUnavailableError",
    "TelemetryStore",
    "open_resilient_store",
    "open_store",
]
