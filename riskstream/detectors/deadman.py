"""Device silent: no reading for longer than its expected interval allows (timer-driven).

Silence is measured against the engine's clock (`tick(now)`), which follows event time
while data flows and wall time when it does not. A device that reports again resolves
its alert at once.
"""

import heapq
import math
from typing import ClassVar

from pydantic import Field

from devices.reading import Reading
from riskstream.detectors.findings import device_finding
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alarm import Alarm
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import AlertComponent, AlertSeverity, Enabled, RuleTable, Seconds

KIND = "device_silent"


class DeadmanRule(RuleTable):
    """A device silent for longer than its expected reporting allows."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    missed_intervals: float = Field(5.0, ge=1, description="silent for this many intervals")
    min_silence: Seconds = Field(
        600.0, description="silent at least this long, however short the interval"
    )
    severity: AlertSeverity = "warning"


class DeadmanDetector:
    """Tracks the last event time of every registered device.

    A tick does not scan every device: each device waits in a heap under the time its
    silence would pass its limit (last reading + limit); a tick pops only the devices
    whose time has come, re-files those that reported since, and refreshes the alerts
    of the devices already silent. The heap is rebuilt when the rules change.
    """

    def __init__(self, index: FleetIndex, rule: DeadmanRule) -> None:
        self.index = index
        self.rule = rule
        # device id → the rule of its tenant's or loan's override, where it differs
        # from `rule` (set by the engine from its `RuleScope`)
        self.overrides: dict[str, DeadmanRule] = {}
        self.last_seen: dict[str, float] = {}
        self.silent: set[str] = set()
        """Devices found silent (their alerts open); the engine checks it per reading."""
        self.declared: set[str] = set()
        """Silent devices that their gateway declared offline (a Sparkplug death
        certificate): silent at once, without waiting for the limit."""
        self._started = False
        self._due: list[tuple[float, str]] = []
        self._heap_rules: tuple[DeadmanRule, dict[str, DeadmanRule]] | None = None
        self._limits: dict[str, float | None] = {}  # `_limit` of the heap's rules
        self.alarm = Alarm()  # the engine's, once it is in one

    def seen(self, reading: Reading, device: DeviceContext, book: AlertBook) -> Alert | None:
        """Note a reading; resolve the device's silence alert if it had one."""
        previous = self.last_seen.get(reading.device_id)
        if previous is None or reading.ts > previous:
            self.last_seen[reading.device_id] = reading.ts
        if reading.device_id in self.silent:
            self.silent.discard(reading.device_id)
            self.declared.discard(reading.device_id)
            self._file(reading.device_id, reading.ts)
            limit = self._limit(reading.device_id)
            if limit is not None:
                self.alarm.ring_by(reading.ts + limit)
            reason = f"cleared: reporting again since {clock(reading.ts)}"
            return book.clear(
                device.tenant, device.borrower_id, KIND, device.device_id, reading.ts, reason
            )
        return None

    def declared_offline(self, tenant: str, device_id: str) -> None:
        """A gateway said the device is offline: count it silent from the next tick."""
        device = self.index.devices.get(device_id)
        if device is not None and device.tenant == tenant:
            self.silent.add(device_id)
            self.declared.add(device_id)

    def _limit(self, device_id: str) -> float | None:
        """Seconds of silence allowed to a device; None when its rule is off. Kept per
        device until the heap is built anew for other rules (`_rebuild`): `next_due`
        asks it for every device it re-files."""
        try:
            return self._limits[device_id]
        except KeyError:
            pass
        device = self.index.devices.get(device_id)
        rule = self.overrides.get(device_id, self.rule)
        limit = None
        if device is not None and rule.enabled:
            limit = max(rule.missed_intervals * device.interval_s, rule.min_silence)
        self._limits[device_id] = limit
        return limit

    def _file(self, device_id: str, last: float) -> None:
        limit = self._limit(device_id)
        if limit is not None:
            heapq.heappush(self._due, (last + limit, device_id))

    def _rebuild(self) -> None:
        self._heap_rules = (self.rule, self.overrides)
        self._limits = {}
        self._due = []
        for device_id, last in self.last_seen.items():
            if device_id not in self.silent:
                self._file(device_id, last)

    def next_due(self, book: AlertBook) -> float:
        """The earliest clock time a `tick` may change anything (a lower bound): the
        first device to pass its limit, or an update of a silent device's alert."""
        if not self.rule.enabled and not self.overrides:
            return math.inf
        built = self._heap_rules
        if not self._started or built is None or built[0] is not self.rule:
            return -math.inf
        if built[1] is not self.overrides:
            return -math.inf
        heap, limits, last_seen, silent = self._due, self._limits, self.last_seen, self.silent
        # re-file the devices that reported since they were filed, as `tick` would when
        # it pops them; otherwise every device would need a tick per limit of silence
        while heap:
            at, device_id = heap[0]
            limit = limits[device_id] if device_id in limits else self._limit(device_id)
            if limit is None or device_id in silent:
                heapq.heappop(heap)
                continue
            refiled = last_seen[device_id] + limit
            if refiled <= at:
                break
            heapq.heapreplace(heap, (refiled, device_id))
        due = heap[0][0] if heap else math.inf
        for device_id in silent:
            device = self.index.devices.get(device_id)
            if device is not None:
                key = (device.tenant, device.borrower_id, KIND, device_id)
                due = min(due, book.next_update(*key))
        return due

    def tick(self, now: float, book: AlertBook, wall: float) -> list[Alert]:
        """Raise or refresh silence alerts as of clock time ``now``."""
        if not self.rule.enabled and not self.overrides:
            return []
        if not self._started:
            # Devices that never reported are counted as silent from the first tick on.
            self._started = True
            for device_id in self.index.devices:
                self.last_seen.setdefault(device_id, now)
        built = self._heap_rules
        if built is None or built[0] is not self.rule or built[1] is not self.overrides:
            self._rebuild()
        due = self._due
        later: list[str] = []
        while due and due[0][0] < now:
            _, device_id = heapq.heappop(due)
            limit = self._limit(device_id)
            if limit is None or device_id in self.silent:
                continue
            if now - self.last_seen[device_id] > limit:
                self.silent.add(device_id)
            else:
                later.append(device_id)  # reported since it was filed
        for device_id in later:
            self._file(device_id, self.last_seen[device_id])
        changed: list[Alert] = []
        for device_id in sorted(self.silent):
            device = self.index.devices.get(device_id)
            rule = self.overrides.get(device_id, self.rule)
            if device is None or not rule.enabled:
                continue
            last = self.last_seen[device_id]
            limit = max(rule.missed_intervals * device.interval_s, rule.min_silence)
            silence = now - last
            declared = device_id in self.declared
            if silence <= limit and not declared:
                continue  # the rules were loosened since it fell silent
            if not book.due(device.tenant, device.borrower_id, KIND, device_id, now):
                continue
            finding = device_finding(
                device,
                kind=KIND,
                severity=rule.severity,
                score=20.0 + silence / limit * 10.0,
                reasons=[
                    f"{device.kind.value} {device_id} silent for "
                    f"{format_duration(max(silence, 0.0))} "
                    f"(expected every {format_duration(device.interval_s)}); "
                    f"last reading {clock(last)}",
                    *(
                        ["declared offline by its gateway (Sparkplug death certificate)"]
                        if declared
                        else []
                    ),
                ],
                evidence={
                    "last_seen": last,
                    "silence_s": round(silence, 1),
                    "expected_interval_s": device.interval_s,
                    "limit_s": limit,
                },
            )
            opened = min(last + limit, now) if declared else last + limit
            alert = book.raise_(finding, opened, now, wall)
            if alert is not None:
                changed.append(alert)
        return changed
