"""The map's states of a vehicle and the order of attention."""

from devices.model import Site, SiteKind
from riskstream.api.map_state import attention, site_state
from tests.fleets import SQUARE

TRUCK = Site(id="v1", kind=SiteKind.VEHICLE, geofence=SQUARE)
INSIDE = (50.1, 8.2)
OUTSIDE = (50.6, 8.2)


def test_state_from_newest_fix_and_speed() -> None:
    assert site_state(TRUCK, [], [], 3.0) == "no_position"
    assert site_state(TRUCK, [OUTSIDE], [0.0], 3.0) == "outside_fence"
    assert site_state(TRUCK, [INSIDE, OUTSIDE], [], 3.0) == "outside_fence"
    assert site_state(TRUCK, [INSIDE], [42.0], 3.0) == "moving"
    assert site_state(TRUCK, [INSIDE], [2.0], 3.0) == "parked"
    yard = Site(id="y1", kind=SiteKind.YARD)
    assert site_state(yard, [OUTSIDE], [0.0], 3.0) == "parked"  # no fence to leave


def test_outside_the_fence_first_then_moving_with_alerts_then_the_rest() -> None:
    ranked = sorted(
        [
            ("parked", 0),
            ("no_position", 0),
            ("moving", 0),
            ("parked", 2),
            ("moving", 1),
            ("outside_fence", 0),
        ],
        key=lambda s: attention(*s),
    )
    assert ranked == [
        ("outside_fence", 0),
        ("moving", 1),
        ("moving", 0),
        ("parked", 2),
        ("parked", 0),
        ("no_position", 0),
    ]
