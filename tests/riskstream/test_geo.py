"""A prepared `Fence` answers exactly as the plain ray cast `inside` does; distances on
the sphere agree with the projection where it is exact."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.geo import KM_PER_DEG_LAT, distance_km, to_km
from riskstream.detectors.fence import Fence, inside
from simulator.fleetgen import geofence_polygon

coordinates = st.tuples(
    st.floats(min_value=-0.5, max_value=0.5), st.floats(min_value=-0.5, max_value=0.5)
)


@settings(max_examples=300, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    lat0=st.floats(min_value=-70, max_value=70),
    lon0=st.floats(min_value=-179, max_value=179),
    offsets=st.lists(coordinates, min_size=1, max_size=20),
)
def test_a_fence_says_what_ray_casting_says(
    seed: int, lat0: float, lon0: float, offsets: list[tuple[float, float]]
) -> None:
    polygon = geofence_polygon(random.Random(seed), (lat0, lon0), (1.0, 30.0))
    fence = Fence(polygon)
    points = [(lat0 + dy, lon0 + dx) for dy, dx in offsets] + list(polygon)
    for lat, lon in points:
        assert fence.contains(lat, lon) == inside((lat, lon), polygon), (lat, lon)


def test_a_fence_of_any_shape_keeps_the_edges_outside() -> None:
    # concave: an L; its corner notch is outside, though inside the bounding box
    polygon = [(0.0, 0.0), (0.0, 2.0), (1.0, 2.0), (1.0, 1.0), (2.0, 1.0), (2.0, 0.0)]
    fence = Fence(polygon)
    assert fence.contains(0.5, 0.5) and fence.contains(1.5, 0.5) and fence.contains(0.5, 1.5)
    assert not fence.contains(1.5, 1.5)  # the notch
    assert not fence.contains(3.0, 0.5) and not fence.contains(-0.1, 1.0)
    for point in [(0.5, 0.5), (1.5, 1.5), (1.0, 1.5), (2.0, 0.5), (0.0, 0.0)]:
        assert fence.contains(*point) == inside(point, polygon)


@settings(max_examples=200, derandomize=True)
@given(
    lat=st.floats(min_value=-70, max_value=70),
    lon=st.floats(min_value=-180, max_value=180),
    dy=st.floats(min_value=-0.05, max_value=0.05),
    dx=st.floats(min_value=-0.05, max_value=0.05),
)
def test_a_short_distance_is_the_projections(lat: float, lon: float, dy: float, dx: float) -> None:
    x, y = to_km((lat, lon), lat + dy, lon + dx)
    assert distance_km((lat, lon), (lat + dy, lon + dx)) == pytest.approx(
        math.hypot(x, y), rel=2e-3, abs=1e-9
    )


def test_long_distances_on_the_sphere() -> None:
    assert distance_km((10.0, 20.0), (11.0, 20.0)) == pytest.approx(KM_PER_DEG_LAT)
    assert distance_km((0.0, 179.9), (0.0, -179.9)) == pytest.approx(0.2 * KM_PER_DEG_LAT)
    # a quarter of the equator, and the pole from anywhere on it: 90 degrees of latitude
    assert distance_km((0.0, 0.0), (0.0, 90.0)) == pytest.approx(90 * KM_PER_DEG_LAT)
    assert distance_km((0.0, -123.0), (90.0, 0.0)) == pytest.approx(90 * KM_PER_DEG_LAT)
    assert distance_km((0.0, 0.0), (0.0, 180.0)) == pytest.approx(180 * KM_PER_DEG_LAT)
    assert distance_km((50.0, 8.0), (50.0, 8.0)) == 0.0
