"""Plane geometry on lat/lon for regions tens of kilometres across: one definition for
the simulator that places sites and drives vehicles and the engine that judges them.

An equirectangular projection around a point is exact enough at this size. It is an
affine map, so it keeps convexity and inclusion: a point is inside a polygon in
kilometres exactly when its lat/lon is inside the polygon's lat/lon image. Distances
between points that may lie hundreds of kilometres apart (`distance_km`) are measured
on the sphere of the same size.
"""

import math
from collections.abc import Sequence

LatLon = tuple[float, float]
KM_PER_DEG_LAT = 111.32
EARTH_RADIUS_KM = KM_PER_DEG_LAT * 180.0 / math.pi  # the sphere of KM_PER_DEG_LAT


def km_per_deg_lon(lat: float) -> float:
    """Kilometres per degree of longitude at latitude ``lat``."""
    return KM_PER_DEG_LAT * math.cos(math.radians(lat))


def to_latlon(centre: LatLon, x_km: float, y_km: float) -> LatLon:
    """Convert an offset east (``x_km``) and north (``y_km``) of ``centre`` to (lat, lon)."""
    lat0, lon0 = centre
    return (lat0 + y_km / KM_PER_DEG_LAT, lon0 + x_km / km_per_deg_lon(lat0))


def to_km(centre: LatLon, lat: float, lon: float) -> LatLon:
    """Convert (lat, lon) to an offset (east km, north km) from ``centre``."""
    lat0, lon0 = centre
    return ((lon - lon0) * km_per_deg_lon(lat0), (lat - lat0) * KM_PER_DEG_LAT)


def distance_km(a: LatLon, b: LatLon) -> float:
    """Great-circle distance between two (lat, lon) points in km (haversine): right
    across the antimeridian, and equal to the projection's along a meridian."""
    lat_a, lat_b = math.radians(a[0]), math.radians(b[0])
    dlat, dlon = lat_b - lat_a, math.radians(b[1] - a[1])
    h = math.sin(dlat / 2.0) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(dlon / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def inside(point: LatLon, polygon: Sequence[LatLon]) -> bool:
    """Whether ``point`` lies inside ``polygon`` (vertices (lat, lon), in order, the first
    not repeated), by ray casting. A point on an edge may count either way; the engine's
    prepared fences (`riskstream.detectors.fence.Fence`) give exactly these answers."""
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
    kx = km_per_deg_lon(point[0])

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
