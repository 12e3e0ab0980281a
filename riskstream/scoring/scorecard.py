"""The cold-start scorecard: points per feature band from the rules file, capped 0–100.

Three components, each with reasons a person can read:
- ``alerts``: points per open alert by kind and severity (silent devices excluded);
- ``coverage``: the band of the borrower's worst collateral coverage;
- ``data_quality``: points per silent device.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from riskstream.engine.alerts import Alert
from riskstream.engine.coverage import LotCoverage
from riskstream.rules.settings import ScorecardSettings, SeverityPoints

SILENT_KIND = "device_silent"


@dataclass(frozen=True)
class ScorecardResult:
    """Points per component, the capped total, the model features and the reasons."""

    points: dict[str, float]
    total: float
    features: dict[str, float]
    reasons: list[str]


def coverage_points(coverage: float, bands: list[tuple[float, float]]) -> float:
    """Points of the first band whose threshold ``coverage`` reaches (else the last)."""
    for threshold, points in bands:
        if coverage >= threshold:
            return points
    return bands[-1][1]


def score(
    settings: ScorecardSettings, alerts: Iterable[Alert], lots: list[LotCoverage]
) -> ScorecardResult:
    """Score one borrower from its open alerts and the coverage of its lots."""
    reasons: list[str] = []
    alert_pts = 0.0
    silent: list[str] = []
    open_alerts = 0
    for alert in sorted(alerts, key=lambda a: (a.kind, a.subject)):
        if alert.kind == SILENT_KIND:
            silent.append(alert.subject)
            continue
        open_alerts += 1
        table = settings.alert_points.get(alert.kind) or settings.alert_points.get("default")
        pts = getattr(table or SeverityPoints(), alert.severity)
        alert_pts += pts
        reasons.append(
            f"open {alert.severity} alert {alert.kind} on {alert.subject}: +{pts:g} points"
        )
    if alert_pts > settings.alert_points_max:
        reasons.append(f"alert points capped at {settings.alert_points_max:g}")
        alert_pts = settings.alert_points_max

    cov_pts = 0.0
    worst = min(lots, key=lambda lot: lot.coverage) if lots else None
    if worst is not None:
        cov_pts = coverage_points(worst.coverage, settings.coverage)
        reasons.append(
            f"coverage {worst.coverage:.0%} of pledge on lot {worst.collateral_id} "
            f"({worst.on_hand:,.1f} of {worst.pledged:,.1f} {worst.unit}): +{cov_pts:g} points"
        )
    else:
        reasons.append("coverage: no weighed collateral yet: +0 points")

    dq_pts = min(settings.data_quality_max, settings.silent_device_points * len(silent))
    if silent:
        reasons.append(
            f"{len(silent)} silent device(s) ({', '.join(sorted(silent))}): +{dq_pts:g} points"
        )

    points = {"alerts": alert_pts, "coverage": cov_pts, "data_quality": dq_pts}
    total = max(0.0, min(100.0, sum(points.values())))
    features = {
        "alert_points": alert_pts,
        "coverage_points": cov_pts,
        "data_quality_points": dq_pts,
        "coverage_gap": max(0.0, 1.0 - worst.coverage) if worst is not None else 0.0,
        "open_alerts": float(open_alerts),
        "silent_devices": float(len(silent)),
    }
    return ScorecardResult(points, total, features, reasons)
