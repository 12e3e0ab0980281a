"""A prepared `Fence` answers exactly as the plain ray cast `inside` does."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

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
