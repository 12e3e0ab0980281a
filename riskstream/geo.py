"""Plane geometry on lat/lon, good enough for geofences tens of kilometres across."""

import math
from collections.abc import Sequence

LatLon = tuple[float, float]
KM_PER_DEG_LAT = 111.32


def inside(point: LatLon, polygon: Sequence[LatLon]) -> bool:
    """Whether ``point`` lies inside ``polygon`` (ray casting; edges count as outside)."""
    lat, lon = point
    result = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        lat_i, lon_i = polygon[i]
        lat_j, lon_j = polygon[j]
        if (lon_i > lon) != (lon_j > lon):
            crossing = lat_i + (lon - lon_i) * (lat_j - lat_i) / (lon_j - lon_i)
            if lat < crossing:
                result = not result
        j = i
    return result


def distance_to_polygon_km(point: LatLon, polygon: Sequence[LatLon]) -> float:
    """Shortest distance from ``point`` to the polygon's boundary, in km."""
    lat0 = point[0]
    kx = KM_PER_DEG_LAT * math.cos(math.radians(lat0))

    def xy(p: LatLon) -> tuple[float, float]:
        return ((p[1] - point[1]) * kx, (p[0] - point[0]) * KM_PER_DEG_LAT)

    best = math.inf
    for i in range(len(polygon)):
        ax, ay = xy(polygon[i - 1])
        bx, by = xy(polygon[i])
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best
