"""Signal model of a vehicle's GPS tracker, inside (or, in a scenario, outside) its geofence.

Positions are computed in local kilometres around the fence's centre. On weekdays
between 07:00 and 18:00 local the vehicle drives a daily round from its depot through
3–5 stops and back; otherwise it is parked at the depot with the ignition off. Every
point of the round lies in the fence shrunk by 30 % towards its centre, so with a
convex fence (as `simulator.fleetgen` makes) the vehicle stays strictly inside.

In a ``geofence_exit`` scenario the vehicle leaves its round 30 minutes before the
scenario start, drives straight to a point of the fence so that it crosses it one
minute after the start, goes on outwards at 80 km/h to a point at least 15 km beyond
the fence, and circles there.
"""

import itertools
import math
from collections.abc import Sequence

from simulator.geo import Point, to_km, to_latlon
from simulator.signals import DeviceModel

ROUND_START_H, ROUND_END_H = 7.0, 18.0
INNER_SHARE = 0.7  # stops lie within this share of the way from centre to fence
EXIT_LEAD_S = 30 * 60.0  # the vehicle heads for the fence this long before the start
EXIT_CROSS_AFTER_S = 60.0  # ...and crosses it this long after the start
EXIT_SPEED_KMH = 80.0
LOITER_RADIUS_KM = 2.0
GPS_NOISE_KM = 0.003


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
            return x, y, dist / span * 3600.0
        out = (ts - self.cross_ts) * EXIT_SPEED_KMH / 3600.0
        if out <= self.far_km:
            return (
                self.gate[0] + self.dir[0] * out,
                self.gate[1] + self.dir[1] * out,
                (EXIT_SPEED_KMH),
            )
        cx = self.gate[0] + self.dir[0] * (self.far_km + LOITER_RADIUS_KM)
        cy = self.gate[1] + self.dir[1] * (self.far_km + LOITER_RADIUS_KM)
        angle = math.atan2(-self.dir[1], -self.dir[0]) + (out - self.far_km) / LOITER_RADIUS_KM
        speed = EXIT_SPEED_KMH / 2
        return (
            cx + LOITER_RADIUS_KM * math.cos(angle),
            cy + LOITER_RADIUS_KM * math.sin(angle),
            speed,
        )


class GpsModel(DeviceModel):
    """A GPS tracker on a vehicle: ``lat_deg``, ``lon_deg``, ``speed_kmh``, ``ignition``."""

    __slots__ = (
        "centre",
        "depot",
        "exit",
        "exit_at",
        "fence",
        "legs",
        "radius_km",
        "round_km",
    )

    def __init__(
        self,
        device_id: str,
        interval: float,
        timezone: str,
        seed: int,
        geofence: Sequence[Point],
        centre: Point | None = None,
    ) -> None:
        """Set up a tracker on a vehicle that must stay in ``geofence`` (lat, lon)."""
        super().__init__(device_id, interval, timezone, seed)
        if centre is None:
            centre = (
                sum(p[0] for p in geofence) / len(geofence),
                sum(p[1] for p in geofence) / len(geofence),
            )
        self.centre = centre
        self.fence = [to_km(centre, lat, lon) for lat, lon in geofence]
        self.radius_km = max(math.hypot(x, y) for x, y in self.fence)
        self.depot = self._inner_point(0.1, 0.3)
        self.legs: list[tuple[float, float, float, float, float]] = []
        self.round_km = 0.0
        self.exit_at = math.inf
        self.exit: _Exit | None = None

    def _inner_point(self, low: float, high: float) -> Point:
        """A random point between the centre and a random stretch of the fence."""
        rng = self.rng
        i = rng.randrange(len(self.fence))
        a, b = self.fence[i], self.fence[(i + 1) % len(self.fence)]
        u = rng.random()
        r = rng.uniform(low, high)
        return (r * (u * a[0] + (1 - u) * b[0]), r * (u * a[1] + (1 - u) * b[1]))

    def _new_day(self) -> None:
        stops = [self.depot] + [
            self._inner_point(0.1, INNER_SHARE) for _ in range(self.rng.randint(3, 5))
        ]
        stops.append(self.depot)
        self.legs = []
        total = 0.0
        for (x0, y0), (x1, y1) in itertools.pairwise(stops):
            length = math.hypot(x1 - x0, y1 - y0)
            self.legs.append((total, x0, y0, x1 - x0, y1 - y0))
            total += length
        self.round_km = total

    def normal_position(self, ts: float) -> tuple[float, float, float]:
        """(x km, y km, speed km/h) on the normal schedule at ``ts``."""
        day = self.day
        if day.roll(ts):
            self._new_day()
        h = (ts - day.start) / 3600.0
        if day.weekday >= 5 or not ROUND_START_H <= h < ROUND_END_H or self.round_km == 0.0:
            return self.depot[0], self.depot[1], 0.0
        done = (h - ROUND_START_H) / (ROUND_END_H - ROUND_START_H) * self.round_km
        leg = self.legs[0]
        for candidate in self.legs:
            if candidate[0] > done:
                break
            leg = candidate
        start, x0, y0, dx, dy = leg
        length = math.hypot(dx, dy) or 1.0
        k = min(1.0, (done - start) / length)
        speed = self.round_km / (ROUND_END_H - ROUND_START_H)
        return x0 + dx * k, y0 + dy * k, speed * (0.85 + 0.3 * self.rng.random())

    def _plan_exit(self, ts: float, here: Point) -> _Exit:
        i = self.rng.randrange(len(self.fence))
        a, b = self.fence[i], self.fence[(i + 1) % len(self.fence)]
        u = self.rng.uniform(0.2, 0.8)
        gate = (a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u)
        cross_ts = max(self.exit_at + EXIT_CROSS_AFTER_S, ts + EXIT_CROSS_AFTER_S)
        return _Exit(ts, here, gate, cross_ts, 2 * self.radius_km + 15.0)

    def values(self, ts: float) -> dict[str, float]:
        """Position, speed and ignition at ``ts``."""
        x, y, speed = self.normal_position(ts)
        if ts >= self.exit_at - EXIT_LEAD_S:
            if self.exit is None:
                self.exit = self._plan_exit(ts, (x, y))
            x, y, speed = self.exit.position(ts)
        rnd = self.rng.random
        lat, lon = to_latlon(
            self.centre, x + (rnd() - 0.5) * GPS_NOISE_KM, y + (rnd() - 0.5) * GPS_NOISE_KM
        )
        return {
            "lat_deg": round(lat, 6),
            "lon_deg": round(lon, 6),
            "speed_kmh": round(speed, 1),
            "ignition": 1.0 if speed > 0.0 else 0.0,
        }
