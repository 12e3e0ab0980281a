"""The engine's clock for timers: event time while data flows, wall time when it stops.

Live devices stamp readings with (roughly) wall time, and a replay at N× speed stamps
them with simulated time, so the stream's newest event time (the watermark) is the
right "now" for deadman timers in both cases. When the whole stream goes quiet the
clock keeps running from the last watermark at wall-clock rate, so silence of every
device is still noticed.
"""

import time
from collections.abc import Callable


class StreamClock:
    """Watermark-following clock; ``now()`` never goes backwards."""

    def __init__(self, wall_clock: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall_clock
        self._watermark: float | None = None
        self._anchor_wall = 0.0
        self._last = float("-inf")

    def advance(self, watermark: float | None) -> None:
        """Tell the clock the newest event time seen so far."""
        if watermark is not None and (self._watermark is None or watermark > self._watermark):
            self._watermark = watermark
            self._anchor_wall = self._wall()

    def now(self) -> float | None:
        """Current clock time, or None before any event has been seen."""
        if self._watermark is None:
            return None
        current = self._watermark + (self._wall() - self._anchor_wall)
        self._last = max(self._last, current)
        return self._last
