"""The loan officer's portfolio and borrower pages over HTTP.

- ``GET /api/portfolio`` — borrowers ranked by risk score, with coverage, open alerts by
  severity, exposure and exposure at risk (definitions in `riskstream.scoring.exposure`).
- ``GET /api/borrowers/{id}`` — score and reasons, score and coverage history, exposure,
  loans, collateral by site with devices and their last readings, alert timeline.

Scoped like every other endpoint: a user sees only their tenant, a loan officer only
their portfolio; anything else is a 404.
"""

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from devices.model import Borrower
from riskstream.api.alert_views import all_scored_now
from riskstream.api.asset_views import borrower_model, collateral_out, device_out, site_out
from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.api.live_view import coverage_points, event_time, live_view, open_severities
from riskstream.api.telemetry import coverage_series
from riskstream.api.views import ERRORS, MAX_OFFSET, BorrowerDetail, PortfolioPage, bad_query
from riskstream.detectors.inventory import InventoryRule
from riskstream.scoring.exposure import (
    ExposureSum,
    borrower_exposure,
    lot_values,
    value_coverage,
    worst_coverage,
)
from riskstream.service.alert_store import AlertFilter
from riskstream.service.runtime import Runtime
from riskstream.service.users import User

router = APIRouter(prefix="/api", responses=ERRORS)

DEFAULT_WINDOW_S = 24 * 3600.0
MAX_EPOCH_S = 9e9
"""Latest time a query takes (year 2255): inside every store's nanosecond time range."""
SortKey = Literal[
    "score",
    "exposure_at_risk",
    "coverage",
    "open_alerts",
    "matrix",
    "collateral",
    "operations",
    "conduct",
    "behaviour",
    "repayment",
    "outcome_model",
]
ComponentName = Literal[
    "collateral", "operations", "conduct", "behaviour", "repayment", "outcome_model"
]


def epoch_param(description: str) -> Any:
    """A time query parameter: finite epoch seconds from 0 to `MAX_EPOCH_S` (else 422)."""
    return Query(ge=0, le=MAX_EPOCH_S, allow_inf_nan=False, description=description)


def time_range(
    start: float | None, end: float | None, runtime: Runtime, span: float, tenant: str
) -> tuple[float, float]:
    """[start, end) defaulting to the ``span`` seconds before the event time ``tenant``'s
    telemetry reached."""
    if end is None:
        watermark = event_time(runtime, tenant)
        end = (watermark if watermark is not None else time.time()) + 1.0
    if start is None:
        start = end - span
    if end <= start:
        raise bad_query("end", "end must be after start")
    return start, end


def _counts(severities: list[str]) -> dict[str, int]:
    counts = {"critical": 0, "warning": 0, "info": 0}
    for severity in severities:
        counts[severity] += 1
    return {**counts, "total": len(severities)}


def _row(runtime: Runtime, borrower: Borrower, tenant: str, alerts: list[str]) -> dict[str, Any]:
    view = live_view(runtime, tenant, borrower.id)
    lots = lot_values(borrower, view.coverage)
    exposure = borrower_exposure(borrower, lots)
    scores = view.score_fields()  # null where no state was sent (`serve --nats`)
    return {
        "borrower_id": borrower.id,
        "name": borrower.name,
        "industry": borrower.industry,
        "score": scores["score"],
        "computed_at": scores["computed_at"],
        "reasons": scores["reasons"],
        "coverage": value_coverage(lots),
        "worst_lot_coverage": worst_coverage(lots),
        "open_alerts": _counts(alerts),
        "exposure": [e.rounded() for e in exposure],
        "_exposure": exposure,
        "_scored": view.scored,
        "matrix_score": scores["matrix"]["score"],
        "segment": scores["matrix"]["segment"],
        "component_scores": {
            c["component"]: c["score"] if c["has_data"] else None
            for c in scores["matrix"]["components"]
        },
        "live_state": view.freshness,
    }


def _highest_first(value: float | None) -> float:
    return -value if value is not None else float("inf")  # no score or no data: last


def _sort_key(sort: SortKey) -> Any:
    """Highest risk first. A borrower no risk worker has sent yet (`serve --nats`) comes
    after every scored one by any engine figure (ties by id): its risk is not known, not
    low, and while a cluster starts or hands partitions over, many are for a moment, which
    must not push the riskiest known borrowers off the first page. Open alerts are the
    database's, known either way."""

    def key(row: dict[str, Any]) -> tuple[bool, float, str]:
        unknown = not row["_scored"] and sort != "open_alerts"
        if sort == "exposure_at_risk":
            value = -sum(e.exposure_at_risk for e in row["_exposure"])
        elif sort == "coverage":
            value = row["coverage"] if row["coverage"] is not None else float("inf")
        elif sort == "open_alerts":
            value = -row["open_alerts"]["total"]
        elif sort == "matrix":
            value = _highest_first(row["matrix_score"])
        elif sort in row["component_scores"]:
            value = _highest_first(row["component_scores"][sort])
        else:
            value = _highest_first(row["score"])
        return unknown, value, row["borrower_id"]

    return key


@router.get("/portfolio", response_model=PortfolioPage)
async def portfolio(
    request: Request,
    user: CurrentUser,
    min_score: Annotated[
        float,
        Query(
            allow_inf_nan=False,
            ge=0,
            le=100,
            description="only scores ≥ this; above 0 it leaves out borrowers with no score "
            "yet (null: behind `serve --nats`, no risk worker has sent them)",
        ),
    ] = 0.0,
    severity: Annotated[
        Literal["info", "warning", "critical"] | None,
        Query(description="only borrowers with an open alert of this severity"),
    ] = None,
    q: Annotated[str | None, Query(max_length=128, description="id or name contains")] = None,
    sort: Annotated[
        SortKey,
        Query(
            description="order: the score, exposure, coverage, alerts, the credit matrix "
            "score or one of its components (highest first; no data last; behind "
            "`serve --nats`, borrowers no risk worker has sent yet after all others except "
            "by open alerts)"
        ),
    ] = "score",
    component: Annotated[
        ComponentName | None,
        Query(description="with `component_min`: filter on this credit matrix component"),
    ] = None,
    component_min: Annotated[
        float,
        Query(
            allow_inf_nan=False,
            ge=0,
            le=100,
            description="only borrowers whose `component` has data and scores ≥ this",
        ),
    ] = 0.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Borrowers of the user's scope ranked by risk (or ``sort``), one page of them.

    ``totals`` and ``open_alerts`` sum over every borrower that matches the filters.
    """
    runtime = runtime_of(request)
    engine = runtime.engines.of(user.tenant)
    open_by = open_severities(runtime, user.tenant)
    rows = []
    for borrower in runtime.registry.fleet(user.tenant).borrowers:
        if borrower.id not in engine.index.borrowers:
            continue
        if not user.may_see(user.tenant, borrower.id):
            continue
        text = q.lower() if q else None
        if text and text not in borrower.id.lower() and text not in borrower.name.lower():
            continue
        alerts = open_by.get(borrower.id, [])
        if severity and severity not in alerts:
            continue
        row = _row(runtime, borrower, user.tenant, alerts)
        if component is not None:
            part = row["component_scores"][component]
            if part is None or part < component_min:
                continue
        if min_score == 0 or (row["score"] is not None and row["score"] >= min_score):
            rows.append(row)
    rows.sort(key=_sort_key(sort))
    totals: dict[str, ExposureSum] = {}
    counts = {"critical": 0, "warning": 0, "info": 0, "total": 0}
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
        del row["_scored"]
        for e in row.pop("_exposure"):
            totals.setdefault(e.currency, ExposureSum(e.currency)).add(e)
        for k in counts:
            counts[k] += row["open_alerts"][k]
    return {
        "total": len(rows),
        "limit": limit,
        "offset": offset,
        "items": rows[offset : offset + limit],
        "totals": [totals[c].rounded() for c in sorted(totals)],
        "open_alerts": counts,
        "event_time": event_time(runtime, user.tenant),
    }


def _visible(runtime: Runtime, user: User, borrower_id: str) -> Borrower:
    return borrower_model(runtime, user, borrower_id)


@router.get("/borrowers/{borrower_id}", response_model=BorrowerDetail)
async def borrower_detail(
    request: Request,
    borrower_id: str,
    user: CurrentUser,
    start: Annotated[float | None, epoch_param("coverage window start, epoch s")] = None,
    end: Annotated[float | None, epoch_param("window end; default: event time")] = None,
    points: Annotated[int, Query(ge=2, le=2000, description="coverage points per lot")] = 120,
    alerts_limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """What the borrower page shows; coverage history from the load cells in the store
    (behind ``serve --nats``: from the history the borrower's risk worker sent, 15-minute
    buckets over the last 24 h of event time)."""
    runtime = runtime_of(request)
    borrower = _visible(runtime, user, borrower_id)
    start, end = time_range(start, end, runtime, DEFAULT_WINDOW_S, user.tenant)
    engine = runtime.engines.of(user.tenant)
    view = live_view(runtime, user.tenant, borrower_id)
    risk = view.risk
    lots = lot_values(borrower, view.coverage)
    history = view.history
    store = runtime.store
    index = engine.index

    def read() -> dict[str, Any]:
        total, alerts = runtime.alerts.query(
            AlertFilter(tenant=risk.tenant, borrower_id=borrower_id), alerts_limit, 0
        )
        coverage = []
        for lot in lots:
            ctx = index.collateral.get(lot.collateral.id)
            if ctx is None or not ctx.load_cells:
                continue
            if runtime.cluster is not None:  # no store here: the risk worker's history
                series = coverage_points(
                    view.coverage_history(ctx.collateral.id), start, end, points
                )
            elif store is not None:
                series = coverage_series(store, ctx, start, end, points)
            else:
                continue
            coverage.append(
                {
                    "collateral_id": lot.collateral.id,
                    "unit": lot.collateral.unit,
                    "points": [{"ts": ts, "value": v} for ts, v in series],
                }
            )
        sites = []
        for site in borrower.sites:
            devices = [
                device_out(store, d, risk.tenant) for d in borrower.devices if d.site == site.id
            ]
            kept = [lot.collateral.id for lot in lots if lot.collateral.site == site.id]
            sites.append({"site": site_out(site), "collateral_ids": kept, "devices": devices})
        return {"alerts": alerts, "alerts_total": total, "coverage": coverage, "sites": sites}

    found = await asyncio.to_thread(read)
    return {
        "borrower_id": borrower_id,
        "tenant": risk.tenant,
        "name": borrower.name,
        "industry": borrower.industry,
        **view.score_fields(),
        "score_history": [{"ts": ts, "value": s} for ts, s in history],
        "coverage_history": found["coverage"],
        "coverage_alert_below": engine.rules.rules.table(InventoryRule).coverage_below,
        "window_start": start,
        "window_end": end,
        "exposure": [e.rounded() for e in borrower_exposure(borrower, lots)],
        "loans": [
            {
                "id": loan.id,
                "principal": loan.principal,
                "currency": loan.currency,
                "collateral_ids": [c.id for c in loan.collateral],
            }
            for loan in borrower.loans
        ],
        "collateral": [collateral_out(lot) for lot in lots],
        "sites": found["sites"],
        "alerts": all_scored_now(runtime, found["alerts"]),
        "alerts_total": found["alerts_total"],
        "live_state": view.freshness,
    }
