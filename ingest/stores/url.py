"""Open a store from its URL.

``duckdb:///path/file.duckdb`` or ``duckdb://:memory:``; ``influxdb://HOST:8086?…`` and
``victoriametrics://HOST:8428`` (options in `ingest.stores.influx_url`).
"""

from pathlib import Path
from urllib.parse import urlsplit

from ingest.errors import StoreURLError
from ingest.stores.base import TelemetryStore
from ingest.stores.duckdb_store import DuckDBStore


def open_store(url: str) -> TelemetryStore:
    """Open the backend the URL names; `StoreURLError` says what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme == "duckdb":
        path = (parts.netloc + parts.path) if parts.netloc == ":memory:" else parts.path
        if not path:
            raise StoreURLError(f"store URL {url!r}: duckdb:///PATH needs a file path")
        return DuckDBStore(path)
    if parts.scheme in ("influxdb", "victoriametrics"):
        # imported here: influxdb-client adds a quarter second to every start
        from ingest.stores.influx_store import InfluxStore

        return InfluxStore.from_url(url)
    raise StoreURLError(f"store URL {url!r}: scheme must be duckdb, influxdb or victoriametrics")


def open_resilient_store(url: str, spool_dir: Path, max_spool_bytes: int) -> TelemetryStore:
    """Open the store; a server backend is wrapped in a disk spool that rides out outages.

    The embedded DuckDB file needs no spool: when it fails, the disk itself is in trouble.
    """
    store = open_store(url)
    if urlsplit(url).scheme == "duckdb":
        return store
    from ingest.spool import SpoolingStore

    return SpoolingStore(store, spool_dir, max_bytes=max_spool_bytes)
