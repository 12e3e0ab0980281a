"""What people do to alerts: acknowledge and resolve, with a comment, always audited."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from riskstream.api.alert_views import scored_now
from riskstream.api.auth import CurrentUser, runtime_of
from riskstream.engine.alerts import Alert

router = APIRouter(prefix="/api")

Comment = Annotated[
    str, Body(embed=True, min_length=1, max_length=2000, description="why (kept in the audit log)")
]


def _visible_alert(request: Request, alert_id: str, user: CurrentUser) -> dict[str, Any]:
    alert = runtime_of(request).alerts.get(alert_id)
    if alert is None or not user.may_see(alert["tenant"], alert["borrower_id"]):
        raise HTTPException(404, f"no alert with id {alert_id!r}")
    return alert


def _act(
    request: Request, alert_id: str, user: CurrentUser, comment: str, action: str
) -> dict[str, Any]:
    runtime = runtime_of(request)
    alert = _visible_alert(request, alert_id, user)
    if not user.may_act:
        raise HTTPException(403, f"role {user.role} cannot {action} alerts")
    allowed = ("open",) if action == "acknowledge" else ("open", "acknowledged")
    if alert["status"] not in allowed:
        raise HTTPException(409, f"alert is {alert['status']}; cannot {action} it")
    now = time.time()
    alert["status"] = "acknowledged" if action == "acknowledge" else "resolved"
    alert["updated_at"] = now
    if action == "resolve":
        alert["resolved_at"] = now
    alert["reasons"] = [*alert["reasons"], f"{action}d by {user.username}: {comment}"]
    if runtime.cluster is not None:  # the owning risk worker applies it
        runtime.cluster.send_action(action, alert["tenant"], alert["borrower_id"], alert_id)
    elif action == "acknowledge":
        runtime.engines.of(alert["tenant"]).book.acknowledge(alert_id)
    else:
        runtime.engines.of(alert["tenant"]).book.forget(alert_id)
    runtime.publish([Alert(**alert)])
    runtime.audit.record(
        tenant=user.tenant,
        actor=user.username,
        action=action,
        target=f"alert:{alert_id}",
        detail={"comment": comment, "borrower_id": alert["borrower_id"]},
    )
    return scored_now(runtime, alert)


@router.post("/alerts/{alert_id}/ack")
def acknowledge(
    request: Request, alert_id: str, user: CurrentUser, comment: Comment
) -> dict[str, Any]:
    """Acknowledge an open alert: someone is on it (audited with the comment)."""
    return _act(request, alert_id, user, comment, "acknowledge")


@router.post("/alerts/{alert_id}/resolve")
def resolve(request: Request, alert_id: str, user: CurrentUser, comment: Comment) -> dict[str, Any]:
    """Resolve an alert by hand (audited with the comment)."""
    return _act(request, alert_id, user, comment, "resolve")


@router.get("/audit")
def audit_log(
    request: Request, user: CurrentUser, target: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The tenant's audit entries, newest first (auditors and risk admins)."""
    if user.role not in ("auditor", "risk_admin"):
        raise HTTPException(403, "only auditors and risk admins read the audit log")
    return runtime_of(request).audit.entries(
        tenant=user.tenant, target=target, limit=max(1, min(limit, 1000))
    )
