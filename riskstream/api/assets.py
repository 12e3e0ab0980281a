"""Collateral, devices, their telemetry and the map over HTTP.

- ``GET /api/collateral/{id}`` — a lot: pledge, on hand, coverage, site, devices, tracks.
- ``GET /api/devices/{id}/telemetry`` — one metric downsampled to about ``points``
  bucket means between ``start`` and ``end`` (from the telemetry store).
- ``GET /api/devices/{id}/positions`` — GPS fixes of a tracker.
- ``GET /api/map`` — vehicles and yards with their geofence and last positions.
- ``GET /api/alerts/{id}/evidence`` — the evidence window of an alert: what to chart.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from devices.model import DeviceKind, SiteKind
from devices.units import unit_of
from ingest.stores import TelemetryStore
from riskstream.api.asset_views import borrower_model, collateral_out, device_out, site_out
from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.api.evidence import evidence_window
from riskstream.api.map_state import attention, site_state
from riskstream.api.portfolio import epoch_param, time_range
from riskstream.api.telemetry import downsampled, fixes_between, metrics_of, track
from riskstream.api.views import (
    ERRORS,
    CollateralDetail,
    ErrorOut,
    EvidenceWindow,
    MapOut,
    Telemetry,
    Track,
    bad_query,
)
from riskstream.detectors.parked_moving import ParkedMovingRule
from riskstream.engine.fleet_index import DeviceContext
from riskstream.scoring.exposure import lot_values
from riskstream.service.runtime import Runtime
from riskstream.service.users import User

router = APIRouter(prefix="/api", responses=ERRORS)

DEFAULT_SPAN_S = 6 * 3600.0
STORE_CLOSED: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "the telemetry store is not open"}
}
Metric = Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="e.g. weight_kg")]
Positions = Annotated[int, Query(ge=1, le=500, description="last positions per tracker")]


def _store(runtime: Runtime) -> TelemetryStore:
    if runtime.store is None:
        raise HTTPException(503, "the telemetry store is not open")
    return runtime.store


def _device(runtime: Runtime, user: User, device_id: str) -> DeviceContext:
    device = runtime.engines.of(user.tenant).index.devices.get(device_id)
    if device is None or not user.may_see(device.tenant, device.borrower_id):
        raise HTTPException(404, f"no device with id {device_id!r}")
    return device


def _tracks(store: TelemetryStore | None, devices: list[DeviceContext], n: int) -> list[Track]:
    if store is None:
        return []
    out = []
    for device in devices:
        if device.kind is DeviceKind.GPS_TRACKER:
            fixes = track(store, device, n)
            positions = [{"ts": ts, "lat": lat, "lon": lon} for ts, lat, lon in fixes]
            out.append(
                Track.model_validate({"device_id": device.device_id, "positions": positions})
            )
    return out


def _speeds(store: TelemetryStore | None, devices: list[DeviceContext]) -> list[float]:
    """The newest speed of each GPS tracker that has reported one."""
    if store is None:
        return []
    speeds = []
    for device in devices:
        if device.kind is DeviceKind.GPS_TRACKER:
            latest = store.latest(device.device_id, tenant=device.tenant).get("speed_kmh")
            if latest is not None:
                speeds.append(latest[1])
    return speeds


@router.get("/collateral/{collateral_id}", response_model=CollateralDetail)
async def collateral(
    request: Request, collateral_id: str, user: CurrentUser, positions: Positions = 50
) -> dict[str, Any]:
    """A pledged lot with its site, the site's devices and (vehicles, yards) last positions."""
    runtime = runtime_of(request)
    engine = runtime.engines.of(user.tenant)
    ctx = engine.index.collateral.get(collateral_id)
    if ctx is None or not user.may_see(ctx.tenant, ctx.borrower_id):
        raise HTTPException(404, f"no collateral with id {collateral_id!r}")
    borrower = borrower_model(runtime, user, ctx.borrower_id)
    lot = next(
        v for v in lot_values(borrower, engine.coverage) if v.collateral.id == ctx.collateral.id
    )
    site = next(s for s in borrower.sites if s.id == ctx.collateral.site)
    devices = [d for d in borrower.devices if d.site == site.id]
    contexts = [engine.index.devices[d.id] for d in devices]
    store = runtime.store

    def read() -> dict[str, Any]:
        return {
            "borrower_id": borrower.id,
            "collateral": collateral_out(lot),
            "site": site_out(site),
            "devices": [device_out(store, d, ctx.tenant) for d in devices],
            "tracks": _tracks(store, contexts, positions),
        }

    return await asyncio.to_thread(read)


@router.get("/devices/{device_id}/telemetry", response_model=Telemetry, responses=STORE_CLOSED)
async def telemetry(
    request: Request,
    device_id: str,
    user: CurrentUser,
    metric: Metric,
    start: Annotated[float | None, epoch_param("epoch s; default: end − 6 h")] = None,
    end: Annotated[float | None, epoch_param("epoch s; default: event time")] = None,
    points: Annotated[int, Query(ge=2, le=2000, description="about this many buckets")] = 200,
) -> dict[str, Any]:
    """One metric of a device as bucket means over [start, end) (evidence-window charts)."""
    runtime = runtime_of(request)
    device = _device(runtime, user, device_id)
    known = metrics_of(device)
    watched = runtime.engines.of(user.tenant).custom.metrics  # what custom rules chart
    if known and metric not in known and metric not in watched:
        raise bad_query("metric", f"a {device.kind.value} sends {', '.join(known)}")
    start, end = time_range(start, end, runtime, DEFAULT_SPAN_S, user.tenant)
    store = _store(runtime)
    every, series = await asyncio.to_thread(downsampled, store, device, metric, start, end, points)
    return {
        "device_id": device_id,
        "metric": metric,
        "unit": unit_of(metric),
        "start": start,
        "end": end,
        "every_s": every,
        "points": [{"ts": ts, "value": v} for ts, v in series],
    }


@router.get("/devices/{device_id}/positions", response_model=Track, responses=STORE_CLOSED)
async def positions(
    request: Request,
    device_id: str,
    user: CurrentUser,
    start: Annotated[float | None, epoch_param("epoch s; default: end − 6 h")] = None,
    end: Annotated[float | None, epoch_param("epoch s; default: event time")] = None,
    limit: Positions = 500,
) -> dict[str, Any]:
    """GPS fixes of a tracker in [start, end), the last ``limit`` of them, oldest first."""
    runtime = runtime_of(request)
    device = _device(runtime, user, device_id)
    if device.kind is not DeviceKind.GPS_TRACKER:
        raise HTTPException(404, f"device {device_id!r} is not a GPS tracker")
    start, end = time_range(start, end, runtime, DEFAULT_SPAN_S, user.tenant)
    fixes = await asyncio.to_thread(fixes_between, _store(runtime), device, start, end)
    points = [{"ts": ts, "lat": lat, "lon": lon} for ts, lat, lon in fixes[-limit:]]
    return {"device_id": device_id, "positions": points}


@router.get("/map", response_model=MapOut)
async def site_map(
    request: Request,
    user: CurrentUser,
    borrower: Annotated[str | None, Query(description="only this borrower")] = None,
    positions: Positions = 50,
) -> dict[str, Any]:
    """Vehicles and yards of the user's scope: geofence, location, last positions and
    state (outside its fence, moving, parked), those that need attention first."""
    runtime = runtime_of(request)
    engine = runtime.engines.of(user.tenant)
    index = engine.index
    open_at: dict[str, int] = {}
    for alert in engine.open_alerts():
        if alert.site_id:
            open_at[alert.site_id] = open_at.get(alert.site_id, 0) + 1
    wanted = []
    for b in runtime.registry.fleet(user.tenant).borrowers:
        if b.id not in index.borrowers or not user.may_see(user.tenant, b.id):
            continue
        if borrower is not None and b.id != borrower:
            continue
        for site in b.sites:
            if site.kind in (SiteKind.VEHICLE, SiteKind.YARD) or site.geofence:
                kept = [c.id for loan in b.loans for c in loan.collateral if c.site == site.id]
                trackers = [index.devices[d.id] for d in b.devices if d.site == site.id]
                wanted.append((b.id, site, kept, trackers))
    store = runtime.store
    moving_above = engine.rules.rules.table(ParkedMovingRule).speed_above_kmh

    def read() -> dict[str, Any]:
        sites: list[dict[str, Any]] = []
        for borrower_id, site, kept, trackers in wanted:
            tracks = _tracks(store, trackers, positions)
            fixes = [(t.positions[-1].lat, t.positions[-1].lon) for t in tracks if t.positions]
            speeds = _speeds(store, trackers)
            state = site_state(site, fixes, speeds, moving_above)
            alerts = open_at.get(site.id, 0)
            sites.append(
                {
                    "borrower_id": borrower_id,
                    "site": site_out(site),
                    "collateral_ids": kept,
                    "tracks": tracks,
                    "open_alerts": alerts,
                    "state": state,
                    "speed_kmh": max(speeds, default=None),
                    "attention": attention(state, alerts),
                }
            )
        sites.sort(key=lambda s: (s["attention"], -s["open_alerts"], s["site"]["id"]))
        return {"sites": sites}

    return await asyncio.to_thread(read)


@router.get("/alerts/{alert_id}/evidence", response_model=EvidenceWindow)
def alert_evidence(request: Request, alert_id: str, user: CurrentUser) -> dict[str, Any]:
    """The evidence window of an alert and the series to chart in it, with thresholds."""
    runtime = runtime_of(request)
    alert = runtime.alerts.get(alert_id)
    if alert is None or not user.may_see(alert["tenant"], alert["borrower_id"]):
        raise HTTPException(404, f"no alert with id {alert_id!r}")
    engine = runtime.engines.of(alert["tenant"])
    return evidence_window(alert, engine.index, engine.rules, engine.watermark)
