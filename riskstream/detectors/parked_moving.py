"""A vehicle moving at night, when it should be parked (local time of its site)."""

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from devices.reading import Reading
from riskstream.detectors.findings import device_finding
from riskstream.detectors.settle import settle
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

KIND = "vehicle_moving_when_parked"


class ParkedMovingRule(RuleTable):
    """A vehicle moving during the hours it should be parked (local time of its site)."""

    matrix_component: ClassVar[AlertComponent] = "conduct"

    enabled: Enabled = True
    night_start_hour: int = Field(22, ge=0, le=23, description="parked from this local hour")
    night_end_hour: int = Field(5, ge=0, le=23, description="parked until this local hour")
    speed_above_kmh: float = Field(
        3.0, ge=0, description="faster than this is moving (a parked GPS drifts below ~2 km/h)"
    )
    for_: HoldFor = Field(600.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "warning"


class ParkedMovingDetector:
    """Per GPS device: speed above the limit during night hours for ``for``."""

    def __init__(self, index: FleetIndex, rule: ParkedMovingRule) -> None:
        self.index = index
        self.rule = rule
        self._conditions: dict[str, Condition] = {}

    def _is_night(self, ts: float, site_id: str) -> bool:
        hour = datetime.fromtimestamp(ts, self.index.zone(site_id)).hour
        start, end = self.rule.night_start_hour, self.rule.night_end_hour
        return hour >= start or hour < end if start > end else start <= hour < end

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Feed a ``speed_kmh`` reading of a GPS tracker."""
        if not self.rule.enabled:
            return None
        condition = self._conditions.get(reading.device_id)
        moving = reading.value > self.rule.speed_above_kmh
        if condition is None:
            if not moving:
                return None
            condition = self._conditions[reading.device_id] = Condition()
        breached = moving and self._is_night(reading.ts, device.site_id)
        transition = condition.observe(reading.ts, breached, self.rule.for_, self.rule.clear_after)
        if transition == "none":
            return None
        return settle(
            book,
            (device.tenant, device.borrower_id, KIND, device.device_id),
            transition,
            condition,
            reading.ts,
            wall,
            lambda since: self._finding(device, reading, since),
            lambda: f"cleared: parked for {format_duration(self.rule.clear_after)}",
        )

    def _finding(self, device: DeviceContext, reading: Reading, since: float) -> Finding:
        site = self.index.sites.get(device.site_id)
        local = datetime.fromtimestamp(since, self.index.zone(device.site_id)).strftime("%H:%M")
        return device_finding(
            device,
            kind=KIND,
            severity=self.rule.severity,
            score=40.0 + reading.value / 4.0,
            reasons=[
                f"vehicle {site.name if site is not None and site.name else device.site_id} "
                f"moving at {reading.value:.0f} km/h at night since {clock(since)} "
                f"({local} local)",
            ],
            evidence={
                "speed_kmh": reading.value,
                "night_hours": [self.rule.night_start_hour, self.rule.night_end_hour],
                "for_s": self.rule.for_,
                "ts": reading.ts,
            },
        )
