"""A vehicle outside its geofence: moved out of its permitted region."""

from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from devices.reading import Reading
from riskstream.detectors.fence import Fence, distance_to_polygon_km
from riskstream.detectors.findings import device_finding
from riskstream.detectors.position_fix import FixInProgress
from riskstream.detectors.settle import settle
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.engine.alerts import Alert, AlertBook, Finding
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex, SiteContext
from riskstream.rules.fields import (
    AlertComponent,
    AlertSeverity,
    ClearAfter,
    Enabled,
    HoldFor,
    RuleTable,
)

KIND = "geofence_exit"


class GeofenceRule(RuleTable):
    """A vehicle (or yard stock) outside its geofence."""

    matrix_component: ClassVar[AlertComponent] = "collateral"

    enabled: Enabled = True
    for_: HoldFor = Field(300.0, alias="for")
    clear_after: ClearAfter = 1800.0
    severity: AlertSeverity = "warning"


@dataclass(slots=True)
class _Track:
    """A tracker's fence, its position being assembled, and its condition."""

    fence: Fence
    fix: FixInProgress = field(default_factory=FixInProgress)
    condition: Condition = field(default_factory=Condition)


class GeofenceDetector:
    """Per GPS device: position outside the site's geofence for ``for``."""

    def __init__(self, index: FleetIndex, rule: GeofenceRule) -> None:
        self.index = index
        self.rule = rule
        self._tracks: dict[str, _Track | None] = {}
        self._fences: dict[str, Fence] = {}

    def _track(self, device: DeviceContext) -> _Track | None:
        site = self.index.sites.get(device.site_id)
        track = None
        if site is not None and site.geofence is not None:
            fence = self._fences.get(site.id)
            if fence is None:
                fence = self._fences[site.id] = Fence(site.geofence)
            track = _Track(fence)
        self._tracks[device.device_id] = track
        return track

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Feed a ``lat_deg`` or ``lon_deg`` reading; evaluate once both share a timestamp."""
        try:
            track = self._tracks[reading.device_id]
        except KeyError:
            track = self._track(device)
        if track is None or not self.rule.enabled:
            return None
        fix = track.fix.take(reading)
        if fix is None:
            return None
        ts = reading.ts
        lat, lon = fix
        outside = not track.fence.contains(lat, lon)
        condition = track.condition
        transition = condition.observe(ts, outside, self.rule.for_, self.rule.clear_after)
        if transition == "none":
            return None
        site = self.index.sites[device.site_id]
        key = (device.tenant, device.borrower_id, KIND, device.device_id)
        return settle(
            book,
            key,
            transition,
            condition,
            ts,
            wall,
            lambda since: self._finding(device, site, ts, lat, lon, since),
            lambda: (
                f"cleared: back inside its geofence for {format_duration(self.rule.clear_after)}"
            ),
        )

    def _finding(
        self,
        device: DeviceContext,
        site: SiteContext,
        ts: float,
        lat: float,
        lon: float,
        since: float,
    ) -> Finding:
        assert site.geofence is not None
        km = distance_to_polygon_km((lat, lon), site.geofence)
        return device_finding(
            device,
            kind=KIND,
            severity=self.rule.severity,
            score=50.0 + km,
            reasons=[
                f"vehicle {site.name or site.id} is {km:,.1f} km outside its geofence "
                f"since {clock(since)}",
                f"last position {lat:.5f}, {lon:.5f}",
            ],
            evidence={
                "lat_deg": lat,
                "lon_deg": lon,
                "distance_outside_km": round(km, 3),
                "geofence": [list(p) for p in site.geofence],
                "for_s": self.rule.for_,
                "ts": ts,
            },
        )
