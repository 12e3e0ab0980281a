"""The `Finding` of a device's or a pledged lot's alert: whom it speaks for, what it says."""

from typing import Any

from riskstream.engine.alerts import Finding, Severity
from riskstream.engine.fleet_index import CollateralContext, DeviceContext


def device_finding(
    device: DeviceContext,
    kind: str,
    severity: Severity,
    score: float,
    reasons: list[str],
    evidence: dict[str, Any],
    rule: str | None = None,
) -> Finding:
    """A finding about ``device`` itself (its subject), scored 0–100 to one decimal.

    Args:
        device: the device; its tenant, borrower, loan and site go on the alert.
        kind: the alert kind.
        severity: the alert's severity.
        score: the alert's score, clamped to 0–100.
        reasons: human sentences.
        evidence: values and thresholds behind it.
        rule: the rule that raised it; ``rules.<kind>`` by default.
    """
    return Finding(
        tenant=device.tenant,
        borrower_id=device.borrower_id,
        loan_id=device.loan_id,
        site_id=device.site_id,
        device_id=device.device_id,
        kind=kind,
        subject=device.device_id,
        severity=severity,
        score=round(min(100.0, max(0.0, score)), 1),
        reasons=reasons,
        evidence=evidence,
        rule=rule if rule is not None else f"rules.{kind}",
    )


def lot_finding(
    lot: CollateralContext,
    kind: str,
    severity: Severity,
    score: float,
    reasons: list[str],
    evidence: dict[str, Any],
) -> Finding:
    """A finding about a pledged lot (its subject), scored 0–100 to one decimal.

    Its tenant, borrower, loan and site go on the alert, and its load cell when it has
    only one; the rule is ``rules.<kind>``.
    """
    return Finding(
        tenant=lot.tenant,
        borrower_id=lot.borrower_id,
        loan_id=lot.loan_id,
        site_id=lot.collateral.site,
        device_id=lot.load_cells[0] if len(lot.load_cells) == 1 else None,
        kind=kind,
        subject=lot.collateral.id,
        severity=severity,
        score=round(min(100.0, max(0.0, score)), 1),
        reasons=reasons,
        evidence=evidence,
        rule=f"rules.{kind}",
    )
