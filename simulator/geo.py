"""Plane geometry on small regions: local kilometres, lat/lon and point-in-polygon.

Regions here are a few tens of kilometres across, so an equirectangular projection
around a centre is exact enough. It is an affine map, so it keeps convexity and
inclusion: a point is inside a polygon in kilometres exactly when its lat/lon is
inside the polygon's lat/lon image.
"""

import math
from collections.abc import Sequence

KM_PER_DEG_LAT = 111.32

Point = tuple[float, float]


def km_per_deg_lon(lat: float) -> float:
    """Kilometres per degree of longitude at latitude ``lat``."""
    return KM_PER_DEG_LAT * math.cos(math.radians(lat))


def to_latlon(centre: Point, x_km: float, y_km: float) -> Point:
    """Convert an offset east (``x_km``) and north (``y_km``) of ``centre`` to (lat, lon)."""
    lat0, lon0 = centre
    return (lat0 + y_km / KM_PER_DEG_LAT, lon0 + x_km / km_per_deg_lon(lat0))


def to_km(centre: Point, lat: float, lon: float) -> Point:
    """Convert (lat, lon) to an offset (east km, north km) from ``centre``."""
    lat0, lon0 = centre
    return ((lon - lon0) * km_per_deg_lon(lat0), (lat - lat0) * KM_PER_DEG_LAT)


def point_in_polygon(lat: float, lon: float, polygon: Sequence[Point]) -> bool:
    """Tell whether (lat, lon) lies inside ``polygon`` by ray casting.

    Args:
        lat: latitude of the point.
        lon: longitude of the point.
        polygon: vertices (lat, lon), in order, not repeating the first.

    Returns:
        True if the point is strictly inside (points on an edge may go either way).
    """
    inside = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        yi, xi = polygon[i]
        yj, xj = polygon[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def distance_to_segment_km(p: Point, a: Point, b: Point) -> float:
    """Distance in km from ``p`` to the segment ``a``–``b``, all in local km."""
    ax, ay = a
    bx, by = b
    px, py = p
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def distance_to_polygon_km(lat: float, lon: float, polygon: Sequence[Point]) -> float:
    """Distance in km from (lat, lon) to the nearest edge of ``polygon`` (lat/lon vertices)."""
    centre = polygon[0]
    p = to_km(centre, lat, lon)
    pts = [to_km(centre, la, lo) for la, lo in polygon]
    return min(distance_to_segment_km(p, pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts)))
