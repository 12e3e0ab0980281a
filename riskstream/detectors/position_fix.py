"""A GPS fix put together from its ``lat_deg`` and ``lon_deg`` readings of one time.

Trackers report a position as two readings with the same timestamp, in either order;
the detectors that judge positions (geofence, implausible motion) wait for both.
"""

import math
from dataclasses import dataclass

from devices.reading import Reading


@dataclass(slots=True)
class FixInProgress:
    """The halves of the fix of time ``ts`` seen so far."""

    ts: float = math.nan
    lat: float | None = None
    lon: float | None = None

    def take(self, reading: Reading) -> tuple[float, float] | None:
        """Add a ``lat_deg`` or ``lon_deg`` reading; (lat, lon) once both halves of its
        time are in. A reading of a new time drops the halves of the old one."""
        if reading.ts != self.ts:
            self.ts, self.lat, self.lon = reading.ts, None, None
        if reading.metric == "lat_deg":
            self.lat = reading.value
        else:
            self.lon = reading.value
        if self.lat is None or self.lon is None:
            return None
        return self.lat, self.lon

    def forget(self) -> None:
        """Drop the halves, so a repeated reading of the same time completes nothing."""
        self.lat = self.lon = None
