"""Alerts as the API serves them: their body (`AlertOut`), and their score as of the
lender's event time.

An alert's score grows (a little) with its age (`riskstream.scoring.alert_score`), so
every answer that carries alerts (the list, one alert, the live feed, the borrower page,
an acknowledgement) gives the score as of the lender's latest event time, not as of the
alert's last change.
"""

from typing import Any, Literal

from pydantic import BaseModel, Field

from riskstream.scoring.alert_score import rescored
from riskstream.service.runtime import Runtime


class AlertOut(BaseModel):
    """An alert as the API returns it (DESIGN.md contract).

    ``score`` is the alert score (`riskstream.scoring.alert_score`), as of the lender's
    event time: severity band (info 0–32, warning 34–66, critical 68–100), then money at
    risk as a share of the loan, then age.
    """

    id: str
    tenant: str
    borrower_id: str
    loan_id: str | None
    site_id: str | None
    device_id: str | None
    kind: str
    subject: str
    severity: Literal["info", "warning", "critical"]
    status: Literal["open", "acknowledged", "resolved"]
    opened_at: float
    detected_at: float
    updated_at: float
    resolved_at: float | None = None
    score: float = Field(
        description="alert score 0–100: severity band, then money at risk, then age"
    )
    reasons: list[str]
    evidence: dict[str, Any]
    rule: str
    detector_score: float | None = Field(
        default=None, description="the detector's own strength of evidence, 0–100"
    )
    money_at_risk: float | None = Field(
        default=None,
        description="value of the goods found missing, else pledged value of the collateral "
        "concerned, in currency",
    )
    currency: str | None = Field(default=None, description="currency of money_at_risk")
    exposure: float | None = Field(
        default=None, description="principal of the loans concerned, in currency"
    )
    money_at_risk_pct: int = Field(
        default=0, description="money at risk as whole percent of exposure, 0–100"
    )
    score_basis: str = Field(default="", description="how the score was reached")


def scored_now(runtime: Runtime, alert: dict[str, Any]) -> dict[str, Any]:
    """``alert`` (a stored alert) with its score as of its lender's event time."""
    return rescored(alert, runtime.engines.of(str(alert["tenant"])).watermark)


def all_scored_now(runtime: Runtime, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of ``alerts`` with its score as of its lender's event time."""
    return [scored_now(runtime, a) for a in alerts]
