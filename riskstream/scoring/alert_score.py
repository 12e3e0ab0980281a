"""The alert score: the order in which a loan officer should act on alerts.

An alert's ``score`` (0–100) sorts alerts by three things, each one only breaking the
ties of the one before:

1. **severity** sets the band: info 0–32, warning 34–66, critical 68–100, so a critical
   alert always outranks a warning and a warning always outranks an info;
2. **money at risk**, as a share of the loan it concerns (whole percent, 0–100 %),
   moves the alert from the bottom of its band (nothing at risk) to the top (the whole
   loan or more);
3. **age** (time since it opened, event time) adds less than one percent step: half of
   one step after a day open, so of two alerts with the same share the older one ranks
   first, and no age ever outranks one more percent of the loan.

``score = band start + 32 × (percent at risk + age / (age + 1 day)) / 101``

*Money at risk* (in the loan's currency) is the value of the goods the alert finds
missing when its detector measures it (an inventory shortfall, a slow loss, goods moved
to another lender's lot); otherwise the pledged value of the collateral the alert puts
in doubt: its lot, or the lots kept where its device is (a vehicle is its own site), or
nothing when it concerns no pledged collateral. It is compared with the principal of
the loans those lots secure (the alert's loan when none).

The detector's own strength of evidence stays on the alert as ``detector_score``; the
*borrower* score (`riskstream.scoring.borrower_risk`) is a different figure: how risky
the borrower is overall, from all its open alerts and its coverage.
"""

import math
from dataclasses import dataclass
from typing import Any

from riskstream.engine.alerts import Alert
from riskstream.engine.fleet_index import CollateralContext, FleetIndex

BAND_START = {"info": 0.0, "warning": 34.0, "critical": 68.0}
BAND_WIDTH = 32.0
AGE_HALF_S = 86_400.0
"""Age at which an alert has half of its (sub-percent) age step."""
STEPS = 101.0
"""100 whole percents of money at risk, plus one step that age never fills."""

SHORTFALL_KEYS = ("shortfall_value", "lost_value")
"""Evidence fields in which a detector gives the value of the goods it finds missing."""


@dataclass(frozen=True, slots=True)
class Price:
    """What an alert puts at risk, in one currency."""

    money_at_risk: float
    currency: str | None
    exposure: float | None
    """Principal of the loans concerned (None when no loan is known)."""

    @property
    def percent(self) -> int:
        """Money at risk as whole percent of the exposure, 0–100 (0 without exposure)."""
        if not self.exposure or self.exposure <= 0 or self.money_at_risk <= 0:
            return 0
        return min(100, math.floor(100.0 * self.money_at_risk / self.exposure + 1e-9))


def alert_score(severity: str, percent_at_risk: int, age_s: float) -> float:
    """The score of an alert of ``severity`` with ``percent_at_risk`` of its loan at risk,
    open for ``age_s`` seconds (see the module docstring)."""
    start = BAND_START.get(severity, 0.0)
    percent = min(100, max(0, int(percent_at_risk)))
    age = max(0.0, age_s) if math.isfinite(age_s) else 0.0
    fraction = age / (age + AGE_HALF_S)
    return start + BAND_WIDTH * (percent + fraction) / STEPS


def _lots(alert: Alert, index: FleetIndex) -> list[CollateralContext]:
    """The pledged lots an alert concerns: its lot, else those kept at its site."""
    evidence = alert.evidence or {}
    device = index.devices.get(alert.device_id or "")
    own = device.collateral_id if device is not None else None
    for candidate in (evidence.get("collateral_id"), alert.subject, own):
        lot = index.collateral.get(candidate) if isinstance(candidate, str) else None
        if lot is not None and lot.borrower_id == alert.borrower_id:
            return [lot]
    site = alert.site_id or (device.site_id if device is not None else None)
    ids = index.lots_at.get(site or "", ())
    return [
        index.collateral[c] for c in ids if index.collateral[c].borrower_id == alert.borrower_id
    ]


def _missing_value(alert: Alert, lots: list[CollateralContext]) -> float | None:
    """The value of the goods the detector found missing, when it says so."""
    evidence = alert.evidence or {}
    for key in SHORTFALL_KEYS:
        value = evidence.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    left = evidence.get("left_kg")
    if len(lots) == 1 and isinstance(left, int | float) and not isinstance(left, bool):
        c = lots[0].collateral
        quantity = c.quantity_from_kg(float(left))
        if quantity is not None and quantity >= 0:
            return quantity * c.unit_value
    return None


def price(alert: Alert, index: FleetIndex) -> Price:
    """What ``alert`` puts at risk (see the module docstring)."""
    lots = _lots(alert, index)
    loan_ids = list(dict.fromkeys(lot.loan_id for lot in lots))
    if not loan_ids and alert.loan_id in index.loans:
        loan_ids = [alert.loan_id]
    if not loan_ids:
        loan_ids = list(index.loans_of.get(alert.borrower_id, ())[:1])
    loans = [index.loans[i] for i in loan_ids if i in index.loans]
    if not loans:
        return Price(0.0, None, None)
    currency = loans[0].currency
    loans = [loan for loan in loans if loan.currency == currency]
    kept = {loan.id for loan in loans}
    lots = [lot for lot in lots if lot.loan_id in kept]
    missing = _missing_value(alert, lots)
    money = missing if missing is not None else sum(lot.collateral.pledged_value for lot in lots)
    return Price(round(money, 2), currency, round(sum(loan.principal for loan in loans), 2))


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def basis(severity: str, p: Price, age_s: float) -> str:
    """One sentence saying how the score was reached."""
    start = BAND_START.get(severity, 0.0)
    band = f"{severity} band {start:g}–{start + BAND_WIDTH:g}"
    if p.currency is None or p.exposure is None:
        money = "no loan concerned"
    else:
        money = (
            f"{p.currency} {p.money_at_risk:,.0f} at risk = {p.percent} % of "
            f"{p.currency} {p.exposure:,.0f} lent"
        )
    return f"{band}; {money}; open {_span(max(0.0, age_s))}"


def _age(opened_at: float, now: float, resolved_at: float | None) -> float:
    end = now if resolved_at is None else min(now, resolved_at)
    return max(0.0, end - opened_at)


def apply(alert: Alert, index: FleetIndex, now: float) -> Alert:
    """Set ``alert``'s money at risk and score as of event time ``now`` (in place)."""
    if alert.detector_score is None:
        alert.detector_score = alert.score
    p = price(alert, index)
    age = _age(alert.opened_at, now, alert.resolved_at)
    alert.money_at_risk = p.money_at_risk
    alert.currency = p.currency
    alert.exposure = p.exposure
    alert.money_at_risk_pct = p.percent
    alert.score = round(alert_score(alert.severity, p.percent, age), 6)
    alert.score_basis = basis(alert.severity, p, age)
    return alert


def rescored(alert: dict[str, Any], now: float | None) -> dict[str, Any]:
    """A stored alert with its score as of event time ``now`` (its age moves on), from
    the money at risk it was given; alerts stored before money at risk count 0 %."""
    opened = float(alert["opened_at"])
    resolved = alert.get("resolved_at")
    when = float(alert.get("updated_at") or opened) if now is None else max(now, opened)
    age = _age(opened, when, None if resolved is None else float(resolved))
    money = alert.get("money_at_risk")
    exposure = alert.get("exposure")
    p = Price(
        float(money) if isinstance(money, int | float) else 0.0,
        alert.get("currency"),
        float(exposure) if isinstance(exposure, int | float) else None,
    )
    if alert.get("detector_score") is None:
        alert["detector_score"] = alert.get("score")
    alert["money_at_risk_pct"] = p.percent
    alert["score"] = round(alert_score(str(alert["severity"]), p.percent, age), 6)
    alert["score_basis"] = basis(str(alert["severity"]), p, age)
    return alert
