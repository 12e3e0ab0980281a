"""Registry objects as the API shows them: sites, devices with last readings, lots."""

from typing import Any

from fastapi import HTTPException

from devices.model import METRICS, Borrower, Device, Site
from ingest.stores import TelemetryStore
from riskstream.api.telemetry import last_seen
from riskstream.scoring.exposure import LotValue
from riskstream.service.runtime import Runtime
from riskstream.service.users import User


def borrower_model(runtime: Runtime, user: User, borrower_id: str) -> Borrower:
    """The registered borrower; 404 when unknown or not the user's to see."""
    tenant = runtime.engines.of(user.tenant).index.borrowers.get(borrower_id)
    if tenant is None or not user.may_see(tenant, borrower_id):
        raise HTTPException(404, f"no borrower with id {borrower_id!r}")
    for borrower in runtime.registry.fleet(tenant).borrowers:
        if borrower.id == borrower_id:
            return borrower
    raise HTTPException(404, f"no borrower with id {borrower_id!r}")


def site_out(site: Site) -> dict[str, Any]:
    """`SiteOut` body."""
    return {
        "id": site.id,
        "kind": site.kind.value,
        "name": site.name,
        "timezone": site.timezone,
        "location": site.location,
        "geofence": site.geofence,
    }


def device_out(store: TelemetryStore | None, device: Device, tenant: str) -> dict[str, Any]:
    """`DeviceOut` body, with the newest reading of each metric of ``tenant``'s device
    (blocks on the store)."""
    latest = store.latest(device.id, tenant=tenant) if store is not None else {}
    return {
        "id": device.id,
        "kind": device.kind.value,
        "site_id": device.site,
        "collateral_id": device.collateral,
        "interval_s": device.interval_s,
        "metrics": list(METRICS.get(device.kind, ())) or sorted(latest),
        "last_seen": last_seen(latest),
        "last_readings": [
            {"metric": m, "ts": ts, "value": v} for m, (ts, v) in sorted(latest.items())
        ],
    }


def collateral_out(lot: LotValue) -> dict[str, Any]:
    """`CollateralOut` body."""
    c = lot.collateral
    value = lot.value_on_hand
    return {
        "id": c.id,
        "description": c.description,
        "loan_id": lot.loan_id,
        "site_id": c.site,
        "quantity": c.quantity,
        "unit": c.unit,
        "unit_value": c.unit_value,
        "currency": lot.currency,
        "advance_rate": c.advance_rate,
        "pledged_value": round(lot.pledged_value, 2),
        "on_hand": None if lot.on_hand is None else round(lot.on_hand, 3),
        "coverage": None if lot.coverage is None else round(lot.coverage, 4),
        "value_on_hand": None if value is None else round(value, 2),
    }
