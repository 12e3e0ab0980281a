"""Store URLs of the line-protocol backends, checked into an `InfluxTarget`.

- ``influxdb://HOST[:8086]?org=ORG&bucket=BUCKET`` — InfluxDB 2.x; the API token comes
  from the environment variable `TOKEN_ENV` and is required.
- ``influxdb://HOST[:8086]?bucket=DB[/RP]&version=1`` — InfluxDB 1.x; `TOKEN_ENV`, when
  set, holds ``user:password``.
- ``victoriametrics://HOST[:8428][?db=NAME]`` — VictoriaMetrics single node; ``db`` is
  written as a label and every read filters on it, so several stores can share a server.

Options for all three: ``timeout`` (seconds per HTTP request, default 10), ``retries``
(extra attempts of a failed request, default 2), ``batch`` (points per write request,
default 5000) and ``tls=1`` for https. Credentials never go in the URL.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from ingest.errors import StoreURLError

TOKEN_ENV = "INFLUXDB_TOKEN"  # noqa: S105 - the variable's name, not a secret
DEFAULT_PORTS = {"influxdb": 8086, "victoriametrics": 8428}
_COMMON = {"timeout", "retries", "batch", "tls"}
_ALLOWED = {
    ("influxdb", 1): _COMMON | {"bucket", "version"},
    ("influxdb", 2): _COMMON | {"bucket", "org", "version"},
    ("victoriametrics", 2): _COMMON | {"db"},
}


@dataclass(frozen=True)
class InfluxTarget:
    """Where and how to reach one line-protocol store.

    Attributes:
        kind: ``influxdb`` or ``victoriametrics`` (decides how reads are done).
        base_url: ``http(s)://host:port``.
        version: InfluxDB API generation used for writes: 1 (``/write``) or 2 (``/api/v2/write``).
        database: InfluxDB 1.x database, or the 2.x bucket (InfluxQL reads use its DBRP mapping).
        retention_policy: InfluxDB retention policy, when the bucket names one (``db/rp``).
        bucket: the bucket as given (``db/rp`` for 1.x), sent with v2 writes.
        org: InfluxDB 2.x organisation.
        token: ``user:password`` (1.x) or API token (2.x), from `TOKEN_ENV`.
        db_label: VictoriaMetrics ``db`` label written on every point and filtered on reads.
        timeout_s: seconds per HTTP request.
        retries: extra attempts of a request that failed for a transient reason.
        batch_lines: points per write request.
        name: the URL without options, for messages (never holds a secret).
    """

    kind: Literal["influxdb", "victoriametrics"]
    base_url: str
    version: int
    database: str
    retention_policy: str | None
    bucket: str
    org: str | None
    token: str | None
    db_label: str | None
    timeout_s: float
    retries: int
    batch_lines: int
    name: str


def _number(url: str, options: dict[str, str], key: str, default: float, low: float) -> float:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StoreURLError(f"store URL {url!r}: {key}={raw!r} is not a number") from None
    if not value >= low:
        raise StoreURLError(f"store URL {url!r}: {key}={raw!r} must be at least {low:g}")
    return value


def _version(url: str, kind: str, options: dict[str, str]) -> int:
    raw = options.get("version", "2")
    if kind == "victoriametrics" or raw in ("1", "2"):
        return 2 if kind == "victoriametrics" else int(raw)
    raise StoreURLError(f"store URL {url!r}: version={raw!r} must be 1 or 2")


def parse_influx_url(url: str, environ: Mapping[str, str] | None = None) -> InfluxTarget:
    """Check an ``influxdb://`` or ``victoriametrics://`` URL; `StoreURLError` says why not."""
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    kind: Literal["influxdb", "victoriametrics"]
    if parts.scheme == "influxdb":
        kind = "influxdb"
    elif parts.scheme == "victoriametrics":
        kind = "victoriametrics"
    else:
        raise StoreURLError(f"store URL {url!r}: scheme must be influxdb or victoriametrics")
    if parts.username is not None or parts.password is not None:
        raise StoreURLError(
            f"store URL {url!r}: credentials do not belong in the URL; set {TOKEN_ENV}"
        )
    try:
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError:
        raise StoreURLError(f"store URL {url!r}: the port is not a number in 1..65535") from None
    host = parts.hostname
    if not host:
        raise StoreURLError(f"store URL {url!r}: no host; use {kind}://HOST:{port}")
    if parts.path not in ("", "/"):
        raise StoreURLError(f"store URL {url!r}: unexpected path {parts.path!r}; use options")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    version = _version(url, kind, options)
    unknown = sorted(set(options) - _ALLOWED[(kind, version)])
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED[(kind, version)]))
        raise StoreURLError(f"store URL {url!r}: unknown option {unknown[0]!r} (known: {allowed})")
    tls = options.get("tls", "0")
    if tls not in ("0", "1", "true", "false"):
        raise StoreURLError(f"store URL {url!r}: tls={tls!r} must be 1 or 0")
    bucket = options.get("bucket", "")
    org = options.get("org") or None
    token = env.get(TOKEN_ENV) or None
    if kind == "influxdb":
        if not bucket:
            need = "bucket=DB[/RP]&version=1" if version == 1 else "org=ORG&bucket=BUCKET"
            raise StoreURLError(f"store URL {url!r}: influxdb needs ?{need}")
        if version == 2 and not org:
            raise StoreURLError(f"store URL {url!r}: InfluxDB 2.x needs ?org=ORG")
        if version == 2 and token is None:
            raise StoreURLError(
                f"store URL {url!r}: InfluxDB 2.x needs an API token in the environment "
                f"variable {TOKEN_ENV}, which is not set"
            )
        if version == 1 and token is not None and ":" not in token:
            raise StoreURLError(
                f"store URL {url!r}: for InfluxDB 1.x, {TOKEN_ENV} must be user:password"
            )
    database, _, rp = bucket.partition("/")
    if kind == "influxdb" and not database:
        raise StoreURLError(f"store URL {url!r}: bucket={bucket!r} has no database name")
    scheme = "https" if tls in ("1", "true") else "http"
    return InfluxTarget(
        kind=kind,
        base_url=f"{scheme}://{host}:{port}",
        version=version,
        database=database,
        retention_policy=rp or None,
        bucket=bucket or "riskstream",
        org=org,
        token=token if kind == "influxdb" else None,
        db_label=options.get("db") or None,
        timeout_s=_number(url, options, "timeout", 10.0, 0.001),
        retries=int(_number(url, options, "retries", 2, 0)),
        batch_lines=int(_number(url, options, "batch", 5000, 1)),
        name=f"{kind}://{host}:{port}/{bucket or options.get('db', '')}",
    )
