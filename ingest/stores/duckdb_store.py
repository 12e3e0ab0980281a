"""Embedded DuckDB backend: one file, zero setup.

A new file is made mode 0600 (and the directories made for it 0700); DuckDB's
write-ahead log beside it takes the process umask, so keep the file in a directory
riskstream made or in one only the service's user can enter.

Batches go in as one Arrow table per write (``INSERT … SELECT`` from Arrow runs at
millions of rows/s here, while ``executemany`` manages about a thousand). A lock
serialises access because the connection is shared by the writer thread and readers.
"""

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from devices.private_files import FILE_MODE, make_private_dirs
from devices.reading import Reading
from ingest.stores.base import SeqMarks
from ingest.stores.errors import StoreUnavailableError

# the file or the connection is in trouble, not the rows (those raise conversion errors)
_STORE_FAULTS = (
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.ConnectionException,
    duckdb.InternalException,
)

_SCHEMA = pa.schema(
    [
        ("tenant", pa.string()),
        ("device_id", pa.string()),
        ("metric", pa.string()),
        ("ts", pa.float64()),
        ("value", pa.float64()),
        ("seq", pa.int64()),
    ]
)


class DuckDBStore:
    """`TelemetryStore` on an embedded DuckDB file (or ``:memory:``)."""

    def __init__(self, path: Path | str) -> None:
        target = str(path)
        new_file = target != ":memory:" and not Path(target).exists()
        if new_file:
            make_private_dirs(Path(target).parent)
        self._target = target
        self._con = duckdb.connect(target)
        if new_file:
            os.chmod(target, FILE_MODE)  # DuckDB refuses an empty file made beforehand
        self._lock = threading.Lock()
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS readings ("
            "tenant VARCHAR, device_id VARCHAR, metric VARCHAR, "
            "ts DOUBLE, value DOUBLE, seq BIGINT)"
        )

    def write(self, batch: Sequence[Reading]) -> int:
        if not batch:
            return 0
        table = pa.Table.from_arrays(
            [
                pa.array([r.tenant for r in batch], pa.string()),
                pa.array([r.device_id for r in batch], pa.string()),
                pa.array([r.metric for r in batch], pa.string()),
                pa.array([r.ts for r in batch], pa.float64()),
                pa.array([r.value for r in batch], pa.float64()),
                pa.array([r.seq for r in batch], pa.int64()),
            ],
            schema=_SCHEMA,
        )
        with self._lock:
            try:
                self._con.register("incoming_batch", table)
                try:
                    self._con.execute("INSERT INTO readings SELECT * FROM incoming_batch")
                finally:
                    self._con.unregister("incoming_batch")
            except _STORE_FAULTS as exc:
                raise StoreUnavailableError(f"duckdb:{self._target}", str(exc), batch) from exc
        return len(batch)

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every: float | None = None,
        *,
        tenant: str | None = None,
    ) -> list[tuple[float, float]]:
        where = "device_id = ? AND metric = ? AND ts >= ? AND ts < ?"
        scope = [] if tenant is None else [tenant]
        if tenant is not None:
            where += " AND tenant = ?"
        with self._lock:
            if every is None:
                sql = f"SELECT ts, value FROM readings WHERE {where} ORDER BY ts"  # noqa: S608
                rows = self._con.execute(sql, [device_id, metric, start, end, *scope]).fetchall()
            else:
                if every <= 0:
                    raise ValueError("every must be > 0 seconds")
                sql = (
                    "SELECT floor(ts / ?) * ? AS bucket, avg(value) FROM readings "  # noqa: S608
                    f"WHERE {where} GROUP BY bucket ORDER BY bucket"
                )
                params = [every, every, device_id, metric, start, end, *scope]
                rows = self._con.execute(sql, params).fetchall()
        return [(float(ts), float(v)) for ts, v in rows]

    def latest(
        self, device_id: str, *, tenant: str | None = None
    ) -> dict[str, tuple[float, float]]:
        scoped = "" if tenant is None else " AND tenant = ?"
        sql = (
            "SELECT metric, arg_max(ts, ts), arg_max(value, ts) FROM readings "  # noqa: S608
            f"WHERE device_id = ?{scoped} GROUP BY metric"
        )
        params = [device_id] if tenant is None else [device_id, tenant]
        with self._lock:
            rows = self._con.execute(sql, params).fetchall()
        return {m: (float(ts), float(v)) for m, ts, v in rows}

    def seq_high_water(self) -> SeqMarks:
        """Per (tenant, device): highest stored seq and newest event time (devices that
        send seq)."""
        sql = (
            "SELECT tenant, device_id, max(seq), max(ts) FROM readings "
            "WHERE seq IS NOT NULL GROUP BY tenant, device_id"
        )
        with self._lock:
            rows = self._con.execute(sql).fetchall()
        return {(t, d): (int(seq), float(ts)) for t, d, seq, ts in rows}

    def delete_older_than(self, ts: float) -> int:
        """Drop readings with event time before ``ts`` (retention); return how many."""
        with self._lock:
            row = self._con.execute("SELECT count(*) FROM readings WHERE ts < ?", [ts]).fetchone()
            doomed = int(row[0]) if row else 0
            if doomed:
                self._con.execute("DELETE FROM readings WHERE ts < ?", [ts])
        return doomed

    def count(self) -> int:
        with self._lock:
            row = self._con.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._con.close()
