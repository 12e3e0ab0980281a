"""Reads of the telemetry store for the dashboard: downsampled series, tracks, coverage.

Everything here goes through `TelemetryStore.query` (raw, or averaged per ``every``
seconds, which DuckDB, InfluxDB and VictoriaMetrics all implement) and
`TelemetryStore.latest`; it blocks, so API handlers call it in a worker thread.
"""

import math

from devices.model import METRICS, DeviceKind
from ingest.stores import TelemetryStore
from riskstream.engine.fleet_index import CollateralContext, DeviceContext

MIN_EVERY_S = 1.0
TRACK_LOOKBACK_INTERVALS = 4.0
TRACK_MIN_LOOKBACK_S = 3600.0


def metrics_of(device: DeviceContext) -> list[str]:
    """The metrics a device of this kind sends."""
    return list(METRICS.get(device.kind, ()))


def bucket_seconds(start: float, end: float, points: int) -> float:
    """Bucket width that gives about ``points`` buckets over [start, end)."""
    return max(MIN_EVERY_S, math.ceil((end - start) / max(points, 1)))


def downsampled(
    store: TelemetryStore,
    device: DeviceContext,
    metric: str,
    start: float,
    end: float,
    points: int,
) -> tuple[float, list[tuple[float, float]]]:
    """(bucket width, bucket means) of one series of ``device`` over [start, end)."""
    every = bucket_seconds(start, end, points)
    series = store.query(device.device_id, metric, start, end, every, tenant=device.tenant)
    return every, series


def last_seen(latest: dict[str, tuple[float, float]]) -> float | None:
    """Newest timestamp of a device's latest readings."""
    return max((ts for ts, _ in latest.values()), default=None)


def track(
    store: TelemetryStore, device: DeviceContext, limit: int, end: float | None = None
) -> list[tuple[float, float, float]]:
    """The last ``limit`` (ts, lat, lon) fixes of a GPS tracker before ``end``, oldest first."""
    if device.kind is not DeviceKind.GPS_TRACKER or limit <= 0:
        return []
    if end is None:
        newest = last_seen(store.latest(device.device_id, tenant=device.tenant))
        if newest is None:
            return []
        end = newest + 1e-3
    lookback = max(TRACK_MIN_LOOKBACK_S, limit * device.interval_s * TRACK_LOOKBACK_INTERVALS)
    return fixes_between(store, device, end - lookback, end)[-limit:]


def fixes_between(
    store: TelemetryStore, device: DeviceContext, start: float, end: float
) -> list[tuple[float, float, float]]:
    """(ts, lat, lon) of every fix of ``device`` in [start, end) with both coordinates,
    oldest first."""
    device_id, tenant = device.device_id, device.tenant
    lats = dict(store.query(device_id, "lat_deg", start, end, tenant=tenant))
    lons = store.query(device_id, "lon_deg", start, end, tenant=tenant)
    return [(ts, lats[ts], lon) for ts, lon in lons if ts in lats]


def coverage_series(
    store: TelemetryStore, lot: CollateralContext, start: float, end: float, points: int
) -> list[tuple[float, float]]:
    """(bucket, coverage) of a weighed lot: its load cells' bucket means summed.

    A cell with no reading in a bucket counts with its previous bucket's mean; buckets
    before every cell has reported are left out.
    """
    if not lot.load_cells or lot.kg_per_unit is None:
        return []
    every = bucket_seconds(start, end, points)
    series = [
        dict(store.query(cell, "weight_kg", start, end, every, tenant=lot.tenant))
        for cell in lot.load_cells
    ]
    buckets = sorted({b for s in series for b in s})
    last: list[float | None] = [None] * len(series)
    pledged_kg = lot.collateral.quantity * lot.kg_per_unit
    out: list[tuple[float, float]] = []
    for bucket in buckets:
        for i, s in enumerate(series):
            if bucket in s:
                last[i] = s[bucket]
        if all(v is not None for v in last):
            out.append((bucket, round(sum(v or 0.0 for v in last) / pledged_kg, 4)))
    return out
