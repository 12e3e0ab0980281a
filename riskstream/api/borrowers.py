"""Borrower risk, loan outcomes and the outcome model over HTTP.

- ``GET /api/borrowers`` — the borrowers the user may see, riskiest first.
- ``GET /api/borrowers/{id}/risk`` — score, reasons, components, history, open alerts.
- ``POST /api/loan-events`` — a loan outcome (risk admins): stored, audited, learned.
- ``GET /api/models`` — progressive validation and weight of the tenant's model.

The handlers that touch the engine are ``async`` so they run on the event loop, the
same thread as the engine's ``process``/``tick``.
"""

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from ingest.pipeline import OLDEST_ACCEPTED_TS
from riskstream.api.alert_views import all_scored_now
from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.api.live_view import live_view, open_severities
from riskstream.api.views import BorrowerRiskOut, BorrowerRow
from riskstream.engine.core import Engine
from riskstream.service.alert_store import AlertFilter
from riskstream.service.runtime import Runtime
from riskstream.service.users import User

router = APIRouter(prefix="/api")

MAX_OPEN_ALERTS = 1000
"""Of each status (open, acknowledged), the most a borrower's risk answer lists."""
MAX_AHEAD_S = 86400.0
"""A loan event may lie at most this far after the later of wall time and event time."""


class LoanEventIn(BaseModel):
    """A loan outcome, as the simulator's ``--outcomes`` lines and core systems send it."""

    model_config = ConfigDict(extra="forbid")

    borrower_id: str = Field(min_length=1, max_length=128)
    loan_id: str = Field(min_length=1, max_length=128)
    event: Literal["payment_missed", "default", "cured"]
    ts: float = Field(
        ge=OLDEST_ACCEPTED_TS,
        allow_inf_nan=False,
        description="event time, epoch seconds: from 2000-01-01 to one day after the later "
        "of the service's wall time and the event time of its telemetry",
    )
    tenant: str | None = Field(None, description="optional; must be the user's tenant")


def _check_not_ahead(engine: Engine, ts: float) -> None:
    """422 for a loan event stamped more than `MAX_AHEAD_S` after the lender's "now"."""
    now = max(engine.wall_clock(), engine.watermark or float("-inf"))
    if ts > now + MAX_AHEAD_S:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "ts"),
                    "msg": f"event time must be at most {now + MAX_AHEAD_S:.0f} (one day ahead)",
                    "input": ts,
                }
            ]
        )


def _visible_borrower(runtime: Runtime, user: User, borrower_id: str) -> str:
    """The borrower's tenant; 404 when unknown or not the user's to see."""
    tenant = runtime.engines.of(user.tenant).index.borrowers.get(borrower_id)
    if tenant is None or not user.may_see(tenant, borrower_id):
        raise HTTPException(404, f"no borrower with id {borrower_id!r}")
    return tenant


@router.get("/borrowers", response_model=list[BorrowerRow])
async def list_borrowers(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    """Borrowers of the user's scope ranked by risk score (highest first).

    Behind ``serve --nats`` a borrower no risk worker has sent yet has ``score`` and
    ``computed_at`` null and no ``reasons`` (``live_state.source`` is ``none``); such
    borrowers come after every scored one.
    """
    runtime = runtime_of(request)
    engine = runtime.engines.of(user.tenant)
    open_alerts = open_severities(runtime, user.tenant)
    rows: list[dict[str, Any]] = []
    for borrower_id, tenant in engine.index.borrowers.items():
        if not user.may_see(tenant, borrower_id):
            continue
        view = live_view(runtime, tenant, borrower_id)
        scores = view.score_fields()
        rows.append(
            {
                "borrower_id": borrower_id,
                "score": scores["score"],
                "computed_at": scores["computed_at"],
                "open_alerts": len(open_alerts.get(borrower_id, [])),
                "reasons": scores["reasons"],
                "live_state": view.freshness,
            }
        )
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["borrower_id"]))
    return rows


@router.get("/borrowers/{borrower_id}/risk", response_model=BorrowerRiskOut)
async def borrower_risk(request: Request, borrower_id: str, user: CurrentUser) -> dict[str, Any]:
    """Current score with its reasons and components, score history and open alerts.

    Behind ``serve --nats``, for a borrower no risk worker has sent yet
    (``live_state.source`` ``none``): ``score``, ``computed_at`` and the ``matrix`` scores
    are null, ``reasons``, ``components`` and ``history`` empty.
    """
    runtime = runtime_of(request)
    tenant = _visible_borrower(runtime, user, borrower_id)
    view = live_view(runtime, tenant, borrower_id)

    def read() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for status in ("open", "acknowledged"):
            _, alerts = runtime.alerts.query(
                AlertFilter(tenant=tenant, borrower_id=borrower_id, status=status),
                MAX_OPEN_ALERTS,
                0,
            )
            found += alerts
        return found

    # the stored alerts, scored as of the lender's event time: what `GET /api/alerts` and
    # the borrower page give for the same alerts
    open_alerts = all_scored_now(runtime, await asyncio.to_thread(read))
    return {
        "borrower_id": borrower_id,
        **view.score_fields(),
        "history": [{"ts": ts, "score": score} for ts, score in view.history],
        "open_alerts": open_alerts,
        "live_state": view.freshness,
    }


@router.post("/loan-events", status_code=201)
async def post_loan_event(request: Request, body: LoanEventIn, user: CurrentUser) -> dict[str, Any]:
    """Record a loan outcome (risk admins): stored, audited, and learned by the model."""
    if user.role != "risk_admin":
        raise HTTPException(403, f"role {user.role} cannot record loan events")
    runtime = runtime_of(request)
    _check_not_ahead(runtime.engines.of(user.tenant), body.ts)
    tenant = _visible_borrower(runtime, user, body.borrower_id)
    if body.tenant is not None and body.tenant != tenant:
        raise HTTPException(404, f"no borrower with id {body.borrower_id!r}")
    loans = {
        loan.id
        for borrower in runtime.registry.fleet(tenant).borrowers
        if borrower.id == body.borrower_id
        for loan in borrower.loans
    }
    if body.loan_id not in loans:
        raise HTTPException(404, f"borrower {body.borrower_id!r} has no loan {body.loan_id!r}")
    stored = runtime.loan_events.add(
        tenant=tenant,
        borrower_id=body.borrower_id,
        loan_id=body.loan_id,
        event=body.event,
        ts=body.ts,
        by=user.username,
    )
    labelled = runtime.engines.of(tenant).record_outcome(body.borrower_id, body.event, body.ts)
    runtime.audit.record(
        tenant=tenant,
        actor=user.username,
        action="loan_event",
        target=f"loan:{body.loan_id}",
        detail={
            "borrower_id": body.borrower_id,
            "event": body.event,
            "ts": body.ts,
            "snapshots_labelled": labelled,
        },
    )
    return {**stored, "snapshots_labelled": labelled}


@router.get("/models")
async def models(request: Request, user: CurrentUser) -> dict[str, Any]:
    """The tenant's outcome model: ROC AUC, log loss, labels learned, weight."""
    model = runtime_of(request).engines.of(user.tenant).scoring.models.of(user.tenant)
    return {"tenant": user.tenant, "outcome_model": model.summary()}
