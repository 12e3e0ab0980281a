"""Device silent: no reading for longer than its expected interval allows (timer-driven).

Silence is measured against the engine's clock (`tick(now)`), which follows event time
while data flows and wall time when it does not. A device that reports again resolves
its alert at once.
"""

from devices.reading import Reading
from riskstream.alerts import Alert, AlertBook
from riskstream.detectors.findings import device_finding
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.fleet_index import DeviceContext, FleetIndex
from riskstream.rules_file import DeadmanRule

KIND = "device_silent"


class DeadmanDetector:
    """Tracks the last event time of every registered device."""

    def __init__(self, index: FleetIndex, rule: DeadmanRule) -> None:
        self.index = index
        self.rule = rule
        # device id → the rule of its tenant's or loan's override, where it differs
        # from `rule` (set by the engine from its `RuleScope`)
        self.overrides: dict[str, DeadmanRule] = {}
        self.last_seen: dict[str, float] = {}
        self._silent: set[str] = set()
        self._started = False

    def seen(self, reading: Reading, device: DeviceContext, book: AlertBook) -> Alert | None:
        """Note a reading; resolve the device's silence alert if it had one."""
        previous = self.last_seen.get(reading.device_id)
        if previous is None or reading.ts > previous:
            self.last_seen[reading.device_id] = reading.ts
        if reading.device_id in self._silent:
            self._silent.discard(reading.device_id)
            reason = f"cleared: reporting again since {clock(reading.ts)}"
            return book.clear(
                device.tenant, device.borrower_id, KIND, device.device_id, reading.ts, reason
            )
        return None

    def tick(self, now: float, book: AlertBook, wall: float) -> list[Alert]:
        """Raise or refresh silence alerts as of clock time ``now``."""
        if not self.rule.enabled and not self.overrides:
            return []
        if not self._started:
            # Devices that never reported are counted as silent from the first tick on.
            self._started = True
            for device_id in self.index.devices:
                self.last_seen.setdefault(device_id, now)
        changed: list[Alert] = []
        for device_id, last in self.last_seen.items():
            device = self.index.devices.get(device_id)
            if device is None:
                continue
            rule = self.overrides.get(device_id, self.rule)
            if not rule.enabled:
                continue
            limit = max(rule.missed_intervals * device.interval_s, rule.min_silence)
            silence = now - last
            if silence <= limit:
                continue
            self._silent.add(device_id)
            if not book.due(device.tenant, device.borrower_id, KIND, device_id, now):
                continue
            finding = device_finding(
                device,
                kind=KIND,
                severity=rule.severity,
                score=20.0 + silence / limit * 10.0,
                reasons=[
                    f"{device.kind.value} {device_id} silent for {format_duration(silence)} "
                    f"(expected every {format_duration(device.interval_s)}); "
                    f"last reading {clock(last)}"
                ],
                evidence={
                    "last_seen": last,
                    "silence_s": round(silence, 1),
                    "expected_interval_s": device.interval_s,
                    "limit_s": limit,
                },
            )
            alert = book.raise_(finding, last + limit, now, wall)
            if alert is not None:
                changed.append(alert)
        return changed
