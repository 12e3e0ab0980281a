"""A vehicle outside its geofence: moved out of its permitted region."""

from devices.model import Site
from devices.reading import Reading
from riskstream.alerts import Alert, AlertBook, Finding
from riskstream.conditions import Condition
from riskstream.detectors.findings import device_finding
from riskstream.detectors.settle import settle
from riskstream.detectors.timefmt import clock
from riskstream.durations import format_duration
from riskstream.fleet_index import DeviceContext, FleetIndex
from riskstream.geo import distance_to_polygon_km, inside
from riskstream.rules_file import GeofenceRule

KIND = "geofence_exit"


class GeofenceDetector:
    """Per GPS device: position outside the site's geofence for ``for``."""

    def __init__(self, index: FleetIndex, rule: GeofenceRule) -> None:
        self.index = index
        self.rule = rule
        self._pending: dict[str, tuple[float, float | None, float | None]] = {}
        self._conditions: dict[str, Condition] = {}

    def observe(
        self, reading: Reading, device: DeviceContext, book: AlertBook, wall: float
    ) -> Alert | None:
        """Feed a ``lat_deg`` or ``lon_deg`` reading; evaluate once both share a timestamp."""
        site = self.index.sites.get(device.site_id)
        if site is None or site.geofence is None or not self.rule.enabled:
            return None
        ts, lat, lon = self._pending.get(reading.device_id, (reading.ts, None, None))
        if ts != reading.ts:
            lat, lon = None, None
        if reading.metric == "lat_deg":
            lat = reading.value
        else:
            lon = reading.value
        self._pending[reading.device_id] = (reading.ts, lat, lon)
        if lat is None or lon is None:
            return None
        outside = not inside((lat, lon), site.geofence)
        condition = self._conditions.get(reading.device_id)
        if condition is None:
            condition = self._conditions[reading.device_id] = Condition()
        transition = condition.observe(reading.ts, outside, self.rule.for_, self.rule.clear_after)
        if transition == "none":
            return None
        key = (device.tenant, device.borrower_id, KIND, device.device_id)
        return settle(
            book,
            key,
            transition,
            condition,
            reading.ts,
            wall,
            lambda since: self._finding(device, site, reading.ts, lat, lon, since),
            lambda: (
                f"cleared: back inside its geofence for {format_duration(self.rule.clear_after)}"
            ),
        )

    def _finding(
        self,
        device: DeviceContext,
        site: Site,
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
