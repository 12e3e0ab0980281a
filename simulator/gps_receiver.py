"""What a tracker's GPS receiver reports for where its vehicle really is.

Positions are local kilometres around the fence's centre, as in `simulator.vehicle`.
A working receiver is never exact:
- every fix scatters by a few metres (`SIGMA_KM` per axis), parked or not: rounded to
  about 0.1 m, two fixes in a row seldom come out equal, ten never;
- about every `CANYON_EVERY_S` a signal reflected off buildings (an urban canyon) puts
  one fix, sometimes two, `CANYON_KM` off, then at least one fix is back where the
  vehicle is. Such a jump never takes a fix across the fence: the fence's ground truth
  stays exact, and the geofence detector's ``for`` is what copes with real jumps across
  an edge.

Scenario (`simulator.effects`): ``gps_spoof``, false signals (a spoofer or a relay of
signals received elsewhere) in a `Spoof` window: the fixes jump to a place no vehicle
can reach in one report and come back at the window's end, or alternate between the
real position and that place. The messages themselves are genuine.

The receiver draws from its model's generator, the same numbers whether or not a
spoof acts on it, so a spoof changes the fixes of its window only.
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.geo import Point, point_in_polygon

SIGMA_KM = 0.0025
CANYON_EVERY_S = 8 * 3600.0
CANYON_KM = (0.1, 0.4)
CANYON_TWICE = 0.3  # share of canyon jumps that last two fixes
CANYON_MARGIN = 1.25  # a jump lands at least this share of its length inside the fence


@dataclass(slots=True)
class Spoof:
    """False signals from ``start`` to ``end`` placing the receiver at ``place``.

    Attributes:
        start: first event time spoofed.
        end: event time the genuine signals are back.
        place: where the false signals put the receiver (local km).
        alternate: every other fix is genuine (a receiver flipping between the two
            signals); otherwise every fix of the window is false.
        fixes: fixes reported in the window so far.
    """

    start: float
    end: float
    place: Point
    alternate: bool
    fixes: int = 0

    def takes(self, ts: float) -> bool:
        """Whether the fix at ``ts`` shows the false place."""
        if not self.start <= ts < self.end:
            return False
        self.fixes += 1
        return not self.alternate or self.fixes % 2 == 1


class Receiver:
    """A GPS receiver inside ``fence`` (local km) reporting every ``interval`` seconds,
    drawing from ``rng``.

    Attributes:
        spoofs: windows of false signals.
    """

    __slots__ = ("canyon_at", "fence", "interval", "left", "offset", "rng", "spoofs")

    def __init__(self, rng: random.Random, fence: Sequence[Point], interval: float) -> None:
        """A receiver whose first canyon jump `begin` schedules."""
        self.rng = rng
        self.fence = fence
        self.interval = interval
        self.canyon_at = math.inf
        self.left = 0
        self.offset = (0.0, 0.0)
        self.spoofs: list[Spoof] = []

    def begin(self, start_ts: float) -> None:
        """Schedule the first canyon jump after ``start_ts``."""
        self.canyon_at = start_ts + self.rng.expovariate(1.0 / CANYON_EVERY_S)

    def _canyon(self, ts: float) -> None:
        rng = self.rng
        self.left = 2 if rng.random() < CANYON_TWICE else 1
        # the next jump comes after the fix that ends this one (reports are ±2 % apart)
        after = (self.left + 0.5) * self.interval
        self.canyon_at = ts + after + rng.expovariate(1.0 / CANYON_EVERY_S)
        km, angle = rng.uniform(*CANYON_KM), rng.uniform(0.0, 2.0 * math.pi)
        self.offset = (km * math.cos(angle), km * math.sin(angle))

    def _jump(self, x: float, y: float) -> Point:
        """The canyon offset, turned round or dropped if it would cross the fence."""
        # the fence is in km: ray casting holds in any plane coordinates
        side = point_in_polygon(x, y, self.fence)
        dx, dy = self.offset
        for sign in (1.0, -1.0):
            far = CANYON_MARGIN * sign
            if point_in_polygon(x + far * dx, y + far * dy, self.fence) == side:
                return sign * dx, sign * dy
        return 0.0, 0.0

    def fix(self, ts: float, x: float, y: float) -> Point:
        """The position (local km) reported at ``ts`` for a vehicle at (``x``, ``y``)."""
        if ts >= self.canyon_at:
            self._canyon(ts)
        if self.left:
            self.left -= 1
            dx, dy = self._jump(x, y)
            x, y = x + dx, y + dy
        for spoof in self.spoofs:
            if spoof.takes(ts):
                x, y = spoof.place
        gauss = self.rng.gauss
        return x + gauss(0.0, SIGMA_KM), y + gauss(0.0, SIGMA_KM)
