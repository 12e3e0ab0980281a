"""Alerts and their lifecycle: one open alert per (tenant, borrower, kind, subject).

A condition that holds opens an alert; while it keeps holding, the open alert is
updated (at most every ``update_every`` seconds of event time, or at once when the
severity changes); when it has stayed clear for the rule's clear period the alert
resolves itself. A later recurrence opens a new alert with a new id.

Cooldown (``[alerts.cooldown]``): after an alert resolved itself, a recurrence of the
same (borrower, kind, subject) within the cooldown opens no new alert. It is counted
instead, on the resolved alert (``evidence.suppressed_recurrences``, and a reason, sent
to the feed as an update of that resolved alert), so a flapping sensor does not page
anyone again while nothing is hidden; if the condition still holds when the cooldown
ends, a new alert opens then, saying how often it recurred during the cooldown.

Escalation (``[alerts.escalate_after]``): an alert still ``open`` (nobody acknowledged
it) ``escalate_after`` of clock time after it was raised goes up one severity step,
with a reason, and again after each further ``escalate_after`` until critical.
"""

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from riskstream.rules.settings import AlertSettings

Severity = Literal["info", "warning", "critical"]
Status = Literal["open", "acknowledged", "resolved"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
NEXT_SEVERITY: dict[str, Severity] = {"info": "warning", "warning": "critical"}
PRUNE_EVERY_S = 60.0
Key = tuple[str, str, str, str]


def _span(seconds: float) -> str:
    """``2 h``, ``90 min``, ``45 s``: exact when it can be."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"


def _at(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


@dataclass
class Alert:
    """The alert contract of DESIGN.md (plus ``subject`` and ``resolved_at``).

    ``score`` is the alert score (`riskstream.scoring.alert_score`: severity band, then
    money at risk, then age), which the engine sets on every alert it emits; until then
    it holds the detector's own strength of evidence, kept as ``detector_score``.
    """

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
    detector_score: float | None = None
    money_at_risk: float | None = None
    currency: str | None = None
    exposure: float | None = None
    money_at_risk_pct: int = 0
    score_basis: str = ""

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
class Cooling:
    """A key in its cooldown: the alert that resolved, and the recurrences suppressed."""

    until: float
    resolved: Alert
    suppressed: int = 0
    last_opened_at: float | None = None


@dataclass
class AlertBook:
    """Open alerts keyed by (tenant, borrower, kind, subject); emits what changed."""

    update_every_s: float = 300.0
    settings: AlertSettings = field(default_factory=AlertSettings)
    _open: dict[Key, Alert] = field(default_factory=dict)
    _last_emitted: dict[str, float] = field(default_factory=dict)
    _closed_by_person: dict[Key, float] = field(default_factory=dict)
    _cooling: dict[Key, Cooling] = field(default_factory=dict)
    _raised_at: dict[str, float] = field(default_factory=dict)
    _notes: dict[str, list[str]] = field(default_factory=dict)
    _escalations: dict[str, int] = field(default_factory=dict)
    _next_prune: float = float("-inf")

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
            cooling = self._cooling.pop(key, None)
            if cooling is not None and now < cooling.until:
                self._cooling[key] = cooling
                return self._suppress(cooling, opened_at, now)
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
                detector_score=finding.score,
            )
            if cooling is not None and cooling.suppressed:
                self._notes[alert.id] = [
                    f"recurred {cooling.suppressed}× during the cooldown after alert "
                    f"{cooling.resolved.id} resolved at {_at(cooling.resolved.resolved_at or now)}"
                ]
                alert.reasons = [*finding.reasons, *self._notes[alert.id]]
            self._open[key] = alert
            self._last_emitted[alert.id] = now
            self._raised_at[alert.id] = now
            return replace(alert)
        escalated = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[alert.severity]
        alert.severity = finding.severity if escalated else alert.severity
        alert.score = finding.score
        alert.detector_score = finding.score
        alert.reasons = [*finding.reasons, *self._notes.get(alert.id, ())]
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
        self._drop(alert.id)
        cooldown = self._cooldown((tenant, borrower_id, kind, subject))
        if cooldown > 0:
            self._cooling[(tenant, borrower_id, kind, subject)] = Cooling(
                now + cooldown, replace(alert)
            )
        return replace(alert)

    def _cooldown(self, key: Key) -> float:
        return self.settings.cooldown_of(key[2])

    def _drop(self, alert_id_: str) -> None:
        self._last_emitted.pop(alert_id_, None)
        self._raised_at.pop(alert_id_, None)
        self._notes.pop(alert_id_, None)
        self._escalations.pop(alert_id_, None)

    def _suppress(self, cooling: Cooling, opened_at: float, now: float) -> Alert | None:
        """Count a recurrence inside the cooldown on the resolved alert (once per breach)."""
        if cooling.last_opened_at == opened_at:
            return None
        cooling.suppressed += 1
        cooling.last_opened_at = opened_at
        resolved = cooling.resolved
        resolved.updated_at = now
        resolved.evidence = {**resolved.evidence, "suppressed_recurrences": cooling.suppressed}
        note = (
            f"recurred {cooling.suppressed}× since it resolved (last at {_at(opened_at)}); "
            f"no new alert during the cooldown, until {_at(cooling.until)}"
        )
        kept = [r for r in resolved.reasons if not r.startswith("recurred ")]
        resolved.reasons = [*kept, note]
        return replace(resolved)

    def next_update(self, tenant: str, borrower_id: str, kind: str, subject: str) -> float:
        """When raising this key would next emit (see `due`): at once if it is not open."""
        alert = self._open.get((tenant, borrower_id, kind, subject))
        if alert is None:
            return -math.inf
        emitted = self._last_emitted.get(alert.id)
        return -math.inf if emitted is None else emitted + self.update_every_s

    def next_due(self) -> float:
        """The earliest clock time `escalate` may change anything: an ended cooldown to
        drop, or an unacknowledged alert to escalate."""
        due = math.inf
        if self._cooling:
            ends = min(c.until for c in self._cooling.values())
            due = max(self._next_prune, ends)
        if any(v > 0 for v in self.settings.escalate_after.values()):
            for alert in self._open.values():
                after = self.settings.escalate_after_of(alert.kind)
                raised = self._raised_at.get(alert.id)
                if alert.status != "open" or after <= 0 or raised is None:
                    continue
                if alert.severity != "critical":
                    done = self._escalations.get(alert.id, 0)
                    due = min(due, raised + (done + 1) * after)
        return due

    def escalate(self, now: float, wall: float) -> list[Alert]:
        """Raise by one severity step every open alert unacknowledged for ``escalate_after``.

        Returns snapshots of the alerts escalated (updates for the feed). Also drops
        cooldowns that have ended.
        """
        del wall  # escalation keeps the alert's detected_at
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            for key in [k for k, c in self._cooling.items() if c.until <= now]:
                del self._cooling[key]
        if not any(v > 0 for v in self.settings.escalate_after.values()):
            return []
        changed: list[Alert] = []
        for alert in self._open.values():
            after = self.settings.escalate_after_of(alert.kind)
            raised = self._raised_at.get(alert.id)
            if alert.status != "open" or after <= 0 or raised is None:
                continue
            done = self._escalations.get(alert.id, 0)
            if alert.severity == "critical" or now - raised < (done + 1) * after:
                continue
            self._escalations[alert.id] = done + 1
            alert.severity = NEXT_SEVERITY[alert.severity]
            note = (
                f"escalated to {alert.severity}: not acknowledged for {_span((done + 1) * after)}"
            )
            self._notes.setdefault(alert.id, []).append(note)
            alert.reasons = [*alert.reasons, note]
            alert.updated_at = now
            self._last_emitted[alert.id] = now
            changed.append(replace(alert))
        return changed

    def forget(self, alert_id_: str) -> None:
        """Drop an alert a person resolved; only a recurrence after the condition cleared
        opens a new one."""
        for key, alert in list(self._open.items()):
            if alert.id == alert_id_:
                del self._open[key]
                self._drop(alert_id_)
                self._closed_by_person[key] = alert.opened_at

    def acknowledge(self, alert_id_: str) -> None:
        """Mark an open alert acknowledged so later updates keep that status."""
        for alert in self._open.values():
            if alert.id == alert_id_:
                alert.status = "acknowledged"

    def open_alerts(self) -> list[Alert]:
        """Alerts currently open or acknowledged."""
        return list(self._open.values())
