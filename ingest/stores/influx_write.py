"""HTTP writers of line-protocol bodies, one per API generation.

- `V2Writer` posts to ``/api/v2/write`` through influxdb-client's synchronous write API
  (InfluxDB 2.x and 3, InfluxDB 1.8+ in compatibility mode, VictoriaMetrics). The
  client's own batching ``WriteApi`` was measured here at about 60,000 readings/s against
  about 550,000/s for the synchronous call on ready-made bodies; it also acknowledges
  before the server has the data, which would let ingest acknowledge MQTT messages
  that are not stored. So batching is ours (`InfluxStore`), the client posts.
- `V1Writer` posts to ``/write`` with httpx: InfluxDB 1.x before 1.8 (Debian ships 1.6)
  has no ``/api/v2/write``, and influxdb-client speaks only the v2 API.

Both answer a failed post with `StoreUnavailableError` (retry later) or
`StoreRejectedError` (the server refused the data), see `classify`.
"""

from typing import Protocol, cast

import httpx
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from ingest.stores.errors import StoreRejectedError, StoreUnavailableError
from ingest.stores.influx_url import InfluxTarget

REJECTED_STATUSES = frozenset({400, 413, 422})
_DETAIL_CHARS = 300


class LineWriter(Protocol):
    """Posts one line-protocol body; raises a store error when it is not stored."""

    def post(self, body: bytes) -> None:
        """Send ``body``; return only when the server has accepted it."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def classify(store: str, status: int, body: str, hint: str = "") -> None:
    """Raise the store error an HTTP answer means; return for 2xx.

    400, 413 and 422 mean the data itself is refused (bad line, field type conflict,
    body too large): `StoreRejectedError`. Everything else (401/403 credentials, 404
    database or bucket missing, 429, 5xx) is something that can be fixed or will pass,
    so the batch is kept for later: `StoreUnavailableError`. ``hint`` replaces the
    default advice on a 404.
    """
    if 200 <= status < 300:
        return
    detail = f"HTTP {status}: {body.strip()[:_DETAIL_CHARS]}"
    if status == 404:
        detail += f" ({hint or 'does the database or bucket exist?'})"
    if status in REJECTED_STATUSES:
        raise StoreRejectedError(store, detail, status)
    raise StoreUnavailableError(store, detail)


class V2Writer:
    """``/api/v2/write`` through influxdb-client's synchronous write API."""

    def __init__(self, target: InfluxTarget) -> None:
        self._target = target
        self._client = InfluxDBClient(
            url=target.base_url,
            token=target.token or "",
            org=target.org or "-",
            timeout=int(target.timeout_s * 1000),
            retries=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def post(self, body: bytes) -> None:
        """Send ``body`` with microsecond timestamps to the target's bucket."""
        target = self._target
        try:
            self._api.write(
                bucket=target.bucket,
                org=target.org or "-",
                record=body,
                write_precision=cast(WritePrecision, WritePrecision.US),
            )
        except ApiException as exc:
            answer = str(exc.body or exc.reason or "")
            hint = ""
            if exc.status == 404 and "page not found" in answer:
                hint = "this server has no /api/v2/write (InfluxDB before 1.8: use version=1)"
            classify(target.name, int(exc.status or 0), answer, hint)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailableError(target.name, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()  # type: ignore[no-untyped-call]


class V1Writer:
    """InfluxDB 1.x ``/write?db=&rp=&precision=u`` with httpx."""

    def __init__(self, target: InfluxTarget) -> None:
        self._target = target
        auth = None
        if target.token:
            user, _, password = target.token.partition(":")
            auth = httpx.BasicAuth(user, password)
        self._params = {"db": target.database, "precision": "u"}
        if target.retention_policy:
            self._params["rp"] = target.retention_policy
        self._http = httpx.Client(base_url=target.base_url, timeout=target.timeout_s, auth=auth)

    def post(self, body: bytes) -> None:
        """Send ``body`` to the target's database and retention policy."""
        try:
            response = self._http.post("/write", params=self._params, content=body)
        except httpx.TransportError as exc:
            name = self._target.name
            raise StoreUnavailableError(name, f"{type(exc).__name__}: {exc}") from exc
        classify(self._target.name, response.status_code, response.text)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def make_writer(target: InfluxTarget) -> LineWriter:
    """The writer for the target's API generation."""
    return V1Writer(target) if target.version == 1 else V2Writer(target)
