"""Reads from InfluxDB with InfluxQL over the v1 HTTP API (``GET /query``), with httpx.

Tested here against InfluxDB 1.6. InfluxDB 2.x answers the same ``/query`` through its
1.x compatibility API when the bucket has a DBRP mapping (virtual mappings exist for
every bucket since 2.x OSS 2.2); the token is then sent as ``Authorization: Token``.
Responses are requested chunked, so a server's ``max-row-limit`` never truncates them.

- raw: ``SELECT "m" FROM readings WHERE device_id = '…' AND time >= … AND time < …``
- downsampled: ``mean("m") … GROUP BY time(EVERY) fill(none)``; buckets are aligned to
  the epoch, like DuckDB's ``floor(ts / every) * every``.
- latest: ``SHOW FIELD KEYS``, then ``last("m")`` per field in one request.
- count: ``count(*)``, summed over the metric fields (``seq`` is not a reading).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ingest.stores.base import SeqMarks
from ingest.stores.errors import StoreError, StoreUnavailableError
from ingest.stores.influx_url import InfluxTarget
from ingest.stores.line_protocol import MEASUREMENT, SEQ_FIELD, micros

CHUNK_ROWS = 10_000
Rows = list[list[Any]]
SeriesKey = tuple[tuple[str, str], ...]


def _device(device_id: str, tenant: str | None) -> str:
    """The WHERE condition naming one device (of one tenant, if given)."""
    condition = f"{quote_ident('device_id')} = {quote_string(device_id)}"
    if tenant is not None:
        condition += f" AND {quote_ident('tenant')} = {quote_string(tenant)}"
    return condition


@dataclass
class Series:
    """One series of a statement's answer: its GROUP BY tags, columns and rows."""

    tags: dict[str, str]
    columns: list[str]
    rows: Rows = field(default_factory=list)


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(text: str) -> str:
    """An InfluxQL single-quoted string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQLReader:
    """`TelemetryStore` reads against InfluxDB's ``/query``."""

    def __init__(self, target: InfluxTarget) -> None:
        self._target = target
        headers: dict[str, str] = {}
        auth = None
        if target.token and target.version == 2:
            headers["Authorization"] = f"Token {target.token}"
        elif target.token:
            user, _, password = target.token.partition(":")
            auth = httpx.BasicAuth(user, password)
        self._http = httpx.Client(
            base_url=target.base_url, timeout=target.timeout_s, headers=headers, auth=auth
        )
        source = [target.database, target.retention_policy or "", MEASUREMENT]
        self._from = ".".join(quote_ident(p) if p else "" for p in source)

    def run(self, statements: str) -> dict[int, list[Series]]:
        """Run ``;``-separated statements: the series by statement id (absent if no rows)."""
        params = {
            "db": self._target.database,
            "q": statements,
            "epoch": "u",
            "chunked": "true",
            "chunk_size": str(CHUNK_ROWS),
        }
        name = self._target.name
        out: dict[int, dict[SeriesKey, Series]] = {}
        try:
            with self._http.stream("GET", "/query", params=params) as response:
                if response.status_code != 200:
                    text = response.read().decode(errors="replace")[:300]
                    cls = StoreError if 400 <= response.status_code < 500 else StoreUnavailableError
                    raise cls(name, f"HTTP {response.status_code} on query: {text}")
                for line in response.iter_lines():
                    if line.strip():
                        self._collect(orjson.loads(line), out)
        except httpx.TransportError as exc:
            raise StoreUnavailableError(name, f"{type(exc).__name__}: {exc}") from exc
        return {statement: list(series.values()) for statement, series in out.items()}

    def rows(self, statement: str) -> tuple[list[str], Rows]:
        """Columns and rows of a single statement without GROUP BY tags."""
        series = self.run(statement).get(0)
        return (series[0].columns, series[0].rows) if series else ([], [])

    def _collect(self, chunk: dict[str, Any], out: dict[int, dict[SeriesKey, Series]]) -> None:
        if "error" in chunk:
            raise StoreError(self._target.name, f"query failed: {chunk['error']}")
        for result in chunk.get("results", []):
            if "error" in result:
                raise StoreError(self._target.name, f"query failed: {result['error']}")
            for part in result.get("series", []):
                tags = part.get("tags") or {}
                key = tuple(sorted(tags.items()))
                found = out.setdefault(int(result["statement_id"]), {})
                series = found.setdefault(key, Series(tags, part["columns"]))
                series.rows.extend(part.get("values", []))

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
        """(ts, value) of one series in [start, end); means per ``every`` seconds if given."""
        where = (
            f"WHERE {_device(device_id, tenant)} "
            f"AND time >= {micros(start)}u AND time < {micros(end)}u"
        )
        if every is None:
            sql = f"SELECT {quote_ident(metric)} FROM {self._from} {where}"  # noqa: S608
        else:
            if every <= 0:
                raise ValueError("every must be > 0 seconds")
            step = max(1, micros(every))
            sql = (
                f"SELECT mean({quote_ident(metric)}) FROM {self._from} {where} "  # noqa: S608
                f"GROUP BY time({step}u) fill(none)"
            )
        _, rows = self.rows(sql)
        points = [(t / 1_000_000, float(v)) for t, v in rows if v is not None]
        return sorted(points)

    def fields(self) -> list[str]:
        """The metric fields of the measurement (all devices)."""
        _, rows = self.rows(f"SHOW FIELD KEYS FROM {self._from}")
        return [str(row[0]) for row in rows if row[0] != SEQ_FIELD]

    def latest(
        self, device_id: str, *, tenant: str | None = None
    ) -> dict[str, tuple[float, float]]:
        """Newest (ts, value) per metric of a device (of ``tenant``, if given)."""
        metrics = self.fields()
        if not metrics:
            return {}
        device = _device(device_id, tenant)
        sql = ";".join(
            f"SELECT last({quote_ident(m)}) FROM {self._from} WHERE {device}"  # noqa: S608
            for m in metrics
        )
        out: dict[str, tuple[float, float]] = {}
        for statement, found in self.run(sql).items():
            for t, v in found[0].rows:
                out[metrics[statement]] = (t / 1_000_000, float(v))
        return out

    def count(self) -> int:
        """Readings stored: non-null metric fields over all points."""
        statement = f"SELECT count(*) FROM {self._from}"  # noqa: S608
        columns, rows = self.rows(statement)
        totals: defaultdict[str, int] = defaultdict(int)
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                if column.startswith("count_") and value is not None:
                    totals[column] += int(value)
        totals.pop(f"count_{SEQ_FIELD}", None)
        return sum(totals.values())

    def seq_high_water(self) -> SeqMarks:
        """Per (tenant, device): highest stored seq and newest event time of a point with
        a seq."""
        seq = quote_ident(SEQ_FIELD)
        by = f"{quote_ident('tenant')}, {quote_ident('device_id')}"
        sql = (
            f"SELECT max({seq}) FROM {self._from} GROUP BY {by};"  # noqa: S608
            f"SELECT last({seq}) FROM {self._from} GROUP BY {by}"
        )
        answer = self.run(sql)

        def key(series: Series) -> tuple[str, str]:
            return series.tags.get("tenant", ""), series.tags.get("device_id", "")

        highest = {key(s): int(s.rows[0][1]) for s in answer.get(0, [])}
        newest = {key(s): s.rows[0][0] / 1_000_000 for s in answer.get(1, [])}
        return {d: (seq_max, newest[d]) for d, seq_max in highest.items() if d in newest}

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
