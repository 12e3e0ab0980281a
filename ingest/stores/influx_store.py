"""`TelemetryStore` on InfluxDB (1.x, 2.x) or VictoriaMetrics, written in line protocol.

A write encodes the batch (`LineEncoder`), cuts it into requests of ``batch`` points
and posts them in order. A request that fails for a transient reason is tried again
``retries`` times with exponential back-off and jitter (`BACKOFF_S` doubling up to
`BACKOFF_MAX_S`); when it still fails, `StoreUnavailableError` carries exactly the
readings not yet stored, so a `SpoolingStore` keeps those and nothing else.

Points are keyed by series (tags) and time, so writing the same reading again
overwrites it in InfluxDB (and in VictoriaMetrics started with
``-dedup.minScrapeInterval=1ms``); DuckDB appends a second row instead.
"""

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence

from devices.reading import Reading
from ingest.stores.base import SeqMarks
from ingest.stores.errors import StoreRejectedError, StoreUnavailableError
from ingest.stores.influx_url import InfluxTarget, parse_influx_url
from ingest.stores.influx_write import LineWriter, make_writer
from ingest.stores.influxql import InfluxQLReader
from ingest.stores.line_protocol import LineEncoder
from ingest.stores.victoriametrics import VictoriaMetricsReader

log = logging.getLogger(__name__)

BACKOFF_S = 0.25
BACKOFF_MAX_S = 5.0


class InfluxStore:
    """Line-protocol store; see the module docstring.

    Attributes:
        target: the parsed store URL.
        refused: readings line protocol cannot carry, counted by reason (never sent).
    """

    def __init__(self, target: InfluxTarget) -> None:
        self.target = target
        self.refused: Counter[str] = Counter()
        static = {"db": target.db_label} if target.db_label else None
        self._encoder = LineEncoder(static)
        self._writer: LineWriter = make_writer(target)
        self._reader: InfluxQLReader | VictoriaMetricsReader
        if target.kind == "victoriametrics":
            self._reader = VictoriaMetricsReader(target)
        else:
            self._reader = InfluxQLReader(target)
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> "InfluxStore":
        """Open the store an ``influxdb://`` or ``victoriametrics://`` URL names."""
        return cls(parse_influx_url(url))

    def _post(self, body: bytes) -> None:
        attempt = 0
        while True:
            try:
                self._writer.post(body)
                return
            except StoreUnavailableError as exc:
                if attempt >= self.target.retries:
                    raise
                delay = min(BACKOFF_MAX_S, BACKOFF_S * 2**attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                log.warning(
                    "write to %s failed (%s); attempt %d of %d in %.2f s",
                    self.target.name,
                    exc.detail,
                    attempt + 1,
                    self.target.retries + 1,
                    delay,
                )
                time.sleep(delay)

    def write(self, batch: Sequence[Reading]) -> int:
        """Store ``batch``; return how many readings were written.

        Raises:
            StoreUnavailableError: a request still failed after the retries; its
                ``unwritten`` are the readings of that request and of the ones after it.
            StoreRejectedError: the server refused a request's data (HTTP 400, 413, 422).
        """
        encoded = self._encoder.encode(batch)
        if encoded.refused:
            reasons = Counter(reason for _, reason in encoded.refused)
            self.refused.update(reasons)
            log.warning(
                "%s: %d readings not writable: %s",
                self.target.name,
                len(encoded.refused),
                dict(reasons),
            )
        chunks = list(encoded.chunks(self.target.batch_lines))
        written = 0
        with self._lock:
            for index, (body, readings) in enumerate(chunks):
                try:
                    self._post(body)
                except (StoreUnavailableError, StoreRejectedError) as exc:
                    exc.unwritten = [r for _, rs in chunks[index:] for r in rs]
                    raise
                written += len(readings)
        return written

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
        return self._reader.query(device_id, metric, start, end, every, tenant=tenant)

    def latest(
        self, device_id: str, *, tenant: str | None = None
    ) -> dict[str, tuple[float, float]]:
        """Newest (ts, value) per metric of a device."""
        return self._reader.latest(device_id, tenant=tenant)

    def count(self) -> int:
        """Readings stored in all."""
        return self._reader.count()

    def seq_high_water(self) -> SeqMarks:
        """Per (tenant, device): highest stored seq and newest event time of a point with
        a seq."""
        return self._reader.seq_high_water()

    def close(self) -> None:
        """Release the HTTP connections (writes are synchronous: nothing to flush)."""
        self._writer.close()
        self._reader.close()
