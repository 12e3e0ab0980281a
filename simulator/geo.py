"""The simulator's geometry: the domain's (`devices.geo`), under the names it uses.

One definition serves the simulator, which places sites and drives vehicles, and the
engine, which judges them, so both agree on every point, edges included.
"""

from collections.abc import Sequence

from devices.geo import KM_PER_DEG_LAT, LatLon, inside, km_per_deg_lon, to_km, to_latlon
from devices.geo import distance_to_polygon_km as _distance_to_polygon_km

Point = LatLon

__all__ = [
    "KM_PER_DEG_LAT",
    "Point",
    "distance_to_polygon_km",
    "km_per_deg_lon",
    "point_in_polygon",
    "to_km",
    "to_latlon",
]


def point_in_polygon(lat: float, lon: float, polygon: Sequence[Point]) -> bool:
    """Whether (lat, lon) lies inside ``polygon`` (`devices.geo.inside`)."""
    return inside((lat, lon), polygon)


def distance_to_polygon_km(lat: float, lon: float, polygon: Sequence[Point]) -> float:
    """Distance in km from (lat, lon) to the nearest edge of ``polygon``."""
    return _distance_to_polygon_km((lat, lon), polygon)
