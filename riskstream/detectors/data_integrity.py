"""Data integrity: someone else sending as a device, or a device's messages getting lost.

Fed by ingest's `IntegritySignal`s (`Engine.integrity`), not by readings: a replayed
message is refused and a seq conflict cannot be told apart from the genuine message,
so neither shows in the readings. Per device, the signals of the last ``within`` are
counted:

- ``data_integrity``: at least ``min_messages`` suspicious messages (replayed, a seq
  already taken by a message of another time, a failed or missing signature);
- ``messages_lost``: at least ``min_lost`` messages missing from the seq sequence.

Both resolve once no such signal came for ``clear_after`` (checked on `tick`).
"""

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from ingest.integrity import SUSPICIOUS, IntegritySignal
from riskstream.detectors.findings import device_finding
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    RuleTable,
    Seconds,
)

INTEGRITY = "data_integrity"
LOST = "messages_lost"

_WHAT = {
    "replayed": "replayed (a seq seen before, arriving long after its time)",
    "conflict": "sharing a seq with a message of another time (a second sender)",
    "bad_signature": "signed with a key that is not the device's",
    "missing_signature": "unsigned although the tenant requires signatures",
}


class DataIntegrityRule(RuleTable):
    """Messages a device did not send: replayed, a taken seq, a failed signature."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    min_messages: int = Field(3, ge=1, description="doubtful messages within `within`")
    within: Seconds = Field(3600.0, description="the window `min_messages` are counted in")
    clear_after: ClearAfter = 7200.0
    severity: AlertSeverity = "critical"


class MessagesLostRule(RuleTable):
    """Messages missing from a device's seq sequence (lost by the network or a broker)."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    min_lost: int = Field(10, ge=1, description="missing messages within `within`")
    within: Seconds = Field(3600.0, description="the window `min_lost` are counted in")
    clear_after: ClearAfter = 7200.0
    severity: AlertSeverity = "warning"


@dataclass(slots=True)
class _Window:
    """Signals of one device and one alert kind within the rule's window."""

    events: deque[tuple[float, str, int, float | None]] = field(default_factory=deque)
    total: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    raised: bool = False
    opened_at: float = 0.0

    def add(self, signal: IntegritySignal, within: float) -> None:
        if not self.events:
            self.first_at = signal.at
        self.events.append((signal.at, signal.kind, signal.count, signal.ts))
        self.total += signal.count
        self.last_at = signal.at
        self.expire(signal.at, within)

    def expire(self, now: float, within: float) -> None:
        while self.events and self.events[0][0] < now - within:
            self.total -= self.events.popleft()[2]
        if self.events:
            self.first_at = self.events[0][0]


class DataIntegrityDetector:
    """Counts each device's doubtful messages and raises or clears its alerts."""

    def __init__(
        self, index: FleetIndex, rule: DataIntegrityRule, lost_rule: MessagesLostRule
    ) -> None:
        self.index = index
        self.rule = rule
        self.lost_rule = lost_rule
        # device id → its tenant's or loan's (rule, lost rule) where they differ from
        # the file's (set by the engine from its `RuleScope`)
        self.overrides: dict[str, tuple[DataIntegrityRule, MessagesLostRule]] = {}
        self._windows: dict[tuple[str, str], _Window] = {}

    def _rules(self, device_id: str) -> tuple[DataIntegrityRule, MessagesLostRule]:
        return self.overrides.get(device_id, (self.rule, self.lost_rule))

    def observe(
        self, signals: Iterable[IntegritySignal], book: AlertBook, wall: float
    ) -> list[Alert]:
        """Take ingest's signals; return alerts opened or updated."""
        changed: list[Alert] = []
        for signal in signals:
            device = self.index.devices.get(signal.device_id)
            if device is None or device.tenant != signal.tenant:
                continue
            suspicious = signal.kind in SUSPICIOUS
            kind = INTEGRITY if suspicious else LOST
            rule, lost_rule = self._rules(signal.device_id)
            rule_on = rule.enabled if suspicious else lost_rule.enabled
            if not rule_on:
                continue
            within = rule.within if suspicious else lost_rule.within
            needed = rule.min_messages if suspicious else lost_rule.min_lost
            window = self._windows.setdefault((signal.device_id, kind), _Window())
            window.add(signal, within)
            if window.total < needed:
                continue
            if window.raised and not book.due(
                device.tenant, device.borrower_id, kind, device.device_id, signal.at
            ):
                continue
            if not window.raised:
                window.raised = True
                window.opened_at = window.first_at
            finding = self._finding(device, kind, window)
            alert = book.raise_(finding, window.opened_at, signal.at, wall)
            if alert is not None:
                changed.append(alert)
        return changed

    def next_due(self) -> float:
        """The earliest clock time a `tick` may change anything: a signal leaving its
        window, or a raised alert's quiet time passing ``clear_after``."""
        due = math.inf
        for (device_id, kind), window in self._windows.items():
            rule, lost_rule = self._rules(device_id)
            if window.raised:
                clear_after = rule.clear_after if kind == INTEGRITY else lost_rule.clear_after
                due = min(due, window.last_at + clear_after)
            elif window.events:
                within = rule.within if kind == INTEGRITY else lost_rule.within
                due = min(due, window.events[0][0] + within)
            else:
                return -math.inf
        return due

    def tick(self, now: float, book: AlertBook) -> list[Alert]:
        """Resolve alerts of devices with no such signal for the rule's ``clear_after``."""
        changed: list[Alert] = []
        for (device_id, kind), window in list(self._windows.items()):
            rule, lost_rule = self._rules(device_id)
            rule_within = rule.within if kind == INTEGRITY else lost_rule.within
            clear_after = rule.clear_after if kind == INTEGRITY else lost_rule.clear_after
            if not window.raised:
                window.expire(now, rule_within)
                if not window.events:
                    del self._windows[(device_id, kind)]
                continue
            if now - window.last_at < clear_after:
                continue
            device = self.index.devices.get(device_id)
            del self._windows[(device_id, kind)]
            if device is None:
                continue
            reason = (
                f"cleared: no such message since {clock(window.last_at)} "
                f"({format_duration(clear_after)})"
            )
            alert = book.clear(device.tenant, device.borrower_id, kind, device_id, now, reason)
            if alert is not None:
                changed.append(alert)
        return changed

    def _finding(self, device: DeviceContext, kind: str, window: _Window) -> Finding:
        by_kind: dict[str, int] = {}
        lags: list[float] = []
        for at, what, count, ts in window.events:
            by_kind[what] = by_kind.get(what, 0) + count
            if what == "replayed" and ts is not None:
                lags.append(at - ts)
        span = format_duration(max(window.last_at - window.first_at, 0.0))
        rule, lost_rule = self._rules(device.device_id)
        if kind == INTEGRITY:
            severity = rule.severity
            reasons = [
                f"{n} message{'s' if n != 1 else ''} of {device.kind.value} {device.device_id} "
                f"{_WHAT[what]}"
                for what, n in sorted(by_kind.items(), key=lambda kv: -kv[1])
            ]
            if lags:
                reasons.append(
                    f"replayed messages arrived {format_duration(min(lags))} to "
                    f"{format_duration(max(lags))} after their time"
                )
            reasons.append(
                f"{window.total} doubtful messages in {span} since {clock(window.first_at)}; "
                "readings from this device may not be genuine"
            )
            score = 50.0 + 5.0 * window.total
        else:
            severity = lost_rule.severity
            expected = max(1.0, (window.last_at - window.first_at) / device.interval_s)
            reasons = [
                f"{window.total} messages of {device.kind.value} {device.device_id} lost in "
                f"{span} since {clock(window.first_at)} (seq numbers never received; "
                f"about {expected:,.0f} expected every {format_duration(device.interval_s)})"
            ]
            score = 10.0 + window.total
        return device_finding(
            device,
            kind=kind,
            severity=severity,
            score=score,
            reasons=reasons,
            evidence={
                "messages": window.total,
                "by_signal": by_kind,
                "first_at": window.first_at,
                "last_at": window.last_at,
                "window_s": rule.within if kind == INTEGRITY else lost_rule.within,
            },
        )
