"""The credit matrix's component scores: each 0–100 (high = risky) with its reasons.

Which component an open alert counts in is declared by its kind's rule model, next to its
detector (`RuleTable.matrix_component`, collected by the detector registry).

- ``collateral``: coverage of the worst weighed lot (the scorecard's bands, scaled to
  100), the value short of the pledge, the volatility of stock (standard deviation of
  the daily change of coverage) and open collateral alerts;
- ``operations``: open production alerts (output or power against the line's own
  baseline, idle machines, drift, decline); lacks data without a production line;
- ``conduct``: open alerts on how the borrower handles goods and devices (out-of-hours
  movements, vehicles, data integrity, tampering, stuck or silent devices);
- ``behaviour``: open anomaly alerts (the anomaly model and custom rules: what the
  named rules do not cover); lacks data under the matrix's ``min_history_days``;
- ``repayment``: the repayment record (`riskstream.scoring.repayment`); lacks data
  while the lender has sent no loan events;
- ``outcome_model``: 100 × the outcome model's probability; lacks data until the model
  has learned a bad outcome.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from riskstream.detectors.registry import matrix_components
from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LotCoverage
from riskstream.rules.fields import AlertComponent
from riskstream.scoring.repayment import RepaymentRecord

SEVERITY_POINTS: dict[str, float] = {"info": 15.0, "warning": 40.0, "critical": 70.0}
"""Points of one open alert in the component of its kind."""

COMPONENT_OF_KIND: dict[str, AlertComponent] = matrix_components()
"""The component each built-in alert kind counts in, as its detector's rule model declares."""
UNNAMED_KIND_COMPONENT: AlertComponent = "behaviour"
"""The component of kinds no built-in rule names: custom rules' kinds."""
VOLATILITY_FULL = 0.10
"""A daily change of coverage with this standard deviation gives `VOLATILITY_POINTS`."""
VOLATILITY_POINTS = 30.0


def component_of_kind(kind: str) -> str:
    """The component an alert kind counts in (kinds no rule names: ``behaviour``)."""
    return COMPONENT_OF_KIND.get(kind, UNNAMED_KIND_COMPONENT)


@dataclass(frozen=True)
class ComponentScore:
    """One component of one borrower: its score, whether it has data, and why."""

    name: str
    score: float
    has_data: bool
    reasons: list[str]


@dataclass(frozen=True)
class BorrowerFacts:
    """What the components are computed from, for one borrower at one event time."""

    alerts: Sequence[Alert]
    lots: Sequence[LotCoverage]
    unit_values: dict[str, float]
    currency: str
    has_collateral: bool
    has_production: bool
    coverage_volatility: float | None
    history_days: float
    min_history_days: float
    repayment: RepaymentRecord
    loan_events_known: bool
    model_p: float
    model_bad_outcomes: int
    coverage_bands: Sequence[tuple[float, float]]


def _alert_points(alerts: Sequence[Alert], component: str) -> tuple[float, list[str]]:
    pts, reasons = 0.0, []
    for alert in sorted(alerts, key=lambda a: (a.kind, a.subject)):
        if component_of_kind(alert.kind) != component:
            continue
        add = SEVERITY_POINTS.get(alert.severity, 0.0)
        pts += add
        reasons.append(f"open {alert.severity} alert {alert.kind} on {alert.subject}: +{add:g}")
    return pts, reasons


def _capped(name: str, pts: float, reasons: list[str], has_data: bool = True) -> ComponentScore:
    if pts > 100.0:
        reasons.append("capped at 100")
    return ComponentScore(name, round(min(100.0, max(0.0, pts)), 1), has_data, reasons)


def _band_points(coverage: float, bands: Sequence[tuple[float, float]]) -> float:
    top = max((p for _, p in bands), default=0.0) or 1.0
    for threshold, pts in bands:
        if coverage >= threshold:
            return 100.0 * pts / top
    return 100.0 * bands[-1][1] / top


def collateral(facts: BorrowerFacts) -> ComponentScore:
    """Coverage, value shortfall, volatility of stock and collateral alerts."""
    pts, reasons = 0.0, []
    worst = min(facts.lots, key=lambda lot: lot.coverage) if facts.lots else None
    if worst is not None:
        pts += _band_points(worst.coverage, facts.coverage_bands)
        short = sum(
            max(0.0, lot.pledged - lot.on_hand) * facts.unit_values.get(lot.collateral_id, 0.0)
            for lot in facts.lots
        )
        reasons.append(
            f"worst coverage {worst.coverage:.0%} of pledge on lot {worst.collateral_id}: "
            f"+{pts:.0f}; value short of pledges {short:,.0f} {facts.currency}"
        )
    if facts.coverage_volatility is not None:
        vol = min(
            VOLATILITY_POINTS, VOLATILITY_POINTS * facts.coverage_volatility / VOLATILITY_FULL
        )
        pts += vol
        reasons.append(
            f"stock volatility: daily change of coverage σ {facts.coverage_volatility:.1%}: "
            f"+{vol:.0f}"
        )
    alert_pts, alert_reasons = _alert_points(facts.alerts, "collateral")
    has_data = facts.has_collateral or worst is not None or alert_pts > 0
    if not has_data:
        return ComponentScore("collateral", 0.0, False, ["no pledged collateral"])
    if worst is None:
        reasons.append("no weighed lot yet")
    return _capped("collateral", pts + alert_pts, [*reasons, *alert_reasons])


def operations(facts: BorrowerFacts) -> ComponentScore:
    """Open production alerts; lacks data without a production line."""
    pts, reasons = _alert_points(facts.alerts, "operations")
    if not facts.has_production and not pts:
        return ComponentScore("operations", 0.0, False, ["no production line"])
    return _capped("operations", pts, reasons or ["no open production alert: 0"])


def conduct(facts: BorrowerFacts) -> ComponentScore:
    """Open alerts on movements, data integrity, tampering and device health."""
    pts, reasons = _alert_points(facts.alerts, "conduct")
    return _capped("conduct", pts, reasons or ["no open conduct or device alert: 0"])


def behaviour(facts: BorrowerFacts) -> ComponentScore:
    """Open anomaly alerts; lacks data while the anomaly models are young."""
    pts, reasons = _alert_points(facts.alerts, "behaviour")
    if facts.history_days < facts.min_history_days:
        return ComponentScore(
            "behaviour",
            0.0,
            False,
            [f"{facts.history_days:.1f} days of data, under {facts.min_history_days:g} days"],
        )
    return _capped("behaviour", pts, reasons or ["no open anomaly alert: 0"])


def repayment(facts: BorrowerFacts, now: float) -> ComponentScore:
    """The repayment record; lacks data while the lender has sent no loan events."""
    if not facts.loan_events_known:
        return ComponentScore("repayment", 0.0, False, ["no loan events received from the lender"])
    pts, reasons = facts.repayment.score(now)
    return _capped("repayment", pts, reasons)


def outcome_model(facts: BorrowerFacts) -> ComponentScore:
    """The outcome model's probability; lacks data until it learned a bad outcome."""
    if facts.model_bad_outcomes <= 0:
        return ComponentScore("outcome_model", 0.0, False, ["no bad outcome learned yet"])
    return _capped(
        "outcome_model",
        100.0 * facts.model_p,
        [f"p(missed payment or default within the horizon) {facts.model_p:.2f}"],
    )


def components(facts: BorrowerFacts, now: float) -> list[ComponentScore]:
    """Every component of one borrower, in `riskstream.rules.matrix.COMPONENTS` order."""
    return [
        collateral(facts),
        operations(facts),
        conduct(facts),
        behaviour(facts),
        repayment(facts, now),
        outcome_model(facts),
    ]
