"""Signal model of a vehicle's GPS tracker: position, speed, ignition and odometer.

Positions are computed in local kilometres around the fence's centre. On the
borrower's working days, in business hours, the vehicle works a round from its depot
through a few stops and back, driving at its kind's speed and waiting at each stop
with the engine off; otherwise it is parked at the depot. Every point of the round
lies within `simulator.catalog.VehicleKind.reach` of the way from the centre to the
fence, so with a convex fence (as `simulator.fleetgen` makes) it stays inside.

Scenarios:
- ``geofence_exit``: the vehicle leaves its round 30 minutes before the scenario
  start, drives straight to a point of the fence so that it crosses it one minute
  after the start, goes on outwards at 80 km/h to a point at least 15 km beyond the
  fence, and circles there.
- ``parked_moving``: in a night window the vehicle drives from its depot to a point
  inside the fence and back, ignition on.
- ``gps_spoof``: the receiver (`simulator.gps_receiver`) reports a false place
  (`GpsModel.false_place`) while the vehicle goes on as usual.

What the tracker reports of the position, jitter and harmless jumps included, is its
receiver's (`simulator.gps_receiver`); speed, ignition and odometer are the vehicle's.
"""

import itertools
import math
import random
from collections.abc import Sequence
from math import floor

from simulator.business import BusinessProfile
from simulator.catalog import VEHICLES, VehicleKind
from simulator.geo import KM_PER_DEG_LAT, Point, km_per_deg_lon, to_km
from simulator.gps_receiver import Receiver
from simulator.signals import DeviceModel

EXIT_LEAD_S = 30 * 60.0  # the vehicle heads for the fence this long before the start
EXIT_CROSS_AFTER_S = 60.0  # ...and crosses it this long after the start
EXIT_SPEED_KMH = 80.0
LOITER_RADIUS_KM = 2.0
NIGHT_REACH = 0.6
SPOOF_FAR_KM = (30.0, 300.0)  # a far false place lies this much beyond the fence's reach
SPOOF_INSIDE_SHARE = 0.9  # an inside false place: this share of the way to a vertex
SPOOF_INSIDE_KM = 15.0  # ...when that is at least this far from the depot
DRIVING_SHARE = 0.8  # at most this share of the working day is spent driving

# (from h, to h, x0, y0, dx, dy): a stretch driven in a day, in local hours
Leg = tuple[float, float, float, float, float, float]


class _Exit:
    """A planned drive out of the fence."""

    __slots__ = ("cross_ts", "depart", "depart_ts", "dir", "far_km", "gate")

    def __init__(
        self, depart_ts: float, depart: Point, gate: Point, cross_ts: float, far_km: float
    ) -> None:
        self.depart_ts = depart_ts
        self.depart = depart
        self.gate = gate
        self.cross_ts = cross_ts
        dx, dy = gate[0] - depart[0], gate[1] - depart[1]
        norm = math.hypot(dx, dy) or 1.0
        self.dir = (dx / norm, dy / norm)
        self.far_km = far_km

    def position(self, ts: float) -> tuple[float, float, float]:
        """(x km, y km, speed km/h) at ``ts``."""
        if ts < self.cross_ts:
            span = self.cross_ts - self.depart_ts
            k = (ts - self.depart_ts) / span
            dist = math.hypot(self.gate[0] - self.depart[0], self.gate[1] - self.depart[1])
            x = self.depart[0] + (self.gate[0] - self.depart[0]) * k
            y = self.depart[1] + (self.gate[1] - self.depart[1]) * k
            return x, y, max(5.0, dist / span * 3600.0)
        out = (ts - self.cross_ts) * EXIT_SPEED_KMH / 3600.0
        if out <= self.far_km:
            return (
                self.gate[0] + self.dir[0] * out,
                self.gate[1] + self.dir[1] * out,
                EXIT_SPEED_KMH,
            )
        cx = self.gate[0] + self.dir[0] * (self.far_km + LOITER_RADIUS_KM)
        cy = self.gate[1] + self.dir[1] * (self.far_km + LOITER_RADIUS_KM)
        angle = math.atan2(-self.dir[1], -self.dir[0]) + (out - self.far_km) / LOITER_RADIUS_KM
        return (
            cx + LOITER_RADIUS_KM * math.cos(angle),
            cy + LOITER_RADIUS_KM * math.sin(angle),
            EXIT_SPEED_KMH / 2,
        )


class GpsModel(DeviceModel):
    """A GPS tracker: ``lat_deg``, ``lon_deg``, ``speed_kmh``, ``ignition``, ``odometer_km``.

    Attributes:
        exit_at: event time a ``geofence_exit`` starts (inf: never).
        night_trips: (from, to) windows of ``parked_moving`` drives.
        receiver: what turns the vehicle's position into the reported fix.
    """

    __slots__ = (
        "centre",
        "depot",
        "exit",
        "exit_at",
        "fence",
        "kind",
        "km_per_lon",
        "legs",
        "night_trips",
        "odometer",
        "profile",
        "radius_km",
        "receiver",
        "trip_targets",
        "where",
    )

    def __init__(
        self,
        device_id: str,
        interval: float,
        timezone: str,
        seed: int,
        geofence: Sequence[Point],
        centre: Point | None = None,
        profile: BusinessProfile | None = None,
        kind: VehicleKind | None = None,
    ) -> None:
        """Set up a tracker on a vehicle that must stay in ``geofence`` (lat, lon)."""
        super().__init__(device_id, interval, timezone, seed)
        if centre is None:
            centre = (
                sum(p[0] for p in geofence) / len(geofence),
                sum(p[1] for p in geofence) / len(geofence),
            )
        self.centre = centre
        self.km_per_lon = km_per_deg_lon(centre[0])
        self.profile = profile
        self.kind = kind or VEHICLES["truck"]
        self.fence = [to_km(centre, lat, lon) for lat, lon in geofence]
        self.radius_km = max(math.hypot(x, y) for x, y in self.fence)
        self.depot = self._inner_point(0.1, min(0.3, self.kind.reach))
        self.where = self.depot
        self.legs: list[Leg] = []
        self.exit_at = math.inf
        self.exit: _Exit | None = None
        self.night_trips: list[tuple[float, float]] = []
        self.trip_targets: dict[float, Point] = {}
        self.odometer = self.rng.uniform(20_000.0, 400_000.0)
        self.receiver = Receiver(self.rng, self.fence, interval)

    def begin(self, start_ts: float) -> None:
        """The receiver's harmless jumps are scheduled from the start."""
        self.receiver.begin(start_ts)

    def false_place(self, inside: bool, rng: random.Random) -> Point:
        """A place (local km) no vehicle of this fence can reach within one report.

        Inside the fence (``inside``), near the vertex farthest from the depot, when
        that lies at least `SPOOF_INSIDE_KM` from it (large fences only); else
        `SPOOF_FAR_KM` beyond the fence's farthest vertex, in a direction from ``rng``.
        """
        bearing, beyond = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(*SPOOF_FAR_KM)
        if inside:
            dx, dy = self.depot
            vertex = max(self.fence, key=lambda p: math.hypot(p[0] - dx, p[1] - dy))
            place = (vertex[0] * SPOOF_INSIDE_SHARE, vertex[1] * SPOOF_INSIDE_SHARE)
            if math.hypot(place[0] - dx, place[1] - dy) >= SPOOF_INSIDE_KM:
                return place
        km = self.radius_km + beyond
        return km * math.cos(bearing), km * math.sin(bearing)

    def _inner_point(self, low: float, high: float) -> Point:
        """A random point between ``low`` and ``high`` of the way from centre to fence."""
        rng = self.rng
        i = rng.randrange(len(self.fence))
        a, b = self.fence[i], self.fence[(i + 1) % len(self.fence)]
        u = rng.random()
        r = rng.uniform(low, high)
        return (r * (u * a[0] + (1 - u) * b[0]), r * (u * a[1] + (1 - u) * b[1]))

    def _working(self) -> tuple[float, float] | None:
        """Working hours today, or None on a day off."""
        day = self.day
        if self.profile is None:
            return (7.0, 18.0) if day.weekday < 5 else None
        if not self.profile.is_workday(day):
            return None
        return self.profile.open_h, self.profile.close_h

    def _new_day(self) -> None:
        low, high = self.kind.stops
        stops = [self.depot] + [
            self._inner_point(0.1, self.kind.reach) for _ in range(self.rng.randint(low, high))
        ]
        stops.append(self.depot)
        self.legs = []
        hours = self._working()
        if hours is None:
            return
        lengths = [math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in itertools.pairwise(stops)]
        window = hours[1] - hours[0]
        speed = max(self.kind.speed_kmh, sum(lengths) / (window * DRIVING_SHARE))
        dwell = (window - sum(lengths) / speed) / len(lengths)
        at = hours[0]
        for (x0, y0), (x1, y1), length in zip(stops, stops[1:], lengths, strict=False):
            at += dwell
            self.legs.append((at, at + length / speed, x0, y0, x1 - x0, y1 - y0))
            at += length / speed

    def normal_position(self, ts: float) -> tuple[float, float, float]:
        """(x km, y km, speed km/h) on the normal schedule at ``ts``."""
        day = self.day
        if day.roll(ts):
            self._new_day()
        h = (ts - day.start) / 3600.0
        x, y = self.depot
        for begin, end, x0, y0, dx, dy in self.legs:
            if h < begin:
                break
            if h < end:
                k = (h - begin) / (end - begin)
                speed = math.hypot(dx, dy) / (end - begin)
                return x0 + dx * k, y0 + dy * k, speed * (0.85 + 0.3 * self.rng.random())
            x, y = x0 + dx, y0 + dy
        return x, y, 0.0

    def _night(self, ts: float) -> tuple[float, float, float] | None:
        for begin, end in self.night_trips:
            if begin <= ts < end:
                target = self.trip_targets.get(begin)
                if target is None:
                    target = self.trip_targets[begin] = self._inner_point(0.3, NIGHT_REACH)
                half = (end - begin) / 2.0
                k = (ts - begin) / half
                k = k if k <= 1.0 else 2.0 - k
                dx, dy = target[0] - self.depot[0], target[1] - self.depot[1]
                speed = math.hypot(dx, dy) / half * 3600.0
                return self.depot[0] + dx * k, self.depot[1] + dy * k, max(5.0, speed)
        return None

    def _plan_exit(self, ts: float, here: Point) -> _Exit:
        i = self.rng.randrange(len(self.fence))
        a, b = self.fence[i], self.fence[(i + 1) % len(self.fence)]
        u = self.rng.uniform(0.2, 0.8)
        gate = (a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u)
        cross_ts = max(self.exit_at + EXIT_CROSS_AFTER_S, ts + EXIT_CROSS_AFTER_S)
        return _Exit(ts, here, gate, cross_ts, 2 * self.radius_km + 15.0)

    def values(self, ts: float) -> dict[str, float]:
        """Position, speed, ignition and odometer at ``ts``."""
        x, y, speed = self.normal_position(ts)
        if self.night_trips:
            trip = self._night(ts)
            if trip is not None:
                x, y, speed = trip
        if ts >= self.exit_at - EXIT_LEAD_S:
            if self.exit is None:
                self.exit = self._plan_exit(ts, (x, y))
            x, y, speed = self.exit.position(ts)
        self.odometer += math.hypot(x - self.where[0], y - self.where[1])
        self.where = (x, y)
        fx, fy = self.receiver.fix(ts, x, y)
        lat = self.centre[0] + fy / KM_PER_DEG_LAT
        lon = self.centre[1] + fx / self.km_per_lon
        return {
            "lat_deg": floor(lat * 1e6 + 0.5) / 1e6,
            "lon_deg": floor(lon * 1e6 + 0.5) / 1e6,
            "speed_kmh": floor(speed * 10.0 + 0.5) / 10.0,
            "ignition": 1.0 if speed > 0.0 else 0.0,
            "odometer_km": floor(self.odometer * 10.0 + 0.5) / 10.0,
        }
