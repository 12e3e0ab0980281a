"""Alerts and their lifecycle: one open alert per (tenant, borrower, kind, subject).

A condition that holds opens an alert; while it keeps holding, the open alert is
updated (at most every ``update_every`` seconds of event time, or at once when the
severity changes); when it has stayed clear for the rule's clear period the alert
resolves itself. A later recurrence opens a new alert with a new id.
"""

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
Status = Literal["open", "acknowledged", "resolved"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Alert:
    """The alert contract of DESIGN.md (plus ``subject`` and ``resolved_at``)."""

    id: str
    tenant: str
    borrower_id: str
    loan_id: str | None
    site_id: str | None
    device_id: str | None
    kind: str
    subject: str
    severity: Severity
    status: Status
    opened_at: float
    detected_at: float
    updated_at: float
    score: float
    reasons: list[str]
    evidence: dict[str, Any]
    rule: str
    resolved_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def alert_id(tenant: str, borrower_id: str, kind: str, subject: str, opened_at: float) -> str:
    """Deterministic id, so a replay of the same telemetry gives the same alert ids."""
    key = f"{tenant}|{borrower_id}|{kind}|{subject}|{opened_at:.3f}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Finding:
    """What a detector says about one subject at one event time."""

    tenant: str
    borrower_id: str
    loan_id: str | None
    site_id: str | None
    device_id: str | None
    kind: str
    subject: str
    severity: Severity
    score: float
    reasons: list[str]
    evidence: dict[str, Any]
    rule: str


@dataclass
class AlertBook:
    """Open alerts keyed by (tenant, borrower, kind, subject); emits what changed."""

    update_every_s: float = 300.0
    _open: dict[tuple[str, str, str, str], Alert] = field(default_factory=dict)
    _last_emitted: dict[str, float] = field(default_factory=dict)
    _closed_by_person: dict[tuple[str, str, str, str], float] = field(default_factory=dict)

    def is_open(self, tenant: str, borrower_id: str, kind: str, subject: str) -> bool:
        """Whether an alert of this key is open (or acknowledged)."""
        return (tenant, borrower_id, kind, subject) in self._open

    def due(self, tenant: str, borrower_id: str, kind: str, subject: str, now: float) -> bool:
        """Whether raising this key now would emit (new alert, or its update is due).

        Detectors ask first so that they build the reasons and evidence of a continuing
        condition only when they will be sent, not for every reading.
        """
        alert = self._open.get((tenant, borrower_id, kind, subject))
        if alert is None:
            return True
        return now - self._last_emitted.get(alert.id, now) >= self.update_every_s

    def raise_(self, finding: Finding, opened_at: float, now: float, wall: float) -> Alert | None:
        """Open or update the alert for ``finding``.

        Returns a snapshot of the alert when the change is worth emitting, else None.
        """
        key = (finding.tenant, finding.borrower_id, finding.kind, finding.subject)
        alert = self._open.get(key)
        if alert is None:
            if self._closed_by_person.get(key) == opened_at:
                return None  # a person resolved it; wait for the condition to clear and recur
            alert = Alert(
                id=alert_id(
                    finding.tenant, finding.borrower_id, finding.kind, finding.subject, opened_at
                ),
                tenant=finding.tenant,
                borrower_id=finding.borrower_id,
                loan_id=finding.loan_id,
                site_id=finding.site_id,
                device_id=finding.device_id,
                kind=finding.kind,
                subject=finding.subject,
                severity=finding.severity,
                status="open",
                opened_at=opened_at,
                detected_at=wall,
                updated_at=now,
                score=finding.score,
                reasons=finding.reasons,
                evidence=finding.evidence,
                rule=finding.rule,
            )
            self._open[key] = alert
            self._last_emitted[alert.id] = now
            return replace(alert)
        escalated = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[alert.severity]
        alert.severity = finding.severity if escalated else alert.severity
        alert.score = finding.score
        alert.reasons = finding.reasons
        alert.evidence = finding.evidence
        alert.updated_at = now
        if escalated or now - self._last_emitted.get(alert.id, now) >= self.update_every_s:
            self._last_emitted[alert.id] = now
            return replace(alert)
        return None

    def clear(
        self, tenant: str, borrower_id: str, kind: str, subject: str, now: float, reason: str
    ) -> Alert | None:
        """Resolve the open alert of this key, if any, and return a snapshot of it."""
        self._closed_by_person.pop((tenant, borrower_id, kind, subject), None)
        alert = self._open.pop((tenant, borrower_id, kind, subject), None)
        if alert is None:
            return None
        alert.status = "resolved"
        alert.updated_at = now
        alert.resolved_at = now
        alert.reasons = [*alert.reasons, reason]
        self._last_emitted.pop(alert.id, None)
        return replace(alert)

    def forget(self, alert_id_: str) -> None:
        """Drop an alert a person resolved; only a recurrence after the condition cleared
        opens a new one."""
        for key, alert in list(self._open.items()):
            if alert.id == alert_id_:
                del self._open[key]
                self._last_emitted.pop(alert_id_, None)
                self._closed_by_person[key] = alert.opened_at

    def acknowledge(self, alert_id_: str) -> None:
        """Mark an open alert acknowledged so later updates keep that status."""
        for alert in self._open.values():
            if alert.id == alert_id_:
                alert.status = "acknowledged"

    def open_alerts(self) -> list[Alert]:
        """Alerts currently open or acknowledged."""
        return list(self._open.values())
