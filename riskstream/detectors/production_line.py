"""Production lines as the operations detectors see them: devices, hours and baselines.

Each device of a production-line site that shows activity is watched on one metric
(`WATCHED`). Its readings are summed per local clock hour (`HourStats`, cheap
arithmetic on the hot path); when an hour closes it becomes a `ClosedHour`: the hourly
level, the device's usual level for that hour of week, their ratio (the production
index) and whether the line usually runs then. A `Line` is one site: which device
leads each alert, and the line-level conditions and drift test.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devices.model import DeviceKind, SiteKind
from riskstream.detectors.hour_of_week import HourOfWeekBaseline
from riskstream.engine.conditions import Condition
from riskstream.engine.fleet_index import DeviceContext, FleetIndex

if TYPE_CHECKING:  # river's drift module takes a second to import: see operations
    from river import drift, stats

WATCHED: dict[DeviceKind, str] = {
    DeviceKind.OUTPUT_COUNTER: "output_count",
    DeviceKind.POWER_METER: "power_kw",
    DeviceKind.GENERIC: "current_a",  # a machine monitor: motor current and vibration
}
METRICS = frozenset(WATCHED.values())
UNITS = {"output_count": "units/h", "power_kw": "kW", "current_a": "A"}
NAMES = {"output_count": "output", "power_kw": "power draw", "current_a": "machine current"}
SLOWDOWN_LEAD = (DeviceKind.OUTPUT_COUNTER, DeviceKind.POWER_METER, DeviceKind.GENERIC)
IDLE_LEAD = (DeviceKind.GENERIC, DeviceKind.OUTPUT_COUNTER, DeviceKind.POWER_METER)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RECENT_FADING = 0.2  # weight of the newest running hour in the recent index (~5 hours)


def slot_name(slot: int) -> str:
    """``Tuesday 10:00`` for an hour-of-week slot."""
    return f"{WEEKDAYS[slot // 24]} {slot % 24:02d}:00"


@dataclass(slots=True)
class HourStats:
    """One device: the running hour's sums and the device's baseline.

    Attributes:
        metric: the metric watched.
        per_hour: factor from the mean reading to the hourly level (readings per hour
            for counters of units since the previous report, 1 for gauges).
        expected: readings expected in a full hour.
        start: start of the running hour (event time); ``end`` its end.
        slot: its local hour of week.
    """

    metric: str
    per_hour: float
    expected: float
    baseline: HourOfWeekBaseline = field(default_factory=HourOfWeekBaseline)
    start: float = 0.0
    end: float = 0.0
    slot: int = 0
    total: float = 0.0
    count: int = 0
    low: float = 0.0
    high: float = 0.0
    last_index: float | None = None

    def begin(self, ts: float, zone: ZoneInfo, value: float) -> None:
        """Start the local clock hour holding ``ts`` with its first reading."""
        local = datetime.fromtimestamp(ts, zone)
        self.start = ts - (local.minute * 60 + local.second + local.microsecond / 1e6)
        self.end = self.start + 3600.0
        self.slot = local.weekday() * 24 + local.hour
        self.total, self.count, self.low, self.high = value, 1, value, value


@dataclass(frozen=True, slots=True)
class ClosedHour:
    """A finished hour of one device, judged against its baseline.

    Attributes:
        rate: the hour's level (units/h for counters, the mean for gauges).
        usual: the usual level of this hour of week, None before it was learned.
        busiest: the usual level of the device's busiest hour.
        index: rate / usual, None without a usual level above zero.
        running: whether the line usually runs in this hour.
        still: a running hour in which the device shows (almost) no activity.
    """

    device_id: str
    metric: str
    slot: int
    start: float
    end: float
    rate: float
    usual: float | None
    busiest: float
    index: float | None
    running: bool
    still: bool
    low: float
    high: float


@dataclass(slots=True)
class Line:
    """One production line (site): lead devices, conditions and the drift test."""

    site_id: str
    zone: ZoneInfo
    devices: tuple[str, ...]
    slowdown_lead: str | None
    idle_lead: str | None
    slowdown: Condition = field(default_factory=Condition)
    idle: Condition = field(default_factory=Condition)
    trend: Condition = field(default_factory=Condition)
    page_hinkley: "drift.PageHinkley | None" = None
    recent: "stats.EWMean | None" = None
    drifting: bool = False

    @property
    def flagged(self) -> bool:
        """Whether something is wrong with the line now (so its hours are not learned)."""
        return (
            self.slowdown.breach_since is not None
            or self.idle.breach_since is not None
            or self.drifting
        )


def _lead(devices: list[DeviceContext], order: tuple[DeviceKind, ...]) -> str | None:
    for kind in order:
        for d in devices:
            if d.kind is kind:
                return d.device_id
    return None


def line_devices(index: FleetIndex) -> dict[str, list[DeviceContext]]:
    """The watched devices of every production-line site, by site id."""
    by_site: dict[str, list[DeviceContext]] = {}
    for d in index.devices.values():
        site = index.sites.get(d.site_id)
        if site is not None and site.kind is SiteKind.PRODUCTION_LINE and d.kind in WATCHED:
            by_site.setdefault(d.site_id, []).append(d)
    return by_site


def slowdown_leads(index: FleetIndex) -> dict[str, DeviceKind]:
    """The slowdown lead of every production line: its device id and kind."""
    leads: dict[str, DeviceKind] = {}
    for devices in line_devices(index).values():
        lead = _lead(devices, SLOWDOWN_LEAD)
        if lead is not None:
            leads[lead] = index.devices[lead].kind
    return leads


def build_lines(index: FleetIndex) -> tuple[dict[str, HourStats], dict[str, Line]]:
    """Watched devices (by id) and lines (by site id) of every production-line site."""
    hours: dict[str, HourStats] = {}
    lines: dict[str, Line] = {}
    for site_id, devices in line_devices(index).items():
        try:
            zone = ZoneInfo(index.sites[site_id].timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        lines[site_id] = Line(
            site_id,
            zone,
            tuple(d.device_id for d in devices),
            _lead(devices, SLOWDOWN_LEAD),
            _lead(devices, IDLE_LEAD),
        )
        for d in devices:
            metric = WATCHED[d.kind]
            expected = 3600.0 / d.interval_s
            per_hour = expected if metric == "output_count" else 1.0
            hours[d.device_id] = HourStats(metric, per_hour, expected)
    return hours, lines
