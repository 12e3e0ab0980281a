"""Open a store from its URL: ``duckdb:///path/file.duckdb`` or ``duckdb://:memory:``."""

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
    if parts.scheme == "influxdb":
        raise StoreURLError(
            f"store URL {url!r}: the influxdb backend is not in this build yet; use duckdb:///PATH"
        )
    raise StoreURLError(f"store URL {url!r}: scheme must be duckdb or influxdb")
