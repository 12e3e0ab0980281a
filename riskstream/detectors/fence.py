"""Geofences prepared for the engine's many point tests (`Fence`); the geometry itself is
the domain's (`devices.geo`), shared with the simulator."""

import math
from collections.abc import Sequence

from devices.geo import KM_PER_DEG_LAT, LatLon, distance_to_polygon_km, inside

__all__ = ["KM_PER_DEG_LAT", "Fence", "LatLon", "distance_to_polygon_km", "inside"]


class Fence:
    """A polygon prepared for many `contains` tests: the same answers as `inside`.

    Most points a vehicle reports are well inside its fence or far out of it: a point
    outside the bounding box is outside, one within the largest circle around the
    vertices' mean that stays clear of every edge is inside, and only the rest are ray
    cast, over the edges that can cross the ray.
    """

    __slots__ = ("_box", "_centre", "_edges", "_kx", "_r2")

    def __init__(self, polygon: Sequence[LatLon]) -> None:
        points = [(float(lat), float(lon)) for lat, lon in polygon]
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        self._box = (min(lats), max(lats), min(lons), max(lons))
        # (lon_i, lon_j, lat_i, lat_j - lat_i, lon_j - lon_i): the terms `inside` uses
        self._edges = tuple(
            (lon_i, lon_j, lat_i, lat_j - lat_i, lon_j - lon_i)
            for (lat_i, lon_i), (lat_j, lon_j) in zip(
                points, points[-1:] + points[:-1], strict=True
            )
            if lon_i != lon_j
        )
        lat0, lon0 = sum(lats) / len(lats), sum(lons) / len(lons)
        self._centre = (lat0, lon0)
        self._kx = math.cos(math.radians(lat0))
        self._r2 = 0.0
        if inside((lat0, lon0), points):
            # clear radius in degrees of latitude (longitudes scaled by cos(lat)), kept a
            # little short so rounding cannot put a point of the circle on an edge
            radius = min(
                _segment_distance(lat0, lon0, a, b, self._kx)
                for a, b in zip(points, points[1:] + points[:1], strict=True)
            )
            self._r2 = (0.999 * radius) ** 2

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point lies inside (edges count as outside), as `inside` says."""
        lat_min, lat_max, lon_min, lon_max = self._box
        if lat < lat_min or lat > lat_max or lon < lon_min or lon > lon_max:
            return False
        dy = lat - self._centre[0]
        dx = (lon - self._centre[1]) * self._kx
        if dx * dx + dy * dy < self._r2:
            return True
        result = False
        for lon_i, lon_j, lat_i, dlat, dlon in self._edges:
            if (lon_i > lon) != (lon_j > lon) and lat < lat_i + (lon - lon_i) * dlat / dlon:
                result = not result
        return result


def _segment_distance(lat: float, lon: float, a: LatLon, b: LatLon, kx: float) -> float:
    """Distance from a point to segment ab in degrees of latitude (longitude scaled by kx)."""
    ax, ay = (a[1] - lon) * kx, a[0] - lat
    bx, by = (b[1] - lon) * kx, b[0] - lat
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)
