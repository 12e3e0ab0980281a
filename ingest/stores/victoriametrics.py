"""Reads from VictoriaMetrics (single node) through its own HTTP APIs, with httpx.

VictoriaMetrics stores line protocol field ``f`` of measurement ``readings`` as the
series ``readings_f`` with the tags as labels (its default ``-influxMeasurementFieldSeparator``),
with millisecond timestamps.

- raw: ``/api/v1/export`` of ``readings_<metric>{device_id="…"}`` between start and end
  (it returns raw samples, unlike PromQL, whose ``-search.latencyOffset`` hides the
  last 30 s); downsampling is done here from the raw samples, with DuckDB's buckets.
- latest: ``/api/v1/series`` names the device's metrics, then exports over growing
  windows back from now (`LATEST_WINDOWS_S`) until each metric has been seen.
- count: ``sum(count_over_time(…))`` over all time with ``/api/v1/query``.

Fresh samples become searchable after VictoriaMetrics flushes its in-memory buffer
(about a second; ``/internal/force_flush`` forces it, which tests use).
"""

import math
import time
from collections import defaultdict
from collections.abc import Iterator

import httpx
import orjson

from ingest.stores.base import SeqMarks
from ingest.stores.errors import StoreError, StoreUnavailableError
from ingest.stores.influx_url import InfluxTarget
from ingest.stores.line_protocol import MEASUREMENT, SEQ_FIELD

LATEST_WINDOWS_S: tuple[float | None, ...] = (3600.0, 86400.0, 31 * 86400.0, None)
FUTURE_S = 10 * 365 * 86400.0
EPOCH_FLOOR_S = 365 * 86400.0
_PREFIX = f"{MEASUREMENT}_"


def quote_label(text: str) -> str:
    """A MetricsQL double-quoted string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def bucket_means(points: list[tuple[float, float]], every: float) -> list[tuple[float, float]]:
    """Mean per ``every``-second bucket, keyed ``floor(ts / every) * every``, in time order."""
    sums: defaultdict[float, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for ts, value in points:
        acc = sums[float(math.floor(ts / every) * every)]
        acc[0] += value
        acc[1] += 1
    return [(bucket, acc[0] / acc[1]) for bucket, acc in sorted(sums.items())]


class VictoriaMetricsReader:
    """`TelemetryStore` reads against a VictoriaMetrics single node."""

    def __init__(self, target: InfluxTarget) -> None:
        self._target = target
        self._http = httpx.Client(base_url=target.base_url, timeout=target.timeout_s)
        self._db = f",db={quote_label(target.db_label)}" if target.db_label else ""

    def _selector(self, name: str, device_id: str | None = None, tenant: str | None = None) -> str:
        device = f",device_id={quote_label(device_id)}" if device_id is not None else ""
        if tenant is not None:
            device += f",tenant={quote_label(tenant)}"
        return "{" + name + device + self._db + "}"

    def _metrics_of(self, device_id: str | None, tenant: str | None = None) -> str:
        names = (
            f"__name__=~{quote_label(_PREFIX + '.+')},__name__!={quote_label(_PREFIX + SEQ_FIELD)}"
        )
        return self._selector(names, device_id, tenant)

    def _post(self, path: str, data: dict[str, str]) -> httpx.Response:
        try:
            response = self._http.post(path, data=data)
        except httpx.TransportError as exc:
            raise StoreUnavailableError(self._target.name, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            cls = StoreError if 400 <= response.status_code < 500 else StoreUnavailableError
            detail = f"HTTP {response.status_code} on {path}: {response.text[:300]}"
            raise cls(self._target.name, detail)
        return response

    def export(self, match: str, start: float, end: float) -> Iterator[tuple[str, float, float]]:
        """(metric name, ts, value) of every raw sample matching ``match`` in [start, end]."""
        data = {"match[]": match, "start": f"{max(start, 0.001):.3f}", "end": f"{end:.3f}"}
        name = self._target.name
        try:
            with self._http.stream("POST", "/api/v1/export", data=data) as response:
                if response.status_code != 200:
                    text = response.read().decode(errors="replace")[:300]
                    cls = StoreError if 400 <= response.status_code < 500 else StoreUnavailableError
                    raise cls(name, f"HTTP {response.status_code} on /api/v1/export: {text}")
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    series = orjson.loads(line)
                    metric = str(series["metric"]["__name__"])
                    for ms, value in zip(series["timestamps"], series["values"], strict=True):
                        yield metric, ms / 1000, float(value)
        except httpx.TransportError as exc:
            raise StoreUnavailableError(name, f"{type(exc).__name__}: {exc}") from exc

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
        if every is not None and every <= 0:
            raise ValueError("every must be > 0 seconds")
        match = self._selector(f"__name__={quote_label(_PREFIX + metric)}", device_id, tenant)
        points = sorted((ts, v) for _, ts, v in self.export(match, start, end) if ts < end)
        return points if every is None else bucket_means(points, every)

    def latest(
        self, device_id: str, *, tenant: str | None = None
    ) -> dict[str, tuple[float, float]]:
        """Newest (ts, value) per metric of a device (of ``tenant``, if given)."""
        match = self._metrics_of(device_id, tenant)
        now = time.time()
        series = self._post(
            "/api/v1/series",
            {"match[]": match, "start": f"{EPOCH_FLOOR_S:.0f}", "end": f"{now + FUTURE_S:.0f}"},
        )
        wanted = {str(s["__name__"])[len(_PREFIX) :] for s in orjson.loads(series.content)["data"]}
        found: dict[str, tuple[float, float]] = {}
        for window in LATEST_WINDOWS_S:
            if wanted <= found.keys():
                break
            start = now - window if window is not None else 0.0
            newest: dict[str, tuple[float, float]] = {}
            for name, ts, value in self.export(match, start, now + FUTURE_S):
                metric = name[len(_PREFIX) :]
                if metric not in newest or ts >= newest[metric][0]:
                    newest[metric] = (ts, value)
            for metric, point in newest.items():
                found.setdefault(metric, point)
        return found

    def _instant(self, template: str) -> list[tuple[dict[str, str], float]]:
        """Labels and value of each answer to a PromQL query over all time.

        ``template`` holds ``{window}``, replaced by a range reaching back to 1971 from
        an evaluation time two days ahead (so the newest samples are always inside).
        """
        at = time.time() + 2 * 86400
        promql = template.replace("{window}", f"[{int(at - EPOCH_FLOOR_S)}s]")
        response = self._post("/api/v1/query", {"query": promql, "time": f"{at:.0f}"})
        result = orjson.loads(response.content)["data"]["result"]
        return [(r["metric"], float(r["value"][1])) for r in result]

    def count(self) -> int:
        """Samples stored under all metric series (``seq`` is not a reading)."""
        answer = self._instant(f"sum(count_over_time({self._metrics_of(None)}{{window}}))")
        return int(answer[0][1]) if answer else 0

    def seq_high_water(self) -> SeqMarks:
        """Per (tenant, device): highest stored seq and newest event time of a point with
        a seq."""
        seq = self._selector(f"__name__={quote_label(_PREFIX + SEQ_FIELD)}")
        by_device = "max by (tenant, device_id) ({0}({1}{{window}}))"
        highest = self._instant(by_device.format("max_over_time", seq))
        newest = self._instant(by_device.format("tlast_over_time", seq))

        def key(labels: dict[str, str]) -> tuple[str, str]:
            return labels.get("tenant", ""), labels.get("device_id", "")

        times = {key(labels): ts for labels, ts in newest}
        marks: SeqMarks = {}
        for labels, value in highest:
            device = key(labels)
            if device in times:
                marks[device] = (int(value), times[device])
        return marks

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
