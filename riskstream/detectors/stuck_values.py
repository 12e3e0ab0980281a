"""A sensor repeating exactly the same value: frozen firmware, or a fake feeding old data.

Only metrics that always carry noise while the sensor works are watched (the rule's
``metrics``); a door contact or an idle output counter may rightly stay constant.

A GPS tracker is watched by its ``lat_deg`` and ``lon_deg``, each like any other
metric: a working receiver's fixes scatter by metres, parked or not, so a coordinate
repeated exactly ``min_repeats`` times over ``for`` is a frozen tracker. Its speed and
ignition rightly stay at zero while the vehicle is parked, so the whole (lat, lon,
speed) fix needs no test of its own: the coordinates already tell. A tracker whose
firmware holds a parked position still ("static hold") needs them taken out of the rule.
"""

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from devices.reading import Reading
from riskstream.detectors.findings import device_finding
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.fleet_index import DeviceContext
from riskstream.rules.fields import AlertComponent, AlertSeverity, Enabled, HoldFor, RuleTable

KIND = "values_stuck"


class StuckValuesRule(RuleTable):
    """A sensor repeating exactly the same value (frozen, or replaced by a fake)."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    service_wide: ClassVar[frozenset[str]] = frozenset({"metrics"})

    enabled: Enabled = True
    metrics: list[str] = Field(
        default_factory=lambda: [
            "weight_kg",
            "temperature_c",
            "humidity_pct",
            "power_kw",
            "lat_deg",
            "lon_deg",
            "current_a",
            "vibration_mms",
        ],
        description="metrics that always carry noise when the sensor is alive",
    )
    min_repeats: int = Field(
        10, ge=2, description="exact repeats of one value, over `for`, that make it stuck"
    )
    for_: HoldFor = Field(3600.0, alias="for")
    severity: AlertSeverity = "warning"


@dataclass(slots=True)
class _Run:
    value: float
    since: float
    count: int = 1
    raised: bool = False


StuckRun = _Run
"""One device's metric's run of one exact value (`riskstream.detectors.lot_chain` holds
a lot cell's); the class keeps its private name, which checkpoints record."""


class StuckValuesDetector:
    """Per (device, metric): the same exact value ``min_repeats`` times over ``for``."""

    def __init__(self, rule: StuckValuesRule) -> None:
        self.rule = rule
        self._metrics = frozenset(rule.metrics)
        self._runs: dict[tuple[str, str], _Run] = {}

    def set_rule(self, rule: StuckValuesRule) -> None:
        """Apply a new rule (its metric list may differ); runs seen so far are kept."""
        self.rule = rule
        self._metrics = frozenset(rule.metrics)

    @property
    def metrics(self) -> frozenset[str]:
        """The metrics watched."""
        return self._metrics

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Feed any reading; only the watched metrics count."""
        if reading.metric not in self._metrics or not self.rule.enabled:
            return None
        key = (reading.device_id, reading.metric)
        run = self._runs.get(key)
        if run is None:
            self._runs[key] = _Run(reading.value, reading.ts)
            return None
        if run.value != reading.value and not run.raised:
            # the commonest reading: a new value, nothing raised (`follow` in short)
            run.value, run.since, run.count = reading.value, reading.ts, 1
            return None
        return self.follow(run, reading, device, book, wall)

    def run_of(self, device_id: str, metric: str) -> StuckRun | None:
        """The run of a device's metric, None before its first watched reading (kept
        once made: `riskstream.detectors.lot_chain` holds a lot cell's)."""
        return self._runs.get((device_id, metric))

    def follow(
        self, run: StuckRun, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """`observe` of a watched reading (the rule enabled) whose ``run`` is looked up."""
        if run.value != reading.value:
            was_raised = run.raised
            run.value, run.since, run.count, run.raised = reading.value, reading.ts, 1, False
            if was_raised:
                return book.clear(
                    device.tenant,
                    device.borrower_id,
                    KIND,
                    device.device_id,
                    reading.ts,
                    f"cleared: {reading.metric} changes again",
                )
            return None
        run.count += 1
        lasting = reading.ts - run.since
        if run.count < self.rule.min_repeats or lasting < self.rule.for_:
            return None
        run.raised = True
        if not book.due(device.tenant, device.borrower_id, KIND, device.device_id, reading.ts):
            return None
        finding = device_finding(
            device,
            kind=KIND,
            severity=self.rule.severity,
            score=30.0 + lasting / 3600.0,
            reasons=[
                f"{device.kind.value} {device.device_id} has sent {reading.metric} = "
                f"{reading.value:g} exactly, {run.count} times over {format_duration(lasting)} "
                f"since {clock(run.since)}: a live sensor always varies",
            ],
            evidence={
                "metric": reading.metric,
                "value": reading.value,
                "repeats": run.count,
                "since": run.since,
                "ts": reading.ts,
            },
        )
        return book.raise_(finding, run.since, reading.ts, wall)
