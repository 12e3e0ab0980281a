"""Where each vehicle or yard on the map stands, and which need attention first.

A site's *state*, from its GPS trackers' newest readings:

- ``outside_fence``: a tracker's newest fix lies outside the site's geofence;
- ``moving``: a tracker's newest speed is above the speed the parked-vehicle rule counts
  as moving (``vehicle_moving_when_parked.speed_above_kmh``);
- ``parked``: it reports a position and is neither;
- ``no_position``: no tracker has reported a fix.

The map lists sites by ``attention`` (0 first): outside the fence; moving with open
alerts; moving; parked or silent with open alerts; parked; no position. Within a rank,
more open alerts first, then the site id.
"""

from collections.abc import Sequence
from typing import Literal

from devices.geo import inside
from devices.model import Site

State = Literal["outside_fence", "moving", "parked", "no_position"]


def site_state(
    site: Site,
    last_fixes: Sequence[tuple[float, float]],
    speeds_kmh: Sequence[float],
    moving_above_kmh: float,
) -> State:
    """The state of ``site`` from its trackers' newest (lat, lon) fixes and speeds."""
    if not last_fixes:
        return "no_position"
    if site.geofence and any(not inside(fix, site.geofence) for fix in last_fixes):
        return "outside_fence"
    if any(speed > moving_above_kmh for speed in speeds_kmh):
        return "moving"
    return "parked"


def attention(state: State, open_alerts: int) -> int:
    """Rank of a site on the map: 0 needs attention first (see the module docstring)."""
    if state == "outside_fence":
        return 0
    if state == "moving":
        return 1 if open_alerts else 2
    if open_alerts:
        return 3
    return 4 if state == "parked" else 5
